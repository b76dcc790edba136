"""Results table, one row per input: CSV, JSON lines, or Excel .xlsx (chosen by the file suffix).

Columns: frame, time (UTC, ISO 8601), source, path, sky_fraction, instances, scores, latency_ms, pre_ms,
infer_ms, post_ms, mask (what sky_fraction and the mask PNG are: "model", or "learning"/"prior" with the
per-installation horizon prior), raw_sky_fraction (the model's own mask), error; with cloud cover on (`--clouds`)
also cloud_fraction and clear_fraction (shares of the sky, from runtime.sinks.clouds) after them. A frame that could
not be read becomes an error row (no result columns, the message in `error`) and the run goes on.

CSV and JSON-lines tables are durable: each row is appended to the table itself and flushed as its frame finishes,
with an fsync at most every FSYNC_S seconds and at close, so a hard kill (power cut, OOM, SIGKILL) loses at most the
last seconds. A run into an existing table continues it (a restart of the service continues the night's table):
a trailing half-written row left by a kill is cut off first, and rows left in the hidden temp files of older
versions' killed runs are moved into it. A table with other columns is refused before any frame is processed.
An .xlsx table is written whole at close (to a temp file, then renamed).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skyseg.runtime.atomic_file import AtomicFile
from skyseg.runtime.sinks.durable_table import DurableLines
from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.clouds import COLUMNS as CLOUD_COLUMNS, cloud_values

log = logging.getLogger(__name__)

COLUMNS = ("frame", "time", "source", "path", "sky_fraction", "instances", "scores", "latency_ms", "pre_ms",
           "infer_ms", "post_ms", "mask", "raw_sky_fraction", "error")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}


def _iso(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def _csv_line(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def record_row(record: FrameRecord) -> dict[str, Any]:
    """One table row (Python values; `scores` is a list) for a result or an error record."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    if record.error is not None:
        e = record.error
        row.update(frame=e.index, time=_iso(e.timestamp), source=e.source_id, path=e.path or "", error=e.message)
        return row
    res = record.result
    assert res is not None
    t = res.timings
    row.update(
        frame=res.index,
        time=_iso(res.timestamp),
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
    return row


class TableSink(Sink):
    """Writes the results table to `path` (.csv, .jsonl or .xlsx)."""

    def __init__(self, path: str | os.PathLike[str], clouds: bool = False) -> None:
        self.path = Path(path)
        self.columns = COLUMNS + CLOUD_COLUMNS if clouds else COLUMNS
        self.format = FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise InputError(f"results table {self.path.name}: unknown format; use .csv, .jsonl or .xlsx")
        self.rows = 0
        self._done: Path | None = None
        self._file: DurableLines | None = None
        self._book: Any = None
        self._sheet: Any = None
        if self.format == "xlsx":
            try:
                import openpyxl
            except ImportError:
                raise MissingDependencyError("writing .xlsx tables needs openpyxl; `pip install openpyxl` or use .csv") from None
            self._book = openpyxl.Workbook(write_only=True)
            self._sheet = self._book.create_sheet("results")
            self._sheet.append(list(self.columns))
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            header = _csv_line(self.columns) if self.format == "csv" else None
            self._file = DurableLines(self.path, header)

    def write(self, record: FrameRecord) -> None:
        row = record_row(record)
        if self.format == "jsonl":
            assert self._file is not None
            self._file.append(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            flat = dict(row)
            flat["scores"] = "" if row["scores"] is None else " ".join(f"{s:.4f}" for s in row["scores"])
            values = [flat.get(c) for c in self.columns]
            if self.format == "csv":
                assert self._file is not None
                self._file.append(_csv_line(["" if v is None else v for v in values]))
            else:
                self._sheet.append(values)
        self.rows += 1

    def close(self) -> None:
        if self._done is not None or (self._file is None and self._book is None):
            return
        if self._file is not None:
            self._done = self._file.close()
            self._file = None
        else:
            tmp = AtomicFile(self.path, "wb")
            try:
                self._book.save(tmp.handle)
            except BaseException:
                tmp.discard()
                raise
            self._done = tmp.commit()
            self._book = None
        log.info("wrote results table %s (%d rows)", self._done, self.rows)

    def discard(self) -> None:
        """Stop writing. A durable table keeps the rows already written (they are results); an .xlsx is dropped."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._book = None

    def outputs(self) -> list[Path]:
        return [self._done] if self._done else []
