"""The proposed sky mask of a stack: brightness threshold, morphological clean-up, image circle, hand polygons.

Every step is a small function of (mask, parameter), so tests can check one alone and `make_mask` records what
each did. Masks here are boolean H×W arrays, True = sky.
"""
from __future__ import annotations

import logging
from typing import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)


def smooth(grey: np.ndarray, size: int) -> np.ndarray:
    """Median filter of odd size (an even size is rounded up); 0 or 1 returns the input."""
    if size <= 1:
        return grey
    return cv2.medianBlur(grey, size | 1)


OTSU_CLIP_PERCENTILE = 90.0


def otsu_level(grey: np.ndarray) -> float:
    """Otsu's level on `grey` clipped at its 90th percentile, so that a bright meteor, the moon or a lamp (under
    10 % of the frame) cannot pull the level up into the sky; on the realsky JPEGs this lands in the histogram
    valley between trees and sky."""
    top = np.percentile(grey, OTSU_CLIP_PERCENTILE)
    level, _ = cv2.threshold(np.minimum(grey, top).astype(np.uint8), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return float(level)


def threshold_mask(grey: np.ndarray, threshold: float | str | None) -> tuple[np.ndarray, float | None]:
    """(grey > level, level); "otsu" picks the level with `otsu_level`, None marks every pixel sky."""
    if threshold is None:
        return np.ones(grey.shape, bool), None
    level = otsu_level(grey) if threshold == "otsu" else float(threshold)
    return grey > level, level


def _kernel(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def open_close(mask: np.ndarray, open_size: int, close_size: int) -> np.ndarray:
    """Opening (drops bright specks narrower than `open_size`), then closing (fills dark gaps narrower than
    `close_size`); a size ≤ 1 skips that step. The frame border counts as non-sky for the closing."""
    out = mask.astype(np.uint8)
    if open_size > 1:
        out = cv2.morphologyEx(out, cv2.MORPH_OPEN, _kernel(open_size), borderType=cv2.BORDER_REPLICATE)
    if close_size > 1:
        out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, _kernel(close_size), borderType=cv2.BORDER_REPLICATE)
    return out.astype(bool)


def drop_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """`mask` without its 8-connected pieces smaller than `min_area` pixels."""
    if min_area <= 1:
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def fill_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """`mask` with its enclosed non-sky holes (4-connected, not touching the frame border) smaller than
    `max_area` pixels turned to sky."""
    if max_area <= 0:
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    h, w = mask.shape
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    inner = (x > 0) & (y > 0) & (x + stats[:, cv2.CC_STAT_WIDTH] < w) & (y + stats[:, cv2.CC_STAT_HEIGHT] < h)
    fill = inner & (stats[:, cv2.CC_STAT_AREA] < max_area)
    fill[0] = False
    return mask | fill[labels]


def polygon_mask(shape: tuple[int, int], polygons: Sequence[Sequence[Sequence[float]]]) -> np.ndarray:
    """Boolean H×W mask of the filled polygons (pixel coordinates, rounded to whole pixels, edges included)."""
    out = np.zeros(shape, np.uint8)
    pts = [np.round(np.asarray(p, np.float64)).astype(np.int32).reshape(-1, 1, 2) for p in polygons]
    for poly in pts:  # one at a time: a single fillPoly call fills by the even-odd rule, so overlaps would cancel
        cv2.fillPoly(out, [poly], 1)
        cv2.polylines(out, [poly], True, 1, thickness=1)
    return out.astype(bool)


def apply_polygons(mask: np.ndarray, include: Sequence, exclude: Sequence) -> np.ndarray:
    """Include polygons become sky, then exclude polygons become non-sky (exclusions win where both overlap)."""
    out = mask.copy()
    if include:
        out |= polygon_mask(mask.shape, include)
    if exclude:
        out &= ~polygon_mask(mask.shape, exclude)
    return out
