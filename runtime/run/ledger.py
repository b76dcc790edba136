"""The results table read back as the run's ledger: what a restart continues from (the names already used, the
frames a watched folder has done), the header upgrade that lets a table of an older version continue, and the
.xlsx derived from the durable CSV.

Only the standard library here (openpyxl is imported when an .xlsx is written), so sources may read a ledger
without knowing the sinks that write it.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from skyseg.runtime.atomic_file import AtomicFile
from skyseg.runtime.errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)


def iso_time(ts: float | None) -> str:
    """A time as the table writes it: UTC ISO 8601 to the millisecond ("" for none)."""
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def csv_line(values: Any) -> str:
    """One CSV row as the tables write it (csv's own quoting and row end), None as an empty cell."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def durable_path(table: str | os.PathLike[str]) -> Path:
    """The file rows are appended to: the table itself, or for an .xlsx the CSV beside it that it is derived from."""
    p = Path(table)
    return p.with_suffix(".csv") if p.suffix.lower() == ".xlsx" else p


def _complete_text(path: Path) -> str:
    """The file's text without a trailing half-written line (a killed run's last row)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    return data.decode("utf-8", "replace")


def read_header(path: Path) -> list[str] | None:
    """A CSV table's columns, or None for a missing or empty file."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), None)


def read_rows(table: str | os.PathLike[str]) -> Iterator[dict[str, str]]:
    """The complete rows of a CSV or JSON-lines table (for an .xlsx: of the CSV it is derived from), values as text;
    nothing for a missing table."""
    path = durable_path(table)
    if not path.is_file():
        return
    text = _complete_text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            yield {k: "" if v is None else str(v) for k, v in row.items()}
    else:
        yield from csv.DictReader(io.StringIO(text, newline=""))


def used_names(table: str | os.PathLike[str]) -> dict[str, tuple[str, str]]:
    """The frame names (the `name` column) of a table's rows, each with the identity it names (the input's path and
    capture time): a continuing run gives a name again only to the same frame."""
    return {row["name"]: frame_key(row.get("path"), row.get("time", "")) for row in read_rows(table)
            if row.get("name") and not row.get("error")}


def frame_key(path: str | None, time: str) -> tuple[str, str]:
    """What identifies a frame read from a file: its absolute path and capture time (as the table writes it)."""
    return (os.path.abspath(path) if path else "", time)


def upgrade_header(path: Path, columns: Sequence[str], known: Sequence[str]) -> list[str]:
    """The columns to continue the CSV table `path` with: its own when they hold all of `columns`; else the union
    (its order, then the new ones), with the file rewritten atomically so older rows get the new columns empty.
    A table with columns that no version wrote (`known`) is refused: it is not a results table."""
    header = read_header(path)
    if header is None or header == list(columns):
        return list(columns)
    foreign = [c for c in header if c not in known]
    if foreign:
        raise InputError(f"results table {path} has other columns ({', '.join(header)[:80]!r}); move it away or "
                         "pass another --table")
    missing = [c for c in columns if c not in header]
    if not missing:
        return header
    union = header + missing
    reader = csv.reader(io.StringIO(_complete_text(path), newline=""))
    next(reader)
    with AtomicFile(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out.handle)
        writer.writerow(union)
        for row in reader:
            writer.writerow(row + [""] * (len(union) - len(row)))
    log.info("results table %s: added column(s) %s (empty in its earlier rows)", path, ", ".join(missing))
    return union


def _last_row(text: str, jsonl: bool) -> tuple[dict[str, str], int] | None:
    """The last complete row of a table's text and where it starts (a byte offset), or None."""
    if jsonl:
        lines = text.splitlines(keepends=True)
        if not lines:
            return None
        try:
            row = json.loads(lines[-1])
        except ValueError:
            return None
        return {k: "" if v is None else str(v) for k, v in row.items()}, len(text.encode()) - len(lines[-1].encode())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) < 2:
        return None
    line = csv_line(rows[-1])
    if not text.endswith(line):
        return None
    return dict(zip(rows[0], rows[-1])), len(text.encode()) - len(line.encode())


def drop_unfinished_row(path: Path, file_columns: Sequence[str], not_per_frame: Sequence[str] = ()) -> bool:
    """Cut the table's last row when a per-frame file it names is missing: the run was killed after the row and
    before its files (rows go first, so every file written has a row), and its frame counts as not done. Files
    ending in `not_per_frame` (a run's video, which a kill leaves for recovery) are not looked for."""
    if not path.is_file():
        return False
    found = _last_row(_complete_text(path), path.suffix.lower() in (".jsonl", ".ndjson"))
    if found is None:
        return False
    row, start = found
    named = [row[c] for c in file_columns if row.get(c) and not row[c].lower().endswith(tuple(not_per_frame))]
    missing = [name for name in named if not (path.parent / name).exists()]
    if not missing:
        return False
    os.truncate(path, start)
    log.warning("results table %s: dropped the last row (%s): the run was killed before writing %s", path,
                row.get("path") or row.get("name") or "a frame", ", ".join(missing))
    return True


NUMERIC = frozenset(("frame", "sky_fraction", "instances", "latency_ms", "pre_ms", "infer_ms", "post_ms",
                     "raw_sky_fraction", "conf", "iou", "cloud_fraction", "clear_fraction"))


def _cell(value: str, numeric: bool) -> Any:
    """A CSV cell as Excel should hold it: the numeric columns' values as numbers, everything else as text."""
    if not numeric or value == "":
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and value.lstrip("-").isdigit() else number


def write_xlsx(csv_path: Path, xlsx_path: Path) -> Path:
    """Derive the .xlsx from the durable CSV (every row of every run), written atomically."""
    try:
        import openpyxl
    except ImportError:
        raise MissingDependencyError("writing .xlsx tables needs openpyxl; `pip install openpyxl` or use .csv") \
            from None
    system_temp = tempfile.tempdir
    tempfile.tempdir = str(Path(xlsx_path).parent)  # openpyxl's sheet file (made with the sheet) beside the table
    try:
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("results")
        reader = csv.reader(io.StringIO(_complete_text(csv_path), newline=""))
        header = next(reader, [])
        sheet.append(header)
        numeric = [c in NUMERIC for c in header]
        for row in reader:
            sheet.append([_cell(v, n) for v, n in zip(row, numeric)])
        tmp = AtomicFile(xlsx_path, "wb")
        try:
            book.save(tmp.handle)
        except BaseException:
            tmp.discard()
            raise
    finally:
        tempfile.tempdir = system_temp
    return tmp.commit()


def import_xlsx(xlsx_path: Path, csv_path: Path) -> int:
    """Rows of an .xlsx written whole by an older version (no CSV beside it) into a new CSV, so a rerun keeps
    them; returns how many."""
    try:
        import openpyxl
    except ImportError:
        raise MissingDependencyError("reading .xlsx tables needs openpyxl; `pip install openpyxl`") from None
    try:
        sheet = openpyxl.load_workbook(xlsx_path, read_only=True).worksheets[0]
        rows = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    except Exception as err:  # a broken workbook: keep it aside, start the CSV fresh
        log.warning("cannot read the earlier table %s (%s); it stays, and the rows start again in %s", xlsx_path,
                    err, csv_path)
        return 0
    if not rows:
        return 0
    with AtomicFile(csv_path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out.handle).writerows(rows)
    log.info("results table %s: moved %d row(s) of %s into it", csv_path, len(rows) - 1, xlsx_path.name)
    return len(rows) - 1
