"""The one run loop: source → segmenter → sinks. `Pipeline` is the only place that assembles them; `skyseg run`, the
live dashboard and its uploads, the demo's clip, the archive actor and the benchmarks are configurations of it (a
RunConfig, a source, hooks), not copies.

SIGTERM and the first Ctrl-C ask `run` to stop after the current frame; sinks are then closed, so tables, masks and
videos on disk are complete (a second Ctrl-C interrupts at once, and sinks still close). A corrupt frame becomes an
error row and the run goes on; a source that cannot open raises InputError before any output is written.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.errors import InputError, OutputError, SkysegError
from skyseg.runtime.frame import Frame, FrameError, FrameRecord
from skyseg.runtime.process.horizon_prior import FIXED_CAMERA_KINDS, HorizonPrior
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.run.config import RunConfig, RunSummary, source_options
from skyseg.runtime.run.outputs import VIDEO_SUFFIXES, build_sinks, close_all, output_failure, settle_table
from skyseg.runtime.run.progress import STAGES, Progress, StopRequest
from skyseg.runtime.sinks.base import Sink
from skyseg.runtime.sinks.disk_guard import LowDiskGuard
from skyseg.runtime.sinks.table import SETTINGS_KEY, settings_of

log = logging.getLogger(__name__)

Item = Union[Frame, FrameError]

# the run's parts, importable from here as before the loop had modules of its own beside it
__all__ = ["STAGES", "VIDEO_SUFFIXES", "Hooks", "Pipeline", "Progress", "RunConfig", "RunSummary", "StopRequest",
           "build_sinks", "close_all", "make_prior", "make_segmenter", "run"]


def _never() -> bool:
    return False


@dataclass
class Hooks:
    """What a job adds to the loop, all optional: a stop flag polled after every frame, pacing around the source,
    sinks after the configured ones (closed with them), a probe that sees every finished record (timings, memory),
    and a call with the source before it opens (a stop must also end a wait for a camera)."""

    stop: Callable[[], bool] = _never
    pace: Callable[[Iterable[Item]], Iterable[Item]] | None = None
    sinks: Sequence[Sink] = ()
    probe: Callable[[FrameRecord], None] | None = None
    on_source: Callable[[Any], None] | None = None


class Pipeline:
    """source → segmenter → sinks for one RunConfig; a context manager (`open` on enter, `close` on exit).

    The source is `config.source` opened with `open_source` unless `source` gives one (a Source, or any iterable of
    Frame / FrameError with `source_kind`). The segmenter is made from `config.model` (and owned) unless one is given;
    `swap` replaces it between frames (a model switch). The prior and the low-disk guard follow the config
    (`prior="off"`, `min_free_mb=0` turn them off).
    """

    def __init__(self, config: RunConfig, segmenter: Segmenter | None = None, hooks: Hooks | None = None, *,
                 source: Any = None, source_kind: str = "images", loop: bool = False) -> None:
        self.config = config
        self.segmenter = segmenter
        self.hooks = hooks or Hooks()
        self.source: Any = source
        self.source_kind = getattr(getattr(source, "spec", None), "kind", source_kind)
        self.loop = loop
        self.sinks: list[Sink] = []
        self.prior: HorizonPrior | None = None
        self.guard: LowDiskGuard | None = None
        self.progress: Progress | None = None
        self.outputs: list[Path] = []
        self._lock = threading.Lock()  # held while a frame is segmented, so `swap` lands between frames
        self._stack = contextlib.ExitStack()

    def open(self) -> Pipeline:
        """Open the model (unless given), settle the table it continues, then the source, then the sinks; on failure
        what opened is closed."""
        try:
            if self.segmenter is None:
                backend = self._stack.enter_context(open_backend(self.config.model, self.config.backend,
                                                                 threads=self.config.threads))
                self.segmenter = make_segmenter(backend, self.config)
            settle_table(self.config)  # before the source: a watch resumes from the table's rows
            if self.source is None:
                from skyseg.runtime.sources.uri import open_source

                self.source = open_source(self.config.source, watch=self.config.watch, loop=self.loop,
                                          **source_options(self.config))
                self.source_kind = self.source.spec.kind
            if self.hooks.on_source is not None:
                self.hooks.on_source(self.source)
            if callable(getattr(self.source, "open", None)):
                self._stack.callback(self.source.close)
                self.source.open()
                log.info("source %s%s", self.source.description,
                         f" at {self.source.fps:g} fps" if self.source.fps else "")
            self.sinks = [*build_sinks(self.config, self.source_kind, self.fps), *self.hooks.sinks]
        except BaseException:
            self._stack.close()
            raise
        self.prior = make_prior(self.config, self.source_kind)
        self.guard = LowDiskGuard(int(self.config.min_free_mb * 1e6))
        return self

    @property
    def fps(self) -> float | None:
        return getattr(self.source, "fps", None)

    @property
    def dropped(self) -> int:
        return int(getattr(self.source, "dropped", 0) or 0)

    def swap(self, segmenter: Segmenter) -> Segmenter | None:
        """Segment the next frames with `segmenter`; returns the one replaced, no longer in use by this pipeline."""
        with self._lock:
            old, self.segmenter = self.segmenter, segmenter
        return old

    def run(self, items: Iterable[Item] | None = None) -> Progress:
        """Feed the source (or `items`) through the segmenter into the sinks until it ends, the stop hook says so
        or `config.max_frames` items are done; returns the progress (also kept, and continued by a next call)."""
        progress = self.progress = self.progress or Progress(self.config.progress_s)
        stream = self.source if items is None else items
        if self.hooks.pace is not None:
            stream = self.hooks.pace(stream)
        limit = self.config.max_frames
        for item in stream:
            with self._lock:
                if self.segmenter is None:
                    raise RuntimeError("the pipeline has no model: open it or give it a segmenter")
                record = self.segmenter.record(item)
                record.extra[SETTINGS_KEY] = settings_of(self.segmenter)  # the row says what segmented it
            if record.result is not None:
                if self.prior is not None:
                    record.result = self.prior.apply(record.result, record.rgb8)
                record.fps = progress.fps
            for sink in self.sinks if self.guard is None else self.guard.active(self.sinks):
                try:
                    sink.write(record)
                except OSError as err:  # a full disk or a vanished folder: stop, keeping every finished frame
                    raise OutputError(output_failure(err, sink, progress.frames + progress.errors)) from err
            progress.add(record, self.dropped)
            if self.hooks.probe is not None:
                self.hooks.probe(record)
            if self.hooks.stop() or (limit is not None and progress.frames + progress.errors >= limit):
                break
        return progress

    def close(self) -> list[Path]:
        """Close every sink (even if one fails), then the source and an owned model; returns the files written."""
        sinks, self.sinks = self.sinks, []
        try:
            self.outputs = close_all(sinks)
        finally:
            self._stack.close()
        return self.outputs

    def __enter__(self) -> Pipeline:
        return self.open()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.close()
        except (SkysegError, OSError):
            if exc_type is None:  # else the first failure is the one to report (close_all logged this one)
                raise


def make_segmenter(backend: Any, config: RunConfig) -> Segmenter:
    """The CPU Segmenter, or on TensorRT the GPU one (frames cross to the GPU once) as `gpu_prepost` asks."""
    import importlib.util

    mode = config.gpu_prepost
    if mode not in ("auto", "on", "off"):
        raise InputError(f"gpu_prepost must be auto, on or off, got {mode!r}")
    args = (backend, config.conf, config.iou, config.max_det)
    if backend.kind != "tensorrt" or mode == "off":
        if mode == "on":
            raise InputError("GPU pre/post-processing (--gpu-prepost on) needs the TensorRT backend and an engine file")
        return Segmenter(*args)
    if importlib.util.find_spec("cupy") is None:
        if mode == "on":
            from skyseg.runtime.errors import MissingDependencyError

            raise MissingDependencyError("--gpu-prepost on needs CuPy: `pip install cupy-cuda12x` (cupy-cuda11x on "
                                         "JetPack 5)")
        log.info("CuPy is not installed: letterbox and mask assembly run on the CPU (`pip install cupy-cuda12x` "
                 "keeps frames on the GPU)")
        return Segmenter(*args)
    from skyseg.runtime.process.segmenter_gpu import GpuSegmenter

    log.info("letterbox and mask assembly on the GPU (CuPy)")
    return GpuSegmenter(*args)


def make_prior(config: RunConfig, source_kind: str) -> HorizonPrior | None:
    """The horizon prior a run uses: on for fixed-camera sources by default, never for videos and live streams."""
    if config.prior == "off" or (config.prior == "auto" and source_kind not in FIXED_CAMERA_KINDS):
        return None
    log.info("horizon prior on: learned from the first %d frames, then combined with each frame's mask "
             "(--prior off to write the model's own masks)", config.prior_frames)
    return HorizonPrior(config.prior_frames)


def run(config: RunConfig) -> RunSummary:
    """Run a source through the model into the configured sinks; returns the summary (also logged)."""
    summary = RunSummary()
    with StopRequest() as stop:
        def on_source(source: Any) -> None:  # before opening: a camera that is not up yet is waited for
            if callable(getattr(source, "stop", None)):
                stop.callbacks.append(source.stop)

        pipeline = Pipeline(config, hooks=Hooks(stop=lambda: stop.reason is not None, on_source=on_source))
        with pipeline:
            try:
                pipeline.run()
            finally:
                progress = pipeline.progress or Progress(config.progress_s)
                summary.frames, summary.errors = progress.frames, progress.errors
                summary.stage_ms = progress.means()
                summary.dropped = pipeline.dropped
                summary.stopped_by = stop.reason
        summary.outputs = pipeline.outputs
        summary.seconds = time.perf_counter() - progress.start
    _log_summary(summary)
    return summary


def _log_summary(summary: RunSummary) -> None:
    m = summary.stage_ms
    log.info("done: %d frames, %d errors in %.1f s (%.2f fps); mean pre %.1f / infer %.1f / post %.1f ms%s%s",
             summary.frames, summary.errors, summary.seconds, summary.fps, m.get("pre", 0), m.get("infer", 0),
             m.get("post", 0), f"; dropped {summary.dropped}" if summary.dropped else "",
             f"; stopped by {summary.stopped_by}" if summary.stopped_by else "")
    by_folder: dict[Path, int] = {}
    for path in summary.outputs:
        by_folder[path.parent] = by_folder.get(path.parent, 0) + 1
    for path in summary.outputs:
        if by_folder[path.parent] <= 3:
            log.info("output: %s", path)
    for folder, count in by_folder.items():
        if count > 3:
            log.info("output: %d files in %s", count, folder)
