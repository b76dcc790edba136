"""The night's rows as downloads: CSV and Excel, in the results table's columns (`runtime.sinks.table.COLUMNS`).

These are views of the rows the page holds (live frames and uploads together). The durable tables on disk are
still written by the runtime's own sinks (SAVE_DIR/results.csv, SAVE_DIR/uploads/*/results.csv).
"""
from __future__ import annotations

import csv
import io
from typing import Any, Sequence

from skyseg.runtime.run.ledger import NUMERIC  # the table's numeric columns: numbers (or empty) in Excel
from skyseg.runtime.sinks.table import COLUMNS


def _columns(rows: Sequence[Sequence[Any]]) -> tuple[str, ...]:
    """The table's columns, plus cloud_fraction when the rows carry it (a run with --clouds)."""
    return COLUMNS + ("cloud_fraction",) if any(len(r) > len(COLUMNS) for r in rows) else COLUMNS


def rows_to_csv(rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = _columns(rows)
    writer.writerow(columns)
    writer.writerows(list(r) + [""] * (len(columns) - len(r)) for r in rows)
    return buffer.getvalue().encode("utf-8")


def rows_to_xlsx(rows: Sequence[Sequence[Any]]) -> bytes:
    """An .xlsx workbook with one sheet `results` (numbers as numbers, empty cells left empty)."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("results")
    columns = _columns(rows)
    sheet.append(list(columns))
    numeric = [c in NUMERIC for c in columns]
    for row in rows:
        row = list(row) + [""] * (len(columns) - len(row))
        sheet.append([None if v == "" and is_num else v for v, is_num in zip(row, numeric)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row_to_json(kept: Any) -> dict[str, Any]:
    """A kept row (`live_state.Kept`) for the page: the table's columns plus `seq` and `received` (epoch s)."""
    out: dict[str, Any] = dict(zip(COLUMNS, kept.values))
    out["seq"], out["received"] = kept.seq, round(kept.received, 3)
    if getattr(kept, "cloud", "") != "":
        out["cloud_fraction"] = kept.cloud
    return out
