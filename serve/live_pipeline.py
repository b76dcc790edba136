"""`LivePipeline`: the run loop (`skyseg.runtime.pipeline.Pipeline`) in a background thread, with the page's hooks.

The pipeline gets the ServeConfig's RunConfig, `skyseg run SOURCE --save-dir SAVE_DIR --static-mask --headless` (so
SAVE_DIR gets exactly what `skyseg run --save-dir` writes: results.csv, masks/, the annotated video or images, plus
static_mask.png, and each `--output` gets the same sink, e.g. the MqttSink for mqtt://; the horizon prior and the
low-disk guard as `run` has them) and three hooks: the live model's segmenter (thresholds and the model change between
frames, `LiveModel`), a `LiveSink` that hands each record to the page, and pacing (`max_fps`).
When the source ends the files are closed and the server keeps answering (uploads still work). When the pipeline
fails (an output that cannot be written, a source error) the files are closed and `on_failed` is called: `serve`
then stops the server and exits 1, so a service manager restarts it instead of a live page over a dead run.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from skyseg.runtime.pipeline import Hooks, Pipeline
from skyseg.runtime.process.static_mask import StaticMaskSink
from skyseg.serve.config import ServeConfig
from skyseg.serve.live_model import LiveModel
from skyseg.serve.live_sink import LiveSink
from skyseg.serve.live_state import LiveState
from skyseg.serve.model_catalog import ModelCatalog

log = logging.getLogger(__name__)


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
    """Owns the live model, the run's pipeline (source and sinks) and the thread that drives it."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.save_dir = config.save_dir
        self.run_config = config.run
        self.state = LiveState(config.history)
        self.model = LiveModel(self.run_config)
        self.catalog = ModelCatalog(config.run.model, config.models_dir, self.save_dir / "models")
        self.status = "starting"
        self.error: str | None = None
        self.source_description = config.run.source
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pipeline: Pipeline | None = None
        self._seconds: float | None = None
        self.on_failed: Callable[[], None] = lambda: None  # called once the failed run's files are closed

    def start(self) -> None:
        """Open the model, the source and the sinks here (errors reach the CLI), then run in a thread."""
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.model.load(self.run_config.model, self.catalog.start_key())
        hooks = Hooks(stop=self._stop.is_set, pace=lambda items: paced(items, self.config.max_fps, self._stop),
                      sinks=[LiveSink(self.state)])
        pipeline = Pipeline(self.run_config, hooks=hooks, loop=self.config.loop)
        try:
            self.model.attach(pipeline)
            pipeline.open()
        except BaseException:
            self.model.detach(pipeline)
            self.model.close()
            raise
        static = next((s for s in pipeline.sinks if isinstance(s, StaticMaskSink)), None)
        if static is not None:
            self.state.static_mask = static.mask
            self.state.static_frames = lambda: static.frames
        self._pipeline = pipeline
        self.source_description = pipeline.source.description
        self._thread = threading.Thread(target=self._loop, name="skyseg-live", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        self.status = "running"
        try:
            pipeline.run()
            self.status = "stopped" if self._stop.is_set() else "finished"
        except Exception as err:  # the page shows it, then serve ends with exit 1
            log.exception("the live pipeline stopped: %s", err)
            self.status, self.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            try:
                pipeline.close()
            except Exception as err:  # every output was still offered its close; say which failed
                log.error("closing the live run's outputs failed: %s: %s", type(err).__name__, err)
                self.error = self.error or f"closing the outputs failed: {err}"
            finally:
                self.model.detach(pipeline)
            progress = pipeline.progress
            self._seconds = time.perf_counter() - progress.start if progress is not None else 0.0
            log.info("live source %s: %d frames, %d errors in %.1f s (%.2f fps)", self.status,
                     progress.frames if progress else 0, progress.errors if progress else 0, self._seconds,
                     self.run_fps())
            if self.status == "failed":
                self.on_failed()

    def run_state(self) -> tuple[str, str | None]:
        """(state, error) for the page: a watch whose folder has gone (deleted, unmounted) is "waiting", with why."""
        if self.status == "running" and self.run_config.watch and not Path(self.run_config.source).is_dir():
            return "waiting", (f"the watched folder {self.run_config.source} is missing (deleted or unmounted?); "
                               "frames are taken again once it is back")
        return self.status, self.error

    def run_fps(self) -> float:
        """Frames per second since the run started (final once the source has ended), as `skyseg run` reports."""
        progress = self._pipeline.progress if self._pipeline is not None else None
        if progress is None:
            return 0.0
        seconds = self._seconds if self._seconds is not None else time.perf_counter() - progress.start
        return progress.frames / seconds if seconds > 0 else 0.0

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current frame, close every output, release the model (idempotent)."""
        self._stop.set()
        source = self._pipeline.source if self._pipeline is not None else None
        if source is not None and callable(getattr(source, "stop", None)):
            source.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the live pipeline did not stop within %.0f s", timeout)
        self.model.close()
