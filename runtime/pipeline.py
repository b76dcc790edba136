"""The run loop: source → preprocess → backend → postprocess → sinks, with progress, a summary and clean stops.

SIGTERM and the first Ctrl-C ask the loop to stop after the current frame; sinks are then closed, so tables,
masks and videos on disk are complete (a second Ctrl-C interrupts at once, and sinks still close). A corrupt
frame becomes an error row and the run goes on; a source that cannot open raises InputError before any output
is written.
"""
from __future__ import annotations

import errno
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterable

from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.errors import InputError, OutputError, SkysegError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.process.horizon_prior import FIXED_CAMERA_KINDS, HorizonPrior
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.disk_guard import LowDiskGuard
from skyseg.runtime.sinks.video_recovery import free_name, part_path, recover_killed_video, recover_killed_videos

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
STAGES = ("pre", "infer", "post")


@dataclass(frozen=True)
class RunConfig:
    """Everything `skyseg run` needs; built by the CLI, usable from Python."""

    source: str
    model: str
    backend: str = "auto"
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    threads: int | None = None
    outputs: tuple[str, ...] = ()  # display://N, file://out.mp4 / out.mkv, or a folder for annotated images
    save_dir: str | None = None  # auto-save everything under this folder
    masks: str | None = None  # folder for per-frame mask PNGs
    table: str | None = None  # results.csv / .jsonl / .xlsx
    static_mask: str | None = None  # path of the per-night static mask PNG
    static_share: float = 0.9
    headless: bool = False
    watch: bool = False
    max_frames: int | None = None
    progress_s: float = 5.0
    gpu_prepost: str = "auto"  # TensorRT only: letterbox + mask assembly on the GPU (auto: when CuPy is installed)
    min_free_mb: float = 100.0  # below this, annotated video/images stop; below half, masks; 0 = off
    prior: str = "auto"  # per-installation horizon prior: auto (fixed-camera sources: folders, watch), on, off
    prior_frames: int = 8  # frames counted before the prior is applied


@dataclass
class RunSummary:
    frames: int = 0
    errors: int = 0
    seconds: float = 0.0
    dropped: int = 0
    stopped_by: str | None = None  # "SIGTERM", "SIGINT", or None at end of stream
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean per stage
    outputs: list[Path] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class StopRequest:
    """Turns SIGTERM / the first SIGINT into a flag the loop polls; restores the old handlers on exit."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}
        self.callbacks: list[Callable[[], None]] = []  # e.g. a watch source's stop(), so a wait ends too

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now (sinks still close in `finally`)
        self.reason = name
        log.info("%s received: finishing the current frame, then closing outputs", name)
        for callback in self.callbacks:
            callback()

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class Progress:
    """Live throughput/latency line every `every_s` seconds, and running means for the summary."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.start = time.perf_counter()
        self._last = self.start
        self._last_frames = 0
        self.frames = 0
        self.errors = 0
        self.sums = dict.fromkeys(STAGES, 0.0)
        self.fps: float | None = None
        self._sky = 0.0

    def add(self, record: FrameRecord, dropped: int = 0) -> None:
        if record.result is None:
            self.errors += 1
        else:
            self.frames += 1
            for k in STAGES:
                self.sums[k] += record.result.timings.get(k, 0.0)
            self._sky = record.result.sky_fraction
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self.fps = (self.frames - self._last_frames) / (now - self._last)
            self._last, self._last_frames = now, self.frames
            means = self.means()
            log.info("%d frames, %.1f fps, pre %.1f / infer %.1f / post %.1f ms, sky %.1f%%, errors %d, dropped %d",
                     self.frames, self.fps, means["pre"], means["infer"], means["post"], 100 * self._sky,
                     self.errors, dropped)
        elif self.fps is None and self.frames:
            self.fps = self.frames / max(now - self.start, 1e-9)

    def means(self) -> dict[str, float]:
        return {k: v / self.frames if self.frames else 0.0 for k, v in self.sums.items()}


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


def build_sinks(config: RunConfig, source_kind: str, fps: float | None) -> list[Sink]:
    """The sinks a RunConfig asks for (explicit outputs plus the --save-dir set)."""
    from skyseg.runtime.sinks.annotate import Annotator

    annotator = Annotator()
    sinks: list[Sink] = []
    save = Path(config.save_dir) if config.save_dir else None
    masks = config.masks or (str(save / "masks") if save else None)
    table = config.table or (str(save / "results.csv") if save else None)
    outputs = list(config.outputs)
    if not (config.headless or outputs or save or masks or table or config.static_mask) and _display_usable():
        log.info("showing results in a window (display://0); pass --headless to run without one")
        outputs.append("display://0")
    if save is not None:
        stills = source_kind in ("images", "watch")
        if not stills:
            recover_killed_videos(save)  # a killed run's video first, so this run's name comes after it
        outputs.append(str(save / "annotated") + "/" if stills else str(free_name(save / "annotated.mp4")))
    if table:  # first: a row is durable before its mask or video frame, so a killed run's masks all have rows
        from skyseg.runtime.sinks.table import TableSink

        sinks.append(TableSink(table))
    for uri in outputs:
        sinks.append(_output_sink(uri, fps, annotator, config.headless))
    if masks:
        from skyseg.runtime.sinks.masks import MaskSink

        sinks.append(MaskSink(masks))
    if config.static_mask:
        from skyseg.runtime.process.static_mask import StaticMaskSink

        sinks.append(StaticMaskSink(config.static_mask, config.static_share))
    return sinks


