"""Cloud cover as one more stage of the per-frame record: `CloudStage` measures it, the sinks after it see it.

`CloudStage` goes first among a run's sinks: for every frame with a result it runs the cloud step
(`runtime.clouds.detect`) on the displayed frame inside the sky mask and puts the CloudResult in
`record.extra["clouds"]` (its time in the result's timings as `clouds`), so the table, MQTT and the dashboard read
it from the record without a second loop. For a fixed camera it learns the night's clear-sky reference as it goes.
`CloudMapSink` writes the map as `DIR/<input stem>_clouds.png` (255 = cloud, always inside the sky mask).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.clouds.detect import detect_clouds
from skyseg.runtime.clouds.reference import NightReference
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.naming import FrameFiles

log = logging.getLogger(__name__)

EXTRA_KEY = "clouds"
COLUMNS = ("cloud_fraction", "clear_fraction")


def cloud_values(record: FrameRecord) -> dict:
    """{'cloud_fraction': x, 'clear_fraction': y} of a record the stage measured (None for a frame without sky),
    {} when the stage did not run."""
    res = record.extra.get(EXTRA_KEY)
    if res is None:
        return {}
    if res.cloud_fraction != res.cloud_fraction:  # NaN: no sky in the frame
        return dict.fromkeys(COLUMNS)
    return {"cloud_fraction": round(res.cloud_fraction, 6), "clear_fraction": round(res.clear_fraction, 6)}


class CloudStage(Sink):
    """Measures cloud cover into each record (see the module docstring); `learn` keeps a night reference."""

    def __init__(self, learn: bool = True) -> None:
        self.reference = NightReference() if learn else None

    def write(self, record: FrameRecord) -> None:
        if record.result is None or record.rgb8 is None:
            return
        started = time.perf_counter()
        clear = self.reference.clear_density() if self.reference is not None else None
        try:
            res = detect_clouds(record.rgb8, record.result.sky_mask, reference=clear)
        except ValueError as err:  # a new frame size: the reference belongs to the old one
            log.info("cloud reference restarts: %s", err)
            res = detect_clouds(record.rgb8, record.result.sky_mask)
        if self.reference is not None:
            self.reference.update(res.features)
        res.features = None  # the record keeps the map, not the measurements
        record.extra[EXTRA_KEY] = res
        record.result.timings["clouds"] = (time.perf_counter() - started) * 1e3

    def close(self) -> None:
        pass


class CloudMapSink(Sink):
    """Writes `DIR/<frame name>_clouds.png` (runtime.sinks.naming) per measured frame."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.files = FrameFiles(self.directory, "_clouds.png")
        self._written: list[Path] = []

    def file_for(self, record: FrameRecord) -> Path | None:
        return self.files.file_for(record) if record.extra.get(EXTRA_KEY) is not None else None

    def write(self, record: FrameRecord) -> None:
        res = record.extra.get(EXTRA_KEY)
        if record.result is None or res is None:
            return
        cloud = np.where(res.cloud, np.uint8(255), np.uint8(0))
        self._written.append(write_image_atomic(self.files.target(record), cloud, rgb=False))

    def close(self) -> None:
        self.files.stopped = True
        if self._written:
            log.info("wrote %d cloud map(s) to %s", len(self._written), self.directory)

    def outputs(self) -> list[Path]:
        return list(self._written)
