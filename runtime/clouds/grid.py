"""The 33-region ring grid of all-sky cloud labels: a central disc and 4 rings x 8 sectors inside the image circle.

Region 0 is the disc (r < R/5); region 1 + 8*ring + sector for ring 0..3 (R/5-2R/5, ..., 4R/5-R) and sector 0..7,
sector 0 starting at image-up and counting clockwise in 45-degree steps (image-up is not north: the grid is
defined on the image, so labels need no camera orientation). Pixels outside the circle are -1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import numpy as np

N_REGIONS = 33
RINGS = 4
SECTORS = 8
LABELS = ("clear", "cloud", "none")


@dataclass(frozen=True)
class GridCircle:
    cx: float
    cy: float
    r: float

    def to_json(self) -> Dict[str, float]:
        return {"cx": round(self.cx, 1), "cy": round(self.cy, 1), "r": round(self.r, 1)}

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "GridCircle":
        return cls(float(d["cx"]), float(d["cy"]), float(d["r"]))


def region_map(shape: Sequence[int], circle: GridCircle) -> np.ndarray:
    """int16 H x W map of region numbers 0..32, -1 outside the circle."""
    h, w = int(shape[0]), int(shape[1])
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    dx, dy = xx - np.float32(circle.cx), yy - np.float32(circle.cy)
    rel = np.hypot(dx, dy) / np.float32(circle.r)
    ring = np.floor(rel * (RINGS + 1)).astype(np.int16)  # 0 = disc, 1..4 = rings, 5+ = outside
    angle = np.degrees(np.arctan2(dx, -dy)) % 360.0  # 0 = up, clockwise
    sector = np.minimum((angle // (360.0 / SECTORS)).astype(np.int16), SECTORS - 1)
    out = np.where(ring == 0, 0, 1 + (ring - 1) * SECTORS + sector).astype(np.int16)
    out[ring > RINGS] = -1
    return out


def region_shares(values: np.ndarray, weights: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per region: sum(values & weights) / sum(weights) (NaN where a region has no weight)."""
    inside = regions >= 0
    idx = regions[inside].astype(np.int64)
    wsum = np.bincount(idx, weights=weights[inside].astype(np.float64), minlength=N_REGIONS)
    vsum = np.bincount(idx, weights=(values & weights)[inside].astype(np.float64), minlength=N_REGIONS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, vsum / np.maximum(wsum, 1), np.nan)


def region_areas(mask: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Pixels of `mask` per region (float64, length 33)."""
    inside = regions >= 0
    return np.bincount(regions[inside].astype(np.int64), weights=mask[inside].astype(np.float64),
                       minlength=N_REGIONS)


def check_labels(values: List[str], where: str) -> None:
    """A label list must hold 33 values from LABELS."""
    if len(values) != N_REGIONS or any(v not in LABELS for v in values):
        bad = sorted({v for v in values if v not in LABELS})
        raise ValueError(f"{where}: expected {N_REGIONS} region labels from {LABELS}, got {len(values)}"
                         + (f" with unknown values {bad}" if bad else ""))
