"""Sky masks as full-size 8-bit PNGs, 255 = sky, 0 = not sky: the mask convention allsky and indi-allsky read."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.naming import FrameFiles

log = logging.getLogger(__name__)


class MaskSink(Sink):
    """Writes `DIR/<frame name>_mask.png` per frame, atomically; the frame name is the input's path relative to the
    source folder, or run id + index for streams (runtime.sinks.naming).

    When a per-installation prior changed a frame's mask, the model's own mask is kept too, in the sibling folder
    `DIR_raw/` under the same name (DIR itself holds one mask per frame, what the table's row describes).
    """

    def __init__(self, directory: str | Path, suffix: str = "_mask.png") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.suffix = suffix
        self.files = FrameFiles(self.directory, suffix)
        self.raw_files = FrameFiles(self.directory.with_name(self.directory.name + "_raw"), suffix)
        self._written: list[Path] = []

    def file_for(self, record: FrameRecord) -> Path | None:
        return self.files.file_for(record)

    def raw_file_for(self, record: FrameRecord) -> Path | None:
        """The model's own mask, written beside when the prior changed the frame's mask."""
        if record.result is None or record.result.raw_sky is None or record.result.mask_source != "prior":
            return None
        return self.raw_files.file_for(record)

    def write(self, record: FrameRecord) -> None:
        if record.result is None:
            return
        target = self.files.target(record)
        result = record.result
        if result.raw_sky is not None and result.mask_source == "prior":
            raw = np.where(result.raw_sky, np.uint8(255), np.uint8(0))
            raw_target = self.raw_files.directory / target.relative_to(self.directory)
            raw_target.parent.mkdir(parents=True, exist_ok=True)
            self._written.append(write_image_atomic(raw_target, raw, rgb=False))
        mask = np.where(result.sky_mask, np.uint8(255), np.uint8(0))
        self._written.append(write_image_atomic(target, mask, rgb=False))

    def close(self) -> None:
        self.files.stopped = self.raw_files.stopped = True
        if self._written:
            log.info("wrote %d sky mask(s) to %s", len(self._written), self.directory)

    def outputs(self) -> list[Path]:
        return list(self._written)
