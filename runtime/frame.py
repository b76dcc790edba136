"""What a source yields: one `Frame` per image, or a `FrameError` record when one input could not be read.

A corrupt file or a truncated video must not end a night's run, so readers turn such failures into
`FrameError` records that the run loop logs and writes to the results table, then carries on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
