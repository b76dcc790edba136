"""The dashboard's model: an open backend and its Segmenter, shared by the live pipeline and one-off uploads.

A model switch opens the new backend, hands its segmenter to every pipeline running frames (each swaps it in between
two frames, `Pipeline.swap`), then closes the old backend; a new threshold applies from the next frame.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from skyseg.runtime.backends.base import Backend, open_backend
from skyseg.runtime.checkpoint_export import resolve_model
from skyseg.runtime.pipeline import Pipeline, RunConfig, make_segmenter
from skyseg.runtime.process.segmenter import Segmenter

log = logging.getLogger(__name__)


def open_checked(path: str | Path, config: RunConfig) -> Backend:
    """Open a model the way `skyseg run` does (file type, backend, the model-file contract); raises SkysegError."""
    backend = open_backend(resolve_model(path, config.save_dir), config.backend, threads=config.threads)
    backend.__enter__()
    return backend


class LiveModel:
    """The current model, its thresholds, and the pipelines that use it."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.conf = config.conf
        self.iou = config.iou
        self.model_key = ""
        self.model_name = ""
        self.segmenter: Segmenter | None = None
        self._backend: Backend | None = None
        self._users: list[Pipeline] = []
        self._lock = threading.Lock()

    def load(self, path: str | Path, key: str, backend: Backend | None = None) -> None:
        """Open `path` (or take the already opened `backend`) and make it the live model; the old one is closed."""
        backend = backend or open_checked(path, self.config)
        try:
            segmenter = make_segmenter(backend, replace(self.config, conf=self.conf, iou=self.iou))
        except BaseException:
            backend.__exit__(None, None, None)
            raise
        with self._lock:
            old, self._backend, self.segmenter = self._backend, backend, segmenter
            self.model_key, self.model_name = key, Path(path).name
            for pipeline in self._users:
                pipeline.swap(segmenter)  # returns once that pipeline's current frame is done
        if old is not None:
            old.__exit__(None, None, None)
        log.info("live model: %s (%s backend, input %s)", self.model_name, backend.kind, backend.input_hw)

    @contextmanager
    def serving(self, pipeline: Pipeline) -> Iterator[Pipeline]:
        """`pipeline` segments with the live model (and follows its switches) inside the block."""
        self.attach(pipeline)
        try:
            yield pipeline
        finally:
            self.detach(pipeline)

    def attach(self, pipeline: Pipeline) -> None:
        with self._lock:
            if self.segmenter is None:
                raise RuntimeError("no model is loaded")
            pipeline.swap(self.segmenter)
            self._users.append(pipeline)

    def detach(self, pipeline: Pipeline) -> None:
        with self._lock:
            if pipeline in self._users:
                self._users.remove(pipeline)

    def set_thresholds(self, conf: float | None = None, iou: float | None = None) -> None:
        """New confidence / NMS IoU for the next frame."""
        with self._lock:
            if conf is not None:
                self.conf = float(conf)
            if iou is not None:
                self.iou = float(iou)
            if self.segmenter is not None:
                self.segmenter.conf, self.segmenter.iou = self.conf, self.iou
        log.info("thresholds: conf %.2f, iou %.2f", self.conf, self.iou)

    @property
    def backend_kind(self) -> str:
        return self._backend.kind if self._backend is not None else ""

    def close(self) -> None:
        with self._lock:
            backend, self._backend, self.segmenter = self._backend, None, None
        if backend is not None:
            backend.__exit__(None, None, None)
