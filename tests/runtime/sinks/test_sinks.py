"""Sinks: results tables (CSV/JSONL/XLSX) with error rows and atomic files, mask PNGs, static mask, annotation."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.sinks.annotate import Annotator
from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.sinks.masks import MaskSink
from skyseg.runtime.result import SegResult
from skyseg.runtime.sinks.base import FrameRecord
from skyseg.runtime.process.static_mask import StaticMaskSink
from skyseg.runtime.sinks.table import COLUMNS, TableSink

H, W = 48, 64


def _result(index: int, mask: np.ndarray, scores=(0.9, 0.4), path: str | None = None) -> SegResult:
    n = len(scores)
    boxes = np.tile(np.array([[2, 3, 40, 30]], np.float32), (n, 1))
    return SegResult(boxes=boxes, scores=np.array(scores, np.float32), class_ids=np.zeros(n), frame_hw=mask.shape,
                     index=index, source_id="night", path=path, timestamp=1_700_000_000.0 + index,
                     timings={"pre": 1.0, "infer": 10.0, "post": 2.5}, _sky=mask)


def _records() -> list[FrameRecord]:
    top = np.zeros((H, W), bool)
    top[: H // 2] = True
    return [
        FrameRecord(frame=Frame(np.zeros((H, W, 3), np.uint8), 0, "night", 1.7e9, "/n/a.png"), result=_result(0, top, path="/n/a.png")),
        FrameRecord(error=FrameError(1, "night", "/n/b.png", "corrupt PNG: bad IHDR", 1_700_000_001.0)),
        FrameRecord(frame=Frame(np.zeros((H, W, 3), np.uint8), 2, "night", 1.7e9, "/n/c.fits.gz"), result=_result(2, ~top, scores=(0.7,), path="/n/c.fits.gz")),
    ]


def _check_rows(rows: list[dict]) -> None:
    assert [r["frame"] for r in rows] == [0, 1, 2]
    assert rows[0]["sky_fraction"] == pytest.approx(0.5) and rows[0]["instances"] == 2
    assert rows[0]["latency_ms"] == pytest.approx(13.5) and rows[0]["infer_ms"] == pytest.approx(10.0)
    assert rows[0]["path"] == "/n/a.png" and rows[0]["source"] == "night" and rows[0]["error"] in ("", None)
    assert rows[0]["time"].startswith("2023-11-14T22:13:20")
    assert rows[1]["error"] == "corrupt PNG: bad IHDR" and rows[1]["sky_fraction"] in ("", None)
    assert rows[1]["path"] == "/n/b.png"
    assert rows[2]["instances"] == 1


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_table_formats_hold_the_right_rows(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"results{suffix}"
    sink = TableSink(path)
    records = _records()
    for rec in records:
        sink.write(rec)
    durable = path.with_suffix(".csv") if suffix == ".xlsx" else path  # an .xlsx is derived from NAME.csv at close
    if suffix == ".xlsx":
        assert not path.exists()
    # durable: every finished row is already in the table (or the CSV an .xlsx derives from): a kill loses nothing
    lines = durable.read_text().splitlines()
    assert len(lines) == len(records) + (0 if suffix == ".jsonl" else 1)
    sink.close()
    sink.close()  # idempotent
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    assert sink.outputs() == ([durable, path] if suffix == ".xlsx" else [path])
    if suffix == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert tuple(rows[0]) == COLUMNS
        for r in rows:
            for k in ("frame", "instances"):
                r[k] = int(r[k]) if r[k] else r[k]
            for k in ("sky_fraction", "latency_ms", "infer_ms"):
                r[k] = float(r[k]) if r[k] else r[k]
        assert rows[0]["scores"] == "0.9000 0.4000"
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows[0]["scores"] == [0.9, 0.4] and rows[1]["scores"] is None
    else:
        import openpyxl

        sheet = openpyxl.load_workbook(path, read_only=True)["results"]
        values = list(sheet.iter_rows(values_only=True))
        assert values[0] == COLUMNS
        rows = [dict(zip(COLUMNS, v)) for v in values[1:]]
        assert rows[0]["scores"] == "0.9000 0.4000"
    _check_rows(rows)


def test_table_discard_and_bad_suffix(tmp_path: Path) -> None:
    sink = TableSink(tmp_path / "t.csv")
    sink.write(_records()[0])
    sink.discard()  # an interrupted run keeps the rows it finished
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 2
    xlsx = TableSink(tmp_path / "x.xlsx")
    xlsx.write(_records()[0])
    xlsx.discard()  # the row stays in the CSV the .xlsx is derived from, and reaches the .xlsx at the next start
    assert not (tmp_path / "x.xlsx").exists() and len((tmp_path / "x.csv").read_text().splitlines()) == 2
    with pytest.raises(InputError, match=r"results table t.txt: unknown format; use .csv, .jsonl or .xlsx"):
        TableSink(tmp_path / "t.txt")


def test_mask_sink_writes_full_size_8bit_png(tmp_path: Path) -> None:
    sink = MaskSink(tmp_path / "masks")
    records = _records()
    for rec in records:
        sink.write(rec)
    sink.close()
    names = sorted(p.name for p in sink.outputs())
    assert names == ["a_mask.png", "c_mask.png"]  # no file for the error record; .fits.gz stripped
    png = cv2.imread(str(tmp_path / "masks" / "a_mask.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (H, W)
    assert set(np.unique(png)) == {0, 255}
    assert np.array_equal(png == 255, records[0].result.sky_mask)
    assert not list((tmp_path / "masks").glob(".*"))


def test_static_mask_keeps_pixels_sky_in_enough_frames(tmp_path: Path) -> None:
    sink = StaticMaskSink(tmp_path / "static.png", min_share=0.8)
    stable = np.zeros((H, W), bool)
    stable[:20] = True
    for i in range(10):
        mask = stable.copy()
        mask[20:30] = ((i + np.arange(W)) % 10 < 7)[None, :]  # clouds/lights: each pixel sky in 7 of 10 frames
        if i == 3:
            mask[:5] = False  # one cloudy frame over part of the stable sky: 9/10 ≥ 0.8 keeps it
        sink.write(FrameRecord(result=_result(i, mask)))
    sink.write(FrameRecord(result=_result(10, np.ones((10, 10), bool))))  # a frame of another size is not counted
    sink.close()
    png = cv2.imread(str(tmp_path / "static.png"), cv2.IMREAD_UNCHANGED)
    assert sink.frames == 10 and sink.skipped == 1
    assert np.array_equal(png == 255, stable)


def test_annotator_tints_sky_only_and_keeps_size() -> None:
    rgb = np.full((H, W, 3), 50, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[30:, 40:] = True
    res = SegResult(boxes=np.zeros((0, 4)), scores=[], class_ids=[], frame_hw=(H, W), _sky=mask)
    out = Annotator(alpha=0.5, text=False).draw(rgb, res, fps=12.0)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], rgb[~mask])  # nothing drawn outside the sky (no boxes, no text)
    expected = (0.5 * 50 + 0.5 * np.array([40, 160, 255])).round()
    assert np.abs(out[mask].astype(int) - expected).max() <= 1
    assert np.array_equal(rgb, np.full((H, W, 3), 50, np.uint8))  # the input is untouched


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_files_get_plain_new_file_permissions(tmp_path: Path, umask: int) -> None:
    """mkstemp creates 0600 files; renamed into place they must read like any new file (a service user reading a
    model or table written by its owner), i.e. 0666 less the umask."""
    import os

    from skyseg.runtime.atomic_file import write_bytes_atomic

    old = os.umask(umask)
    try:
        out = write_bytes_atomic(tmp_path / "model.onnx", b"x")
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o666 & ~umask and out.read_bytes() == b"x"


def test_table_continues_across_runs_and_repairs_a_killed_one(tmp_path: Path) -> None:
    """A restart into the same table appends; a half-written last row and an older version's temp leftover are
    recovered; a table with other columns is refused before anything is written."""
    path = tmp_path / "results.csv"
    records = _records()
    first = TableSink(path)
    for rec in records:
        first.write(rec)
    first.discard()  # as a SIGTERM'd run does
    with path.open("a") as fh:
        fh.write("7,2026-12-02T01:00:00")  # the row a SIGKILL cut in half
    header = path.read_bytes().split(b"\n", 1)[0] + b"\n"  # csv's own row end (\r\n)
    (tmp_path / ".results.csv.abc123.tmp").write_bytes(header + b"99,,cam,old.fits,,,,,,,,\r\n100,,cam,half")
    second = TableSink(path)
    second.write(records[0])
    second.close()
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["frame"] for r in rows] == [str(r.result.index if r.result else r.error.index) for r in records] + [
        "99", str(records[0].result.index if records[0].result else records[0].error.index)]
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="other.csv has other columns"):
        TableSink(tmp_path / "other.csv")
    assert (tmp_path / "other.csv").read_text() == "a,b\n1,2\n"
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match="dir.csv is a folder"):
        TableSink(tmp_path / "dir.csv")


def test_a_row_whose_mask_a_kill_left_unwritten_is_dropped_on_restart(tmp_path: Path) -> None:
    """Rows go before their files; the next start cuts a last row naming a missing per-frame file (the frame the
    kill interrupted), keeps one whose files are there, and never looks for a run's video."""
    from skyseg.runtime.sinks.naming import FILES_KEY, NAME_KEY

    table = tmp_path / "results.csv"
    names = ["a", "b", "c"]
    records = _records()
    sink = TableSink(table)
    for rec, name in zip(records, names):
        rec.extra[NAME_KEY] = name
        if rec.ok:
            rec.extra[FILES_KEY] = {"mask_file": tmp_path / "masks" / f"{name}_mask.png",
                                    "annotated_file": tmp_path / "annotated.mp4"}
            (tmp_path / "masks").mkdir(exist_ok=True)
        sink.write(rec)
    (tmp_path / "masks" / "a_mask.png").write_bytes(b"mask")  # c's mask was never written: killed there
    sink.discard()
    with table.open(newline="") as fh:
        assert [r["mask_file"] for r in csv.DictReader(fh)] == ["masks/a_mask.png", "", "masks/c_mask.png"]
    again = TableSink(table)
    assert set(again.used) == {"a"}  # c is not done, b an error row without files: their names stay free
    again.close()
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["a", "b"] and rows[0]["annotated_file"] == "annotated.mp4"
    TableSink(table).close()  # a's mask is there (the video is not looked for): nothing more is cut
    assert len(table.read_text().splitlines()) == 3
