"""The fisheye image circle: a robust least-squares circle through the edge of the lit area.

The lit area is the largest connected region brighter than a threshold in the (blurred) stack. Its outline is
fitted with the algebraic (Kåsa) circle fit; outline points on the frame border (a circle cropped by the sensor)
are left out, and points far from the fit (a mast or dome cutting into the circle) are dropped and the fit
repeated, so the circle follows the unobstructed part of the rim.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Circle:
    cx: float
    cy: float
    r: float
    points: int  # outline points the final fit used

    def disk(self, shape: tuple[int, int], margin: float = 0.0) -> np.ndarray:
        """Boolean H×W mask of pixel centres within r - margin of the centre."""
        h, w = shape
        yy, xx = np.ogrid[:h, :w]
        radius = self.r - margin
        return (xx - self.cx) ** 2 + (yy - self.cy) ** 2 <= radius * radius


def fit_circle_points(xy: np.ndarray) -> tuple[float, float, float]:
    """Kåsa fit: the circle minimising Σ(x² + y² + Dx + Ey + F)² over the points (N×2, N ≥ 3)."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    a = np.column_stack([x, y, np.ones_like(x)])
    b = -(x * x + y * y)
    (d, e, f), *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = -d / 2.0, -e / 2.0
    return float(cx), float(cy), float(np.sqrt(max(cx * cx + cy * cy - f, 0.0)))


def lit_region(grey: np.ndarray, threshold: float) -> np.ndarray:
    """The largest 8-connected region of `grey` above `threshold` (boolean), holes filled."""
    lit = (grey > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lit, connectivity=8)
    if count < 2:
        raise InputError(f"no pixel of the stack is brighter than the circle threshold {threshold:g}: lower "
                         "circle.threshold or check the frames")
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == biggest).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(region)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def fit_image_circle(grey: np.ndarray, threshold: float, rounds: int = 5, keep_within: float = 3.0) -> Circle:
    """Fit the image circle to the outline of the lit region of `grey` (see the module docstring).

    After each round, outline points more than `keep_within` px (or 3 robust sigmas, whichever is larger)
    outside or inside the circle are dropped.
    """
    region = lit_region(grey, threshold).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    xy = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64)
    h, w = grey.shape
    inner = (xy[:, 0] > 0) & (xy[:, 0] < w - 1) & (xy[:, 1] > 0) & (xy[:, 1] < h - 1)
    xy = xy[inner]
    if len(xy) < 10:
        raise InputError(f"the lit region's outline has {len(xy)} points off the frame border; no image circle "
                         "to fit (set circle to null for a camera whose circle lies outside the frame)")
    cx, cy, r = fit_circle_points(xy)
    for _ in range(rounds):
        residual = np.hypot(xy[:, 0] - cx, xy[:, 1] - cy) - r
        spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        keep = np.abs(residual) <= max(keep_within, 3.0 * spread)
        if keep.all() or keep.sum() < 10:
            break
        xy = xy[keep]
        cx, cy, r = fit_circle_points(xy)
    r += 0.5  # outline pixel centres lie half a pixel inside the region's edge on average
    log.info("image circle: centre (%.1f, %.1f), radius %.1f px from %d outline points", cx, cy, r, len(xy))
    return Circle(cx, cy, r, int(len(xy)))
