"""Per-night static horizon mask: the pixels that are sky in at least a given share of the night's frames.

Trees, roofs and the horizon do not move; clouds and passing lights do. Counting how often each pixel is sky
over a night and keeping the stable ones gives the fixed mask allsky/indi-allsky expect (8-bit PNG, 255 = sky,
at the frame size), written once at close.

The mask is versioned, never replaced by a weaker one: `NAME.json` beside it records how many frames it was learned
from. A run that learned fewer (a restart a minute before dawn) keeps it and writes its own as `NAME-<run id>.png`;
one that learned as many or more replaces it. A mask without that record (an older version's) is kept likewise.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from skyseg.runtime.atomic_file import write_bytes_atomic, write_image_atomic
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.naming import new_run_id

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
        self.run_id = new_run_id()

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
        target = self.path if self.frames >= self.learned_before() else self.versioned
        if target != self.path:
            log.info("static mask %s was learned from %s frame(s), this run from %d: kept, this run's is %s",
                     self.path, self.learned_before() if self.learned_before() < 1 << 62 else "an unknown number of",
                     self.frames, target.name)
        self._done = write_image_atomic(target, np.where(mask, np.uint8(255), np.uint8(0)), rgb=False)
        if target == self.path:
            record = {"frames": self.frames, "min_share": self.min_share, "run": self.run_id}
            write_bytes_atomic(self.record_path, (json.dumps(record) + "\n").encode())
        log.info("wrote static sky mask %s (sky in ≥ %.0f%% of %d frames: %.1f%% of pixels)", target,
                 100 * self.min_share, self.frames, 100 * mask.mean())

    @property
    def record_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def versioned(self) -> Path:
        return self.path.with_name(f"{self.path.stem}-{self.run_id}{self.path.suffix}")

    def learned_before(self) -> int:
        """Frames the mask already at `path` was learned from: 0 when there is none, unknown (huge) when it has no
        record."""
        if not self.path.is_file():
            return 0
        try:
            return int(json.loads(self.record_path.read_text())["frames"])
        except (OSError, ValueError, KeyError, TypeError):
            return 1 << 62

    def outputs(self) -> list[Path]:
        return [self._done] if self._done else []
