"""Results table, one row per input: CSV, JSON lines, or Excel .xlsx (chosen by the file suffix).

Columns: frame, time (UTC, ISO 8601), source, path, sky_fraction, instances, scores, latency_ms, pre_ms,
infer_ms, post_ms, mask (what sky_fraction and the mask PNG are: "model", or "learning"/"prior" with the
per-installation horizon prior), raw_sky_fraction (the model's own mask), error; then the frame's identity and
what it was segmented with: name (the frame's name, runtime.sinks.naming), file_mtime (the input file's
modification time), mask_file, raw_mask_file, annotated_file (the files written for the row, relative to the
table's folder; empty when none was written), model (sha256 prefix of the model file), conf and iou; with cloud
cover on (`--clouds`) also cloud_fraction, clear_fraction and cloud_file after them. A frame that could not be read
becomes an error row (no result columns, the message in `error`) and the run goes on.

CSV and JSON-lines tables are durable: each row is appended to the table itself and flushed as its frame finishes,
with an fsync at most every FSYNC_S seconds and at close, so a hard kill (power cut, OOM, SIGKILL) loses at most the
last seconds. A run into an existing table continues it (a restart of the service continues the night's table):
a trailing half-written row left by a kill is cut off first, and rows left in the hidden temp files of older
versions' killed runs are moved into it. A table of an older version (fewer columns) gets the new columns, empty in
its rows; a table with columns no version wrote is refused before any frame is processed.
An .xlsx table is derived from the durable CSV beside it (`NAME.xlsx` from `NAME.csv`, which the rows go to): it is
rebuilt from every row of every run when a run starts (so a killed run's rows reach it on the next start) and at
close, so a rerun adds rows and never replaces them.
"""
from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from typing import Any

from skyseg.runtime.errors import InputError
from skyseg.runtime.file_digest import file_sha256
from skyseg.runtime.run.ledger import (csv_line, drop_unfinished_row, durable_path, import_xlsx, iso_time, upgrade_header,
                                       used_names, write_xlsx)
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.clouds import COLUMNS as CLOUD_VALUES, cloud_values
from skyseg.runtime.sinks.durable_table import DurableLines
from skyseg.runtime.sinks.naming import FILES_KEY, NAME_KEY
from skyseg.runtime.sinks.output_uri import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

COLUMNS = ("frame", "time", "source", "path", "sky_fraction", "instances", "scores", "latency_ms", "pre_ms",
           "infer_ms", "post_ms", "mask", "raw_sky_fraction", "error", "name", "file_mtime", "mask_file",
           "raw_mask_file", "annotated_file", "model", "conf", "iou")
CLOUD_COLUMNS = (*CLOUD_VALUES, "cloud_file")
FRAME_FILE_COLUMNS = ("mask_file", "raw_mask_file", "annotated_file", "cloud_file")
SETTINGS_KEY = "settings"  # record.extra: {"model": sha256 prefix, "conf": ..., "iou": ...} of the segmenter
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}


@functools.lru_cache(maxsize=16)
def _model_sha(path: str, size: int, mtime_ns: int) -> str:  # size and time: a replaced file is hashed again
    return file_sha256(path)[:16]


def model_tag(model_path: str | os.PathLike[str] | None) -> str:
    """The table's `model` value: the sha256 prefix (16 hex digits) of the model file, else its name."""
    if not model_path:
        return ""
    try:
        st = os.stat(model_path)
        return _model_sha(str(model_path), st.st_size, st.st_mtime_ns)
    except OSError:
        return Path(model_path).name


def settings_of(segmenter: Any) -> dict[str, Any]:
    """{"model", "conf", "iou"} of a segmenter, for `record.extra[SETTINGS_KEY]` (the run loop sets it per row, so
    a model switch or a threshold change shows in the rows after it)."""
    backend = getattr(segmenter, "backend", None)
    return {"model": model_tag(getattr(backend, "model_path", None)), "conf": getattr(segmenter, "conf", None),
            "iou": getattr(segmenter, "iou", None)}


def _file_cell(path: Any, base: Path | None) -> str:
    """A written file as the row names it: relative to the table's folder when inside it."""
    if base is not None:
        try:
            return Path(path).resolve().relative_to(base).as_posix()
        except ValueError:
            pass
    return str(path)


