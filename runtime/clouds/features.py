"""Per-cell measurements of a night frame inside its sky mask: star density and background level.

The frame is brought to a working size (longest side WORK_SIDE, area-averaged so point sources keep their flux),
stars are the local maxima of a difference of blurs above PEAK_SIGMAS x the frame's robust noise, and each
measurement is averaged over a window about a fifth of the sky's radius wide around each cell of a coarse grid.
8-bit display pixels through OpenCV: a few milliseconds a frame on one core.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

WORK_SIDE = 700  # the longest working side is at most this (px): a frame is shrunk by a whole factor
CELL = 8  # working px per grid cell
PEAK_SIGMAS = 4.0  # a star stands this many noise sigmas above its surroundings
DENSITY_EPS = 0.05  # stars per 1000 px added before the log (a starless cell stays finite)
WINDOW_FRAC = 0.2  # window side as a share of the sky's diameter-equivalent radius x 2


@dataclass
class CellFeatures:
    """Measurements on a grid of cells (rows x cols), each averaged over the window around the cell."""

    density: np.ndarray  # stars per 1000 sky px at the working size
    level: np.ndarray  # mean background brightness, 0-1
    sky_share: np.ndarray  # share of the window that is sky
    sky_cells: np.ndarray  # bool: the cell itself holds sky
    noise: float  # robust sigma of the fine detail (display levels)
    frame_floor: float  # the frame's darkest sky: 5th percentile of `level` over sky cells
    frame_median: float  # the frame's typical sky: median of `level` over sky cells
    work_hw: Tuple[int, int]  # working frame size (h, w)
    factor: int  # full-frame px per working px


def to_grey(img8: np.ndarray) -> np.ndarray:
    if img8.ndim == 3:
        return cv2.cvtColor(img8, cv2.COLOR_RGB2GRAY)
    return img8


def work_geometry(hw: Tuple[int, int]) -> Tuple[int, Tuple[int, int]]:
    """(k, (h, w)): the frame is shrunk by the whole factor k (so INTER_AREA takes its fast path, and a star keeps
    its flux) to a working size whose sides are multiples of CELL; the few rows and columns past k x the working
    size are left out of the measurement and take their neighbours' values in the map."""
    h, w = hw
    k = max(1, -(-max(h, w) // WORK_SIDE))
    return k, (h // (k * CELL) * CELL, w // (k * CELL) * CELL)


def measure(img8: np.ndarray, sky: np.ndarray) -> Optional[CellFeatures]:
    """Cell measurements of a display frame (uint8 grey or RGB) inside `sky` (bool, same H x W); None without sky."""
    if img8.shape[:2] != sky.shape:
        raise ValueError(f"sky mask is {sky.shape[1]}x{sky.shape[0]} but the frame is {img8.shape[1]}x{img8.shape[0]}")
    k, wh = work_geometry(sky.shape)
    if min(wh) == 0:  # a frame thinner than one cell
        return None
    grey = to_grey(img8)
    crop = (slice(0, wh[0] * k), slice(0, wh[1] * k))
    g = grey[crop] if k == 1 else cv2.resize(grey[crop], (wh[1], wh[0]), interpolation=cv2.INTER_AREA)
    s = sky.view(np.uint8)[crop]
    s = s if k == 1 else cv2.resize(s, (wh[1], wh[0]), interpolation=cv2.INTER_NEAREST)
    s = cv2.erode(s, np.ones((5, 5), np.uint8))  # no star at the sky's edge (trees, rim lights)
    if cv2.countNonZero(s) < 64:
        return None
    x = g.astype(np.float32)
    back = cv2.blur(x, (9, 9))
    detail = cv2.GaussianBlur(x, (5, 5), 0.8)
    cv2.subtract(detail, back, dst=detail)
    sample = detail[::3, ::3][s[::3, ::3] > 0]
    noise = float(1.4826 * np.median(np.abs(sample))) + 0.3
    # the display curve lifts dark levels, so the grain differs across the frame: stars are judged against the
    # mean |detail| of their 3 x 3 cells (x 1.25 = sigma for Gaussian grain), never below the frame's robust sigma
    rows, cols = wh[0] // CELL, wh[1] // CELL
    grain = cv2.resize(np.abs(detail), (cols, rows), interpolation=cv2.INTER_AREA)
    grain = cv2.blur(grain, (3, 3)) * np.float32(1.25 * PEAK_SIGMAS)
    grain = np.maximum(grain, np.float32(PEAK_SIGMAS * noise))
    local = cv2.resize(grain, (wh[1], wh[0]), interpolation=cv2.INTER_NEAREST)
    peaks = cv2.compare(detail, cv2.dilate(detail, np.ones((3, 3), np.uint8)), cv2.CMP_GE)
    cv2.bitwise_and(peaks, cv2.compare(detail, local, cv2.CMP_GT), dst=peaks)
    cv2.bitwise_and(peaks, s, dst=peaks)  # s is 0/1 here, so peaks is 0/1 too
    area = float(CELL * CELL)
    s_f = s.astype(np.float32)
    sky_c = cv2.resize(s_f, (cols, rows), interpolation=cv2.INTER_AREA) * area
    peak_c = cv2.resize(peaks.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA) * area
    lvl_c = cv2.resize(cv2.multiply(back, s_f), (cols, rows), interpolation=cv2.INTER_AREA) * area
    radius_cells = np.sqrt(sky_c.sum() / np.pi / area)
    win = max(3, int(round(2 * WINDOW_FRAC * radius_cells)) | 1)
    sky_w = cv2.boxFilter(sky_c, -1, (win, win), normalize=False, borderType=cv2.BORDER_CONSTANT)
    peak_w = cv2.boxFilter(peak_c, -1, (win, win), normalize=False, borderType=cv2.BORDER_CONSTANT)
    lvl_w = cv2.boxFilter(lvl_c, -1, (win, win), normalize=False, borderType=cv2.BORDER_CONSTANT)
    denom = np.maximum(sky_w, 1.0)
    level = lvl_w / denom / 255.0
    inside = sky_c > 0
    floor, median = np.percentile(level[inside], [5, 50])
    return CellFeatures(peak_w / denom * 1000.0, level, sky_w / (win * win * area), inside, noise, float(floor),
                        float(median), wh, k)
