"""Sky masks as full-size 8-bit PNGs, 255 = sky, 0 = not sky: the mask convention allsky and indi-allsky read."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.sinks.base import FrameRecord, Sink

log = logging.getLogger(__name__)


class MaskSink(Sink):
    """Writes `DIR/<input stem>_mask.png` (or `frame_000123_mask.png` for streams) per frame, atomically.

    When a per-installation prior changed a frame's mask, the model's own mask is kept too, in the sibling folder
    `DIR_raw/` under the same name (DIR itself holds one mask per frame, what the table's row describes).
    """

    def __init__(self, directory: str | Path, suffix: str = "_mask.png") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.suffix = suffix
        self._written: list[Path] = []
        self._names: set[str] = set()

    def write(self, record: FrameRecord) -> None:
        if record.result is None:
            return
        name = f"{record.stem()}{self.suffix}"
        if name in self._names:  # two inputs with one stem (a.png, a.fits): keep both
            name = f"{record.stem()}_{record.index:06d}{self.suffix}"
        self._names.add(name)
        result = record.result
        if result.raw_sky is not None and result.mask_source == "prior":
            raw = np.where(result.raw_sky, np.uint8(255), np.uint8(0))
            raw_dir = self.directory.with_name(self.directory.name + "_raw")
            raw_dir.mkdir(exist_ok=True)
            self._written.append(write_image_atomic(raw_dir / name, raw, rgb=False))
        mask = np.where(result.sky_mask, np.uint8(255), np.uint8(0))
        self._written.append(write_image_atomic(self.directory / name, mask, rgb=False))

    def close(self) -> None:
        if self._written:
            log.info("wrote %d sky mask(s) to %s", len(self._written), self.directory)

    def outputs(self) -> list[Path]:
        return list(self._written)
