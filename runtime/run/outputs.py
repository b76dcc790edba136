"""The sinks a RunConfig asks for (`--output` URIs, `--save-dir`, `--masks`, `--table`, `--static-mask`), and
closing them all."""
from __future__ import annotations

import errno
import logging
from functools import partial
from pathlib import Path
from typing import Any

from skyseg.runtime.errors import InputError, SkysegError
from skyseg.runtime.run.config import RunConfig, table_path
from skyseg.runtime.sinks.base import Sink
from skyseg.runtime.sinks.output_uri import VIDEO_SUFFIXES, parse_output
from skyseg.runtime.sinks.video_recovery import free_name, part_path, recover_killed_video, recover_killed_videos

log = logging.getLogger(__name__)

__all__ = ["VIDEO_SUFFIXES", "build_sinks", "close_all", "output_failure", "settle_table"]


def settle_table(config: RunConfig) -> None:
    """Make the table a run continues whole before its source opens: a last row that a kill left without its
    files is cut, so a watched folder that resumes from the table does that frame again."""
    table = table_path(config)
    if table is None:
        return
    from skyseg.runtime.sinks.table import drop_killed_row

    try:
        drop_killed_row(table)
    except OSError as err:
        raise InputError(f"cannot write the results table {table}: {err.strerror or err}") from None


def build_sinks(config: RunConfig, source_kind: str, fps: float | None) -> list[Sink]:
    """The sinks a RunConfig asks for (explicit outputs plus the --save-dir set)."""
    from skyseg.runtime.sinks.annotate import Annotator

    annotator = Annotator()
    sinks: list[Sink] = []
    save = Path(config.save_dir) if config.save_dir else None
    masks = config.masks or (str(save / "masks") if save else None)
    table = table_path(config)
    outputs = list(config.outputs)
    if not (config.headless or outputs or save or masks or table or config.static_mask) and _display_usable():
        log.info("showing results in a window (display://0); pass --headless to run without one")
        outputs.append("display://0")
    if save is not None:
        stills = source_kind in ("images", "watch")
        if not stills:
            recover_killed_videos(save)  # a killed run's video first, so this run's name comes after it
        outputs.append(str(save / "annotated") + "/" if stills else str(free_name(save / "annotated.mp4")))
    if config.clouds:  # a stage, not an output: it fills record.extra for the sinks after it
        from skyseg.runtime.process.horizon_prior import FIXED_CAMERA_KINDS
        from skyseg.runtime.sinks.clouds import CloudStage

        sinks.append(CloudStage(learn=config.prior == "on" or (config.prior == "auto" and
                                                                 source_kind in FIXED_CAMERA_KINDS)))
    if table:  # first: a row is durable before its mask or video frame, so a killed run's masks all have rows
        from skyseg.runtime.sinks.table import TableSink

        sinks.append(TableSink(table, clouds=config.clouds))
    for uri in outputs:
        sinks.append(_output_sink(uri, fps, annotator, config.headless, config.clouds))
    if masks:
        from skyseg.runtime.sinks.masks import MaskSink

        sinks.append(MaskSink(masks))
    if config.clouds and (save is not None or masks):
        from skyseg.runtime.sinks.clouds import CloudMapSink

        sinks.append(CloudMapSink(save / "clouds" if save is not None else Path(masks).with_name("clouds")))
    if config.static_mask:
        from skyseg.runtime.process.static_mask import StaticMaskSink

        sinks.append(StaticMaskSink(config.static_mask, config.static_share))
    return _with_names(sinks, config)


def _with_names(sinks: list[Sink], config: RunConfig) -> list[Sink]:
    """The naming stage before the table (after the stages that fill the record), told which files the sinks after
    it write and which names the table's earlier rows used."""
    from skyseg.runtime.sinks.clouds import CloudMapSink
    from skyseg.runtime.sinks.images import ImageFolderSink
    from skyseg.runtime.sinks.masks import MaskSink
    from skyseg.runtime.sinks.naming import OutputNames, source_root
    from skyseg.runtime.sinks.table import TableSink
    from skyseg.runtime.sinks.video import AnnotatedVideoSink

    writers: dict[str, Any] = {}
    used: dict[str, tuple[str, str]] = {}
    for sink in sinks:
        if isinstance(sink, MaskSink):
            writers.setdefault("mask_file", sink.file_for)
            writers.setdefault("raw_mask_file", sink.raw_file_for)
        elif isinstance(sink, ImageFolderSink):
            writers.setdefault("annotated_file", sink.file_for)
        elif isinstance(sink, AnnotatedVideoSink):  # a stream's frames go into the run's video
            writers.setdefault("annotated_file", partial(_video_file, sink))
        elif isinstance(sink, CloudMapSink):
            writers.setdefault("cloud_file", sink.file_for)
        elif isinstance(sink, TableSink):
            used.update(sink.used)
    stages = 1 if config.clouds else 0  # the cloud stage fills the record first
    return [*sinks[:stages], OutputNames(source_root(config.source), writers, used), *sinks[stages:]]


def _video_file(sink: Any, record: Any) -> Path | None:
    """The annotated video a frame goes into, while it is being written."""
    if record.result is None or record.rgb8 is None or getattr(sink, "_done", None) is not None:
        return None
    return sink.path


def _display_usable() -> bool:
    """A graphical session and GStreamer's Python bindings are both present."""
    import importlib.util
    import os

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    return importlib.util.find_spec("gi") is not None


def _output_sink(uri: str, fps: float | None, annotator: Any, headless: bool, clouds: bool = False) -> Sink:
    spec = parse_output(uri)
    if spec.kind == "mqtt":
        from skyseg.runtime.sinks.mqtt import MqttSink

        return MqttSink(uri, clouds=clouds)
    if spec.kind == "display":
        if headless:
            raise InputError(f"--output {uri} contradicts --headless; drop one of them")
        from skyseg.runtime.sinks.video import DisplayOutSink

        return DisplayOutSink(uri, fps, annotator)
    if spec.kind == "video":
        from skyseg.runtime.sinks.video import AnnotatedVideoSink

        target = Path(spec.path)
        if part_path(target).exists():  # a killed run's video: kept beside, never replaced by this run's
            recover_killed_video(part_path(target), target.with_name(f"{target.stem}.recovered{target.suffix}"))
        return AnnotatedVideoSink(spec.path, fps, annotator)
    from skyseg.runtime.sinks.images import ImageFolderSink

    return ImageFolderSink(spec.path, annotator)


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


def output_failure(err: OSError, sink: Sink, done: int) -> str:
    """One sentence: which output failed, why, and what the finished frames kept."""
    where = err.filename or getattr(sink, "path", None) or getattr(sink, "directory", None) or type(sink).__name__
    why = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why += " (the disk or the file-size limit is full)"
    return (f"cannot write {where}: {why}; stopped after {done} finished frame(s): the table keeps their rows, "
            "their files stay and nothing half-written is left; free some space and run again into the same folder "
            "to continue")
