"""What a source yields: one `Frame` per image, or a `FrameError` record when one input could not be read; and
what the segmenter makes of it: one `FrameRecord`.

A corrupt file or a truncated video must not end a night's run, so readers turn such failures into
`FrameError` records that the run loop logs and writes to the results table, then carries on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the result type imports OpenCV and the mask decoder; a frame needs neither at run time
    from skyseg.runtime.result import SegResult


@dataclass
class Frame:
    """One frame as read: RGB (H×W×3) or gray (H×W) pixels, uint8, uint16 or float32 (FITS, NaN kept).

    `timestamp` is seconds since the epoch: the capture time when the source knows it (an image file's
    modification time, a FITS DATE-OBS), else the time the frame was read. `meta` holds source facts that
    matter downstream (FITS EXPTIME/DATE-OBS..., a video buffer's `pts` in seconds, synthetic ground truth).
    """

    pixels: np.ndarray
    index: int
    source_id: str
    timestamp: float
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size_wh(self) -> tuple[int, int]:
        """(width, height) of the frame."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


@dataclass
class FrameError:
    """An input that could not become a Frame (corrupt image, truncated video, read timeout)."""

    index: int
    source_id: str
    path: str | None
    message: str
    timestamp: float


@dataclass
class FrameRecord:
    """One processed input, complete: the frame, its result (boxes, masks, timings, the frame's identity) and the
    frame as displayed (8-bit RGB, stretched when deep), or the error record that replaced them. The segmenter
    returns it; the pipeline adds the run's live throughput; sinks read it and nothing else."""

    frame: Frame | None = None
    result: SegResult | None = None
    error: FrameError | None = None
    rgb8: np.ndarray | None = None  # the frame as displayed (8-bit RGB, stretched when deep)
    fps: float | None = None  # the run's live throughput, for overlays
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def index(self) -> int:
        if self.frame is not None:
            return self.frame.index
        return self.error.index if self.error is not None else -1

    @property
    def path(self) -> str | None:
        if self.frame is not None:
            return self.frame.path
        return self.error.path if self.error is not None else None

    def stem(self) -> str:
        """A file-name stem for per-frame outputs: the input file's stem, else `frame_000123`."""
        return frame_stem(self.path, self.index)


def frame_stem(path: str | None, index: int = 0) -> str:
    """The file-name stem of a frame's outputs: the input file's name without its image suffixes (`a.fits.gz` →
    `a`), else `frame_000123` from the frame index (streams)."""
    if path:
        name = Path(path).name
        for suffix in (".gz", ".fits", ".fit", ".fts"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
        return Path(name).stem if "." in name else name
    return f"frame_{index:06d}"
