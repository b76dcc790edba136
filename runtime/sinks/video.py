"""Annotated video and display sinks: adapters from FrameRecords to the GStreamer writers
(sinks/gst_video.py).

The GStreamer objects are created at the first frame (their caps need the frame size) and imported lazily,
so a run that writes no video never loads GStreamer.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.sinks.annotate import Annotator
from skyseg.runtime.sinks.base import FrameRecord, Sink

log = logging.getLogger(__name__)


class AnnotatedVideoSink(Sink):
    """Encodes annotated frames into `path` (container from the suffix, encoder from what is installed)."""

    def __init__(self, path: str | Path, fps: float | None, annotator: Annotator | None = None,
                 encoder: str | None = None) -> None:
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 10.0
        self.annotator = annotator or Annotator()
        self.encoder = encoder
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self._done: Path | None = None
        self.skipped = 0

    def write(self, record: FrameRecord) -> None:
        if record.result is None or record.rgb8 is None:
            return
        image = self.annotator.draw(record.rgb8, record.result, record.fps)
        size = (image.shape[1], image.shape[0])
        if self._writer is None:
            from skyseg.runtime.sinks.gst_video import VideoFileSink

            self._writer = VideoFileSink(self.path, self.fps, size, encoder=self.encoder)
            self._writer.__enter__()
            self._size = size
        elif size != self._size:  # a video has one frame size; fit odd frames in rather than drop them
            import cv2

            image = np.ascontiguousarray(cv2.resize(image, self._size, interpolation=cv2.INTER_AREA))
        self._writer.write(image)

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            self._done = writer.close()

    def outputs(self) -> list[Path]:
        return [self._done] if self._done else []


class DisplayOutSink(Sink):
    """Shows annotated frames in a window (`display://0`)."""

    def __init__(self, uri: str = "display://0", fps: float | None = None, annotator: Annotator | None = None) -> None:
        from skyseg.runtime.sinks.gst_video import DisplaySink

        self.annotator = annotator or Annotator()
        self._display = DisplaySink(uri, fps or 30.0)
        self._display.__enter__()

    def write(self, record: FrameRecord) -> None:
        if record.rgb8 is None:
            return
        self._display.write(self.annotator.draw(record.rgb8, record.result, record.fps))

    def close(self) -> None:
        if self._display is not None:
            display, self._display = self._display, None
            display.close()
