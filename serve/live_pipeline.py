"""`LivePipeline`: `skyseg run`'s loop in a background thread, with the page's hooks.

The same pieces as `skyseg.runtime.pipeline.run` — `open_source`, `build_sinks` (so SAVE_DIR gets exactly what
`skyseg run --save-dir` writes: results.csv, masks/, the annotated video or images, plus static_mask.png, and each
`--output` gets the same sink, e.g. the MqttSink for mqtt://), `process`, `close_all` — with three differences: the
segmenter is a `SegmenterSlot` (thresholds and the model change between frames), a `LiveSink` hands each record to
the page, and the source may be paced (`max_fps`). The horizon prior (image folders and watch folders) and the
low-disk guard are `run`'s defaults.
When the source ends the files are closed and the server keeps answering (uploads still work).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from skyseg.runtime.errors import SkysegError
from skyseg.runtime.pipeline import Progress, RunConfig, build_sinks, close_all, make_prior, process
from skyseg.runtime.process.static_mask import StaticMaskSink
from skyseg.runtime.sinks.disk_guard import LowDiskGuard
from skyseg.serve.config import ServeConfig
from skyseg.serve.live_sink import LiveSink
from skyseg.serve.live_state import LiveState
from skyseg.serve.model_catalog import ModelCatalog
from skyseg.serve.model_slot import SegmenterSlot

log = logging.getLogger(__name__)


def run_config_for(config: ServeConfig, save_dir: Path) -> RunConfig:
    """The RunConfig `skyseg run SOURCE --save-dir SAVE_DIR --static-mask --headless [--output URI]` would build.

    Uploads take it with `outputs=()` (serve/detect.py): an uploaded frame is not the sky now, so it is never
    published as the live state on MQTT."""
    return RunConfig(source=config.source, model=config.model, backend=config.backend, conf=config.conf,
                     iou=config.iou, max_det=config.max_det, threads=config.threads, save_dir=str(save_dir),
                     outputs=config.outputs,
                     static_mask=str(save_dir / "static_mask.png"), headless=True, watch=config.watch,
                     max_frames=config.max_frames, progress_s=config.progress_s, gpu_prepost=config.gpu_prepost)


def paced(items: Iterable[Any], max_fps: float | None, stop: threading.Event) -> Iterator[Any]:
    """Yield items no faster than `max_fps` (a replayed folder behaves like a camera); a stop ends the wait."""
    if not max_fps:
        yield from items
        return
    period = 1.0 / max_fps
    due = time.monotonic()
    for item in items:
        yield item
        due += period
        delay = due - time.monotonic()
        if delay > 0:
            if stop.wait(delay):
                return
        else:
            due = time.monotonic()


class LivePipeline:
    """Owns the live model, the source, the run's sinks and the thread that drives them."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.save_dir = Path(config.save_dir).resolve()
        self.run_config = run_config_for(config, self.save_dir)
        self.state = LiveState(config.history)
        self.slot = SegmenterSlot(self.run_config)
        self.catalog = ModelCatalog(config.model, config.models_dir, self.save_dir / "models")
        self.status = "starting"
        self.error: str | None = None
        self.source_description = config.source
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: Any = None
        self._sinks: list[Any] = []
        self._progress: Progress | None = None
        self._seconds: float | None = None

    def start(self) -> None:
        """Open the model, the source and the sinks here (errors reach the CLI), then run in a thread."""
        from skyseg.runtime.sources.uri import open_source

        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.slot.load(self.config.model, self.catalog.start_key())
        try:
            source = open_source(self.config.source, watch=self.config.watch, loop=self.config.loop)
            source.open()
            try:
                sinks = build_sinks(self.run_config, source.spec.kind, source.fps)
            except BaseException:
                source.close()
                raise
        except BaseException:
            self.slot.close()
            raise
        static = next((s for s in sinks if isinstance(s, StaticMaskSink)), None)
        if static is not None:
            self.state.static_mask = static.mask
            self.state.static_frames = lambda: static.frames
        self._source, self._sinks = source, [*sinks, LiveSink(self.state)]
        self.source_description = source.description
        log.info("source %s%s", source.description, f" at {source.fps:g} fps" if source.fps else "")
        self._thread = threading.Thread(target=self._loop, name="skyseg-live", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        source, sinks = self._source, self._sinks
        progress = self._progress = Progress(self.config.progress_s)
        self.status = "running"
        try:
            process(self.slot, paced(source, self.config.max_fps, self._stop), sinks, self._stop.is_set,
                    self.config.max_frames, progress, lambda: source.dropped,
                    make_prior(self.run_config, source.spec.kind), LowDiskGuard(int(self.run_config.min_free_mb * 1e6)))
            self.status = "stopped" if self._stop.is_set() else "finished"
        except Exception as err:  # noqa: BLE001 - the page shows it; the server keeps answering
            log.exception("the live pipeline stopped: %s", err)
            self.status, self.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            try:
                close_all(sinks)
            except (SkysegError, OSError) as err:
                self.error = self.error or f"closing the outputs failed: {err}"
            source.close()
            self._seconds = time.perf_counter() - progress.start
            log.info("live source %s: %d frames, %d errors in %.1f s (%.2f fps)", self.status, progress.frames,
                     progress.errors, self._seconds, self.run_fps())

    def run_fps(self) -> float:
        """Frames per second since the run started (final once the source has ended), as `skyseg run` reports."""
        progress = self._progress
        if progress is None:
            return 0.0
        seconds = self._seconds if self._seconds is not None else time.perf_counter() - progress.start
        return progress.frames / seconds if seconds > 0 else 0.0

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current frame, close every output, release the model (idempotent)."""
        self._stop.set()
        if self._source is not None and callable(getattr(self._source, "stop", None)):
            self._source.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the live pipeline did not stop within %.0f s", timeout)
        self.slot.close()
