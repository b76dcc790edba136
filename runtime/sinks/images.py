"""Annotated frames as image files in a folder (one per input frame, atomic writes)."""
from __future__ import annotations

import logging
from pathlib import Path

from skyseg.runtime.sinks.annotate import Annotator
from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.naming import FrameFiles

log = logging.getLogger(__name__)


class ImageFolderSink(Sink):
    """Writes `DIR/<frame name>.jpg` (runtime.sinks.naming) with the sky overlay, boxes and scores drawn."""

    def __init__(self, directory: str | Path, annotator: Annotator | None = None, ext: str = ".jpg") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.annotator = annotator or Annotator()
        self.ext = ext if ext.startswith(".") else f".{ext}"
        self.files = FrameFiles(self.directory, self.ext)
        self._written: list[Path] = []

    def file_for(self, record: FrameRecord) -> Path | None:
        return self.files.file_for(record) if record.rgb8 is not None else None

    def write(self, record: FrameRecord) -> None:
        if record.result is None or record.rgb8 is None:
            return
        image = self.annotator.draw(record.rgb8, record.result, record.fps)
        self._written.append(write_image_atomic(self.files.target(record), image))

    def close(self) -> None:
        self.files.stopped = True
        if self._written:
            log.info("wrote %d annotated image(s) to %s", len(self._written), self.directory)

    def outputs(self) -> list[Path]:
        return list(self._written)