def _display_usable() -> bool:
    """A graphical session and GStreamer's Python bindings are both present."""
    import importlib.util
    import os

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    return importlib.util.find_spec("gi") is not None


def _output_sink(uri: str, fps: float | None, annotator: Any, headless: bool) -> Sink:
    if uri.startswith("mqtt://"):
        from skyseg.runtime.sinks.mqtt import MqttSink

        return MqttSink(uri)
    if uri.startswith("display://"):
        if headless:
            raise InputError(f"--output {uri} contradicts --headless; drop one of them")
        from skyseg.runtime.sinks.video import DisplayOutSink

        return DisplayOutSink(uri, fps, annotator)
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        from skyseg.runtime.sinks.video import AnnotatedVideoSink

        target = Path(path)
        if part_path(target).exists():  # a killed run's video: kept beside, never replaced by this run's
            recover_killed_video(part_path(target), target.with_name(f"{target.stem}.recovered{target.suffix}"))
        return AnnotatedVideoSink(path, fps, annotator)
    if Path(path).suffix and not path.endswith("/"):
        raise InputError(f"--output {uri}: expected display://N, a video file ({', '.join(VIDEO_SUFFIXES)}) "
                         "or a folder for annotated images")
    from skyseg.runtime.sinks.images import ImageFolderSink

    return ImageFolderSink(path, annotator)


def process(
    segmenter: Segmenter,
    items: Iterable[Frame | FrameError],
    sinks: list[Sink],
    stop: Callable[[], bool] = lambda: False,
    max_frames: int | None = None,
    progress: Progress | None = None,
    dropped: Callable[[], int] = lambda: 0,
    prior: HorizonPrior | None = None,
    guard: LowDiskGuard | None = None,
) -> Progress:
    """Feed items through the segmenter into the sinks until the stream ends, `stop()` or max_frames."""
    progress = progress or Progress()
    for item in items:
        if isinstance(item, FrameError):
            log.warning("frame %d (%s): %s", item.index, item.path or item.source_id, item.message)
            record = FrameRecord(error=item)
        else:
            try:
                result = segmenter.segment_frame(item)
            except (ValueError, InputError) as err:  # an unusable frame (odd shape/dtype) is a row, not the end
                log.warning("frame %d (%s): %s", item.index, item.path or item.source_id, err)
                record = FrameRecord(error=FrameError(item.index, item.source_id, item.path, str(err), item.timestamp))
            else:
                if prior is not None:
                    result = prior.apply(result)
                record = FrameRecord(frame=item, result=result, rgb8=segmenter.last_rgb8, fps=progress.fps)
        for sink in sinks if guard is None else guard.active(sinks):
            try:
                sink.write(record)
            except OSError as err:  # a full disk or a vanished folder: stop, keeping every finished frame
                raise OutputError(_output_failure(err, sink, progress)) from err
        progress.add(record, dropped())
        if stop() or (max_frames is not None and progress.frames + progress.errors >= max_frames):
            break
    return progress


def _output_failure(err: OSError, sink: Sink, progress: Progress) -> str:
    """One sentence: which output failed, why, and what the finished frames kept."""
    where = err.filename or getattr(sink, "path", None) or getattr(sink, "directory", None) or type(sink).__name__
    why = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why += " (the disk or the file-size limit is full)"
    done = progress.frames + progress.errors
    return (f"cannot write {where}: {why}; stopped after {done} finished frame(s): the table keeps their rows, "
            "their files stay and nothing half-written is left; free some space and run again into the same folder "
            "to continue")


def run(config: RunConfig) -> RunSummary:
    """Run a source through the model into the configured sinks; returns the summary (also logged)."""
    from skyseg.runtime.sources.uri import open_source

    summary = RunSummary()
    with StopRequest() as stop, open_backend(config.model, config.backend, threads=config.threads) as backend:
        segmenter = make_segmenter(backend, config)
        source = open_source(config.source, watch=config.watch)
        if callable(getattr(source, "stop", None)):  # before opening: a camera that is not up yet is waited for
            stop.callbacks.append(source.stop)
        with source:
            log.info("source %s%s", source.description, f" at {source.fps:g} fps" if source.fps else "")
            sinks = build_sinks(config, source.spec.kind, source.fps)
            progress = Progress(config.progress_s)
            failed = False
            try:
                process(segmenter, source, sinks, lambda: stop.reason is not None, config.max_frames, progress,
                        lambda: source.dropped, make_prior(config, source.spec.kind),
                        LowDiskGuard(int(config.min_free_mb * 1e6)))
            except BaseException:
                failed = True
                raise
            finally:
                try:
                    summary.outputs = close_all(sinks)
                except (SkysegError, OSError):
                    if not failed:  # else the first failure is the one to report (close_all logged this one)
                        raise
                summary.frames, summary.errors = progress.frames, progress.errors
                summary.seconds = time.perf_counter() - progress.start
                summary.stage_ms = progress.means()
                summary.dropped = source.dropped
                summary.stopped_by = stop.reason
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
    return summary


def close_all(sinks: list[Sink]) -> list[Path]:
    """Close every sink even if one fails; re-raise the first failure after all are closed."""
    first: BaseException | None = None
    outputs: list[Path] = []
    for sink in sinks:
        try:
            sink.close()
            outputs.extend(sink.outputs())
        except (SkysegError, OSError) as err:
            log.error("closing %s failed: %s", type(sink).__name__, err)
            first = first or err
    if first is not None:
        raise first
    return outputs
