"""The live model: a segmenter behind a lock, shared by the source thread and one-off uploads, swappable at a
frame boundary (a model switch or a new threshold takes effect on the next frame, without a restart)."""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.backends.base import Backend, open_backend
from skyseg.runtime.checkpoint_export import resolve_model
from skyseg.runtime.frame import Frame
from skyseg.runtime.pipeline import RunConfig, make_segmenter
from skyseg.runtime.result import SegResult

log = logging.getLogger(__name__)


def open_checked(path: str | Path, config: RunConfig) -> Backend:
    """Open a model the way `skyseg run` does (file type, backend, the model-file contract); raises SkysegError."""
    backend = open_backend(resolve_model(path, config.save_dir), config.backend, threads=config.threads)
    backend.__enter__()
    return backend


class SegmenterSlot:
    """Duck-types the `Segmenter` that `skyseg.runtime.pipeline.process` drives (segment_frame, last_rgb8)."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.conf = config.conf
        self.iou = config.iou
        self.model_key = ""
        self.model_name = ""
        self._lock = threading.Lock()
        self._local = threading.local()
        self._backend: Backend | None = None
        self._segmenter: Any = None

    def load(self, path: str | Path, key: str, backend: Backend | None = None) -> None:
        """Open `path` (or take the already opened `backend`) and make it the live model; the old one is closed."""
        backend = backend or open_checked(path, self.config)
        try:
            segmenter = make_segmenter(backend, replace(self.config, conf=self.conf, iou=self.iou))
        except BaseException:
            backend.__exit__(None, None, None)
            raise
        with self._lock:
            old, self._backend, self._segmenter = self._backend, backend, segmenter
            self.model_key, self.model_name = key, Path(path).name
        if old is not None:
            old.__exit__(None, None, None)
        log.info("live model: %s (%s backend, input %s)", self.model_name, backend.kind, backend.input_hw)

    def set_thresholds(self, conf: float | None = None, iou: float | None = None) -> None:
        """New confidence / NMS IoU for the next frame."""
        with self._lock:
            if conf is not None:
                self.conf = self._segmenter.conf = float(conf)
            if iou is not None:
                self.iou = self._segmenter.iou = float(iou)
        log.info("thresholds: conf %.2f, iou %.2f", self.conf, self.iou)

    def segment_frame(self, frame: Frame) -> SegResult:
        with self._lock:
            if self._segmenter is None:
                raise RuntimeError("no model is loaded")
            result = self._segmenter.segment_frame(frame)
            self._local.rgb8 = self._segmenter.last_rgb8
        return result

    @property
    def last_rgb8(self) -> np.ndarray | None:
        """The 8-bit frame of this thread's last `segment_frame` (uploads and the live source do not mix)."""
        return getattr(self._local, "rgb8", None)

    @property
    def backend_kind(self) -> str:
        return self._backend.kind if self._backend is not None else ""

    def close(self) -> None:
        with self._lock:
            backend, self._backend, self._segmenter = self._backend, None, None
        if backend is not None:
            backend.__exit__(None, None, None)