def _identity(record: FrameRecord, base: Path | None) -> dict[str, Any]:
    """The name, file time, written files and segmenter settings of a record (empty when nothing set them)."""
    out: dict[str, Any] = {"name": record.extra.get(NAME_KEY)}
    if record.frame is not None and record.frame.meta.get("file_mtime") is not None:
        out["file_mtime"] = iso_time(record.frame.meta["file_mtime"])
    for column, path in record.extra.get(FILES_KEY, {}).items():
        out[column] = _file_cell(path, base)
    out.update(record.extra.get(SETTINGS_KEY, {}))
    return out


def record_row(record: FrameRecord, base: Path | None = None) -> dict[str, Any]:
    """One table row (Python values; `scores` is a list) for a result or an error record; files are named
    relative to `base` (the table's folder, resolved) where they lie inside it."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    if record.error is not None:
        e = record.error
        row.update(frame=e.index, time=iso_time(e.timestamp), source=e.source_id, path=e.path or "", error=e.message)
        row.update(_identity(record, base))
        return row
    res = record.result
    assert res is not None
    t = res.timings
    row.update(
        frame=res.index,
        time=iso_time(res.timestamp),
        source=res.source_id,
        path=res.path or "",
        sky_fraction=round(res.sky_fraction, 6),
        instances=len(res),
        scores=[round(float(s), 4) for s in res.scores],
        latency_ms=round(res.latency_ms, 3),
        pre_ms=round(t.get("pre", 0.0), 3),
        infer_ms=round(t.get("infer", 0.0), 3),
        post_ms=round(t.get("post", 0.0), 3),
        mask=res.mask_source,
        raw_sky_fraction=round(res.raw_sky_fraction, 6),
        error="",
    )
    row.update(cloud_values(record))  # nothing unless the cloud stage ran
    row.update(_identity(record, base))
    return row


def drop_killed_row(table: str | os.PathLike[str]) -> bool:
    """Cut the table's last row when a kill came between it and its files (the frame counts as not done). A run
    that continues the table does this before anything reads its rows (a watched folder deciding what is done)."""
    return drop_unfinished_row(durable_path(table), FRAME_FILE_COLUMNS, VIDEO_SUFFIXES)  # a video is the run's


class TableSink(Sink):
    """Writes the results table to `path` (.csv, .jsonl, or .xlsx derived from NAME.csv beside it)."""

    def __init__(self, path: str | os.PathLike[str], clouds: bool = False) -> None:
        self.path = Path(path)
        self.format = FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise InputError(f"results table {self.path.name}: unknown format; use .csv, .jsonl or .xlsx")
        self.durable = durable_path(self.path)
        self.rows = 0
        self._done: Path | None = None
        self._file: DurableLines | None = None
        if self.path.is_dir():
            raise InputError(f"results table {self.path} is a folder; pass a file path such as {self.path}/results.csv")
        if self.format == "xlsx" and self.path.is_file() and not self.durable.exists():
            import_xlsx(self.path, self.durable)  # an older version's whole-file table: its rows are kept
        columns = COLUMNS + CLOUD_COLUMNS if clouds else COLUMNS
        try:
            if self.format != "jsonl" and self.durable.is_file():
                columns = tuple(upgrade_header(self.durable, columns, COLUMNS + CLOUD_COLUMNS))
            drop_killed_row(self.durable)
        except OSError as err:
            raise InputError(f"cannot write the results table {self.durable}: {err.strerror or err}") from None
        self.columns = columns
        self.used = used_names(self.durable)  # frame names of earlier runs: never given again
        self._base = self.durable.parent.resolve()
        header = None if self.format == "jsonl" else csv_line(self.columns)
        self._file = DurableLines(self.durable, header)
        if self.format == "xlsx" and self.durable.stat().st_size > len(header or ""):
            write_xlsx(self.durable, self.path)  # a killed run's rows reach the .xlsx now, not only at close

    def write(self, record: FrameRecord) -> None:
        row = record_row(record, self._base)
        assert self._file is not None
        if self.format == "jsonl":
            self._file.append(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            flat = dict(row)
            flat["scores"] = "" if row["scores"] is None else " ".join(f"{s:.4f}" for s in row["scores"])
            values = [flat.get(c) for c in self.columns]
            self._file.append(csv_line(values))
        self.rows += 1

    def close(self) -> None:
        if self._done is not None or self._file is None:
            return
        self._done = self._file.close()
        self._file = None
        if self.format == "xlsx":
            self._done = write_xlsx(self.durable, self.path)
        log.info("wrote results table %s (%d rows)", self._done, self.rows)

    def discard(self) -> None:
        """Stop writing; the rows already written stay (they are results)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def outputs(self) -> list[Path]:
        if not self._done:
            return []
        return [self.durable, self._done] if self._done != self.durable else [self._done]
