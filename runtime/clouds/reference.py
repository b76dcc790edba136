"""A fixed camera's clear-sky star field, learned over a night: the per-cell star density its clear frames show.

Like the horizon prior learns a camera's obstructions, `NightReference` keeps the star-density grids of the night's
last frames and takes a high percentile per cell, so a cell that was clear in a fair share of them holds its clear
density even when most frames were cloudy there. It is only a reference once MIN_FRAMES frames of one size were seen.
"""
from __future__ import annotations

from collections import deque
from typing import Deque, Optional

import numpy as np

from skyseg.runtime.clouds.features import CellFeatures

MIN_FRAMES = 8
KEEP_FRAMES = 64
PERCENTILE = 80.0


class NightReference:
    def __init__(self, min_frames: int = MIN_FRAMES, keep: int = KEEP_FRAMES, percentile: float = PERCENTILE) -> None:
        if not 1 <= min_frames <= keep:
            raise ValueError(f"need 1 <= min_frames <= keep, got min_frames={min_frames} keep={keep}")
        self.min_frames = min_frames
        self.percentile = percentile
        self._grids: Deque[np.ndarray] = deque(maxlen=keep)
        self._cache: Optional[np.ndarray] = None

    def update(self, feats: Optional[CellFeatures]) -> None:
        """Learn from one frame's measurements; a frame of another size starts the reference over."""
        if feats is None:
            return
        grid = np.where(feats.sky_cells, feats.density, np.nan).astype(np.float32)
        if self._grids and self._grids[0].shape != grid.shape:
            self._grids.clear()
        self._grids.append(grid)
        self._cache = None

    @property
    def frames(self) -> int:
        return len(self._grids)

    def clear_density(self) -> Optional[np.ndarray]:
        """Per-cell clear-night star density (0 where never sky), or None before MIN_FRAMES frames."""
        if len(self._grids) < self.min_frames:
            return None
        if self._cache is None:
            stack = np.stack(list(self._grids))
            seen = np.isfinite(stack).any(axis=0)
            filled = np.where(np.isfinite(stack), stack, -1.0)
            ref = np.percentile(filled, self.percentile, axis=0)
            self._cache = np.where(seen, np.maximum(ref, 0.0), 0.0).astype(np.float32)
        return self._cache
