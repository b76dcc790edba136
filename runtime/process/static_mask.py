"""Per-night static horizon mask: the pixels that are sky in at least a given share of the night's frames.

Trees, roofs and the horizon do not move; clouds and passing lights do. Counting how often each pixel is sky
over a night and keeping the stable ones gives the fixed mask allsky/indi-allsky expect (8-bit PNG, 255 = sky,
at the frame size), written once at close.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.sinks.base import FrameRecord, Sink

log = logging.getLogger(__name__)


class StaticMaskSink(Sink):
    """Accumulates sky votes per pixel; at close writes `path` where votes ≥ `min_share` of counted frames."""

    def __init__(self, path: str | Path, min_share: float = 0.9, min_frames: int = 1) -> None:
        if not 0.0 < min_share <= 1.0:
            raise ValueError(f"min_share must be in (0, 1], got {min_share}")
        self.path = Path(path)
        self.min_share = min_share
        self.min_frames = max(1, int(min_frames))
        self._votes: np.ndarray | None = None
        self.frames = 0
        self.skipped = 0
        self._done: Path | None = None

    def write(self, record: FrameRecord) -> None:
        if record.result is None:
            return
        mask = record.result.sky_mask
        if self._votes is None:
            self._votes = np.zeros(mask.shape, dtype=np.uint32)
        elif mask.shape != self._votes.shape:
            self.skipped += 1
            log.warning("static mask: frame %d is %s, the night's frames are %s; not counted",
                        record.index, mask.shape, self._votes.shape)
            return
        self._votes += mask
        self.frames += 1

    def mask(self) -> np.ndarray | None:
        """The current static mask (bool), or None before any frame."""
        if self._votes is None or self.frames == 0:
            return None
        return self._votes >= np.ceil(self.min_share * self.frames - 1e-9)

    def close(self) -> None:
        if self._done is not None:
            return
        mask = self.mask()
        if mask is None or self.frames < self.min_frames:
            log.warning("static mask %s not written: %d frame(s) counted, %d needed", self.path, self.frames,
                        self.min_frames)
            return
        self._done = write_image_atomic(self.path, np.where(mask, np.uint8(255), np.uint8(0)), rgb=False)
        log.info("wrote static sky mask %s (sky in ≥ %.0f%% of %d frames: %.1f%% of pixels)", self.path,
                 100 * self.min_share, self.frames, 100 * mask.mean())

    def outputs(self) -> list[Path]:
        return [self._done] if self._done else []
