"""The geometry of one synthetic frame: where the sky is, what blocks it, and how pixels map to directions.

A layout is produced by `allsky.build_allsky_layout` or `camera.build_camera_layout` and consumed by the
renderer. Obstacles are built attached to the border of the sky region, so the sky never has holes that a
YOLO-seg polygon could not express; the renderer still fills any enclosed pocket to be safe (see scene.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import numpy as np

#: project(altitude_rad, azimuth_rad) -> (x, y) in full-resolution pixels, or None when out of view.
Projector = Callable[[float, float], Optional[Tuple[float, float]]]


@dataclass
class Wire:
    """A thin line drawn over the sky (power line, guy wire). ≤ 2 px wide, so it is labelled sky."""

    points: np.ndarray  # int32 [N, 2] polyline in pixels
    thickness: int
    darkness: float  # 0..1, fraction of the local radiance removed


@dataclass
class Light:
    """An artificial light (street lamp, window cluster, red beacon): a glow added over everything."""

    x: float
    y: float
    strength: float  # peak radiance in sky units
    radius: float  # glow scale in pixels
    color: tuple[float, float, float]


@dataclass
class Layout:
    """Per-frame geometry; full-resolution arrays are (H, W), low-resolution ones (h, w) = (H, W) // LOW."""

    kind: str
    size_wh: tuple[int, int]
    obstacle: np.ndarray  # bool (H, W): foreground objects and ground
    outside: np.ndarray  # bool (H, W): outside the optical field (dark frame around a fisheye circle)
    fg: np.ndarray  # float32 (H, W): foreground brightness relative to the horizon sky level
    alt_lo: np.ndarray  # float32 (h, w): altitude in radians (clamped to >= 0 below the horizon)
    az_lo: np.ndarray  # float32 (h, w): azimuth in radians
    vignette_lo: np.ndarray  # float32 (h, w): multiplicative lens falloff
    deg_per_px: float  # angular scale near the image centre
    project: Projector
    wires: list[Wire] = field(default_factory=list)
    lights: list[Light] = field(default_factory=list)
    notes: dict = field(default_factory=dict)  # what the layout drew, for Scene.conditions
    fg_tint: Optional[np.ndarray] = None  # float32 (H, W, 3): colour of lamp-lit foreground (colour sensors only)

LOW = 4  # low-resolution factor for smooth fields


def low_shape(size_wh: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the low-resolution grid for a frame of size (W, H)."""
    w, h = size_wh
    return max(8, -(-h // LOW)), max(8, -(-w // LOW))
