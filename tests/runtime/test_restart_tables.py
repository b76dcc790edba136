"""Reruns and kills of real `skyseg run` processes never replace results: an .xlsx table is derived from the CSV
beside it (a rerun adds rows; a SIGKILL's rows reach the .xlsx on the next start), and a static mask learned from
a whole night is not replaced by a restart's few frames."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from skyseg.runtime.bundled_model import bundled_model_path

FRAMES = 6


@pytest.fixture()
def night(gradient_night) -> Path:
    return gradient_night(FRAMES, 6)


def _skyseg(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "skyseg.cli.main", "run", *args, "--headless", "--threads", "1", "--model",
           str(bundled_model_path())]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _csv_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text()
    return list(csv.DictReader(text[: text.rfind("\n") + 1].splitlines()))


def _xlsx_rows(path: Path) -> list[tuple]:
    import openpyxl

    rows = list(openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
    return rows[1:]


def test_xlsx_is_derived_from_the_csv_and_never_loses_rows(night: Path, tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    out = tmp_path / "out"
    xlsx, durable = out / "results.xlsx", out / "results.csv"
    _finish(_skyseg(str(night), "--table", str(xlsx), "--masks", str(out / "masks")))
    assert len(_xlsx_rows(xlsx)) == FRAMES == len(_csv_rows(durable))

    _finish(_skyseg(str(night), "--table", str(xlsx)))  # a rerun adds its rows
    assert len(_xlsx_rows(xlsx)) == 2 * FRAMES

    many = tmp_path / "many"  # a long night, killed while it runs
    many.mkdir()
    for i in range(200):
        (many / f"g{i:03d}.png").write_bytes((night / f"f{i % FRAMES:02d}.png").read_bytes())
    killed = _skyseg(str(many), "--table", str(xlsx))
    deadline = time.monotonic() + 120
    while len(_csv_rows(durable)) < 2 * FRAMES + 3:
        assert killed.poll() is None and time.monotonic() < deadline, killed.stderr.read() if killed.stderr else ""
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert len(_xlsx_rows(xlsx)) == 2 * FRAMES  # the kill left the .xlsx as it was
    kept = len(_csv_rows(durable))

    restarted = _skyseg(str(many), "--table", str(xlsx))  # the next start rebuilds it, before its first frame
    deadline = time.monotonic() + 120
    while len(_xlsx_rows(xlsx)) < kept:
        assert restarted.poll() is None and time.monotonic() < deadline, "the .xlsx was not rebuilt on start"
        time.sleep(0.1)
    restarted.send_signal(signal.SIGKILL)
    restarted.wait(timeout=30)
    rows = _xlsx_rows(xlsx)
    assert len(rows) >= kept > 2 * FRAMES
    assert [r[3] for r in rows[:kept]] == [r["path"] for r in _csv_rows(durable)[:kept]]


def test_a_restart_keeps_the_static_mask_learned_from_more_frames(night: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _finish(_skyseg(str(night), "--save-dir", str(out), "--static-mask", "--prior", "off"))
    learned = (out / "static_mask.png").read_bytes()
    assert json.loads((out / "static_mask.json").read_text())["frames"] == FRAMES

    _finish(_skyseg(str(night), "--save-dir", str(out), "--static-mask", "--prior", "off", "--max-frames", "1"))
    assert (out / "static_mask.png").read_bytes() == learned  # one frame does not replace a night
    versions = list(out.glob("static_mask-*.png"))
    assert len(versions) == 1 and cv2.imread(str(versions[0]), 0).shape == (72, 96)
    assert json.loads((out / "static_mask.json").read_text())["frames"] == FRAMES

    _finish(_skyseg(str(night), "--save-dir", str(out), "--static-mask", "--prior", "off"))
    assert json.loads((out / "static_mask.json").read_text())["frames"] == FRAMES  # as many: the newer one
    assert len(list(out.glob("static_mask-*.png"))) == 1


def test_each_row_says_which_model_and_thresholds_made_it(night: Path, tmp_path: Path) -> None:
    """A threshold changed between frames (the dashboard's settings) shows in the rows after it."""
    import hashlib

    from skyseg.runtime.pipeline import Hooks, Pipeline, RunConfig

    table = tmp_path / "results.csv"
    config = RunConfig(source=str(night), model=str(bundled_model_path()), threads=1, table=str(table),
                       headless=True, prior="off", max_frames=3)
    pipeline = Pipeline(config)

    def probe(record) -> None:
        pipeline.segmenter.conf, pipeline.segmenter.iou = 0.5, 0.6

    pipeline.hooks = Hooks(probe=probe)
    with pipeline:
        pipeline.run()
    rows = _csv_rows(table)
    sha = hashlib.sha256(bundled_model_path().read_bytes()).hexdigest()[:16]
    assert [(r["model"], r["conf"], r["iou"]) for r in rows] == [(sha, "0.25", "0.7")] + [(sha, "0.5", "0.6")] * 2



def test_an_xlsx_table_keeps_openpyxl_temp_files_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl writes each sheet to a temporary file while it saves: those go beside the table, never to /tmp."""
    import tempfile

    from openpyxl.worksheet import _writer

    from skyseg.runtime.run.ledger import write_xlsx

    made: list[Path] = []
    real = _writer.NamedTemporaryFile

    def recording(*args, **kwargs):
        handle = real(*args, **kwargs)
        made.append(Path(handle.name))
        return handle

    monkeypatch.setattr(_writer, "NamedTemporaryFile", recording)
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.csv").write_text("frame,sky_fraction\n0,0.5\n1,0.25\n")
    before = tempfile.tempdir
    write_xlsx(out / "r.csv", out / "r.xlsx")
    assert made and all(p.parent == out for p in made), made
    assert tempfile.tempdir == before
    assert len(_xlsx_rows(out / "r.xlsx")) == 2
