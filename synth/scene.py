"""`render_scene`: one synthetic night-sky frame with its exact sky mask and polygons.

Order matters for exact ground truth: geometry first (layout), then the sky mask is closed (no holes, no
specks) and *that* mask decides which pixels show sky radiance and which show foreground. Lights, lens
vignetting and sensor noise are applied over the composite; wires (≤ 2 px) are drawn over the sky and stay
labelled sky.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from skyseg.synth.allsky import build_allsky_layout
from skyseg.synth.camera import build_camera_layout
from skyseg.synth.layout import Layout
from skyseg.synth.polygons import close_mask, simplify
from skyseg.synth.sensor import expose, sample_sensor
from skyseg.synth.sky import render_sky, sample_conditions

KINDS = ("allsky", "camera", "mixed")
ALLSKY_SHARE = 0.6  # fraction of all-sky frames in "mixed"


@dataclass
class Scene:
    """A rendered frame: RGB image (uint8 or uint16), mask (uint8 0/255, 255 = sky), polygons in pixels."""

    image: np.ndarray
    mask: np.ndarray
    polygons: list[np.ndarray]
    kind: str
    conditions: dict = field(default_factory=dict)


def _check_args(kind: str, size: tuple[int, int], bit_depth: int) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if len(size) != 2 or min(size) < 32:
        raise ValueError(f"size must be (width, height) with both >= 32, got {size}")


def _composite(rng: np.random.Generator, lay: Layout, sky_mask: np.ndarray, c: dict) -> np.ndarray:
    """Sky radiance where the mask says sky, foreground elsewhere; then lights, wires and vignetting."""
    w, h = lay.size_wh
    sky = render_sky(rng, lay, c)
    # Foreground is lit by the sky near the horizon (light pollution, moon, twilight): scale by that level.
    ambient = cv2.resize(sky, (max(1, w // 32), max(1, h // 32)), interpolation=cv2.INTER_AREA)
    level = np.median(ambient.reshape(-1, 3), axis=0).astype(np.float32)
    fg = lay.fg[..., None] * level[None, None, :]
    fg[lay.outside] = 0.003 * level
    rad = np.where(sky_mask[..., None] > 0, sky, fg)
    for wire in lay.wires:
        shade = np.ones((h, w), np.float32)
        cv2.polylines(shade, [wire.points.reshape(-1, 1, 2)], False, 1.0 - wire.darkness, wire.thickness, cv2.LINE_AA)
        rad *= shade[..., None]
    if lay.lights:
        glow = np.zeros((h, w, 3), np.float32)
        for li in lay.lights:
            x, y = int(round(li.x)), int(round(li.y))
            if 0 <= x < w and 0 <= y < h:
                glow[y, x] += np.array(li.color, np.float32) * li.strength * li.radius**2 * 6.0
        rad += cv2.GaussianBlur(glow, (0, 0), float(np.mean([li.radius for li in lay.lights])))
    vignette = cv2.resize(lay.vignette_lo, (w, h), interpolation=cv2.INTER_LINEAR)
    return rad * vignette[..., None]


def render_scene(seed: int, kind: str = "mixed", size: tuple[int, int] = (640, 640), bit_depth: int = 8) -> Scene:
    """Render one frame deterministically from `seed` (same seed and arguments → identical bytes)."""
    size = (int(size[0]), int(size[1]))
    _check_args(kind, size, bit_depth)
    rng = np.random.default_rng(seed)
    if kind == "mixed":
        kind = "allsky" if rng.random() < ALLSKY_SHARE else "camera"
    lay = build_allsky_layout(rng, size) if kind == "allsky" else build_camera_layout(rng, size)
    mask, contours = close_mask(~(lay.obstacle | lay.outside))
    conditions = sample_conditions(rng)
    sensor = sample_sensor(rng, kind)
    radiance = _composite(rng, lay, mask, conditions)
    image = expose(rng, radiance, sensor, bit_depth)
    polygons = [simplify(cnt).astype(np.float32) for cnt in contours]
    conditions.update(sensor)
    conditions.update({
        "kind": kind, "seed": int(seed), "bit_depth": bit_depth,
        "sky_fraction": float(np.count_nonzero(mask)) / mask.size,
        "instances": len(polygons), "wires": len(lay.wires), "lights": len(lay.lights),
        "layout": {k: v for k, v in lay.notes.items()},
    })
    return Scene(image=image, mask=mask, polygons=polygons, kind=kind, conditions=conditions)
