"""Restarts into the same save dir, with real `skyseg run` processes and real signals: stream frames are named by
run, so nothing is overwritten; every row names its files and every file has its row; a watched folder resumes from
its table (frames that arrived while it was down are done, none twice) and a rewritten `latest.png` is one row and
one mask per capture."""
from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from skyseg.runtime.bundled_model import bundled_model_path

STREAM = "test://sky?n={n}&seed=5&w=160&h=120"


def _skyseg(*args: str) -> subprocess.Popen[str]:
    """The CLI in a child process; its log goes to a temp file (a pipe nobody reads until the end can fill up and
    stall a long-running watch on its next log line)."""
    cmd = [sys.executable, "-m", "skyseg.cli.main", "run", *args, "--headless", "--threads", "1", "--model",
           str(bundled_model_path())]
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _log(proc: subprocess.Popen[str]) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def _rows(out: Path) -> list[dict[str, str]]:
    table = out / "results.csv"
    if not table.is_file():
        return []
    text = table.read_text()
    text = text[: text.rfind("\n") + 1]  # a row being written is not one yet
    return list(csv.DictReader(text.splitlines()))


def _wait(proc: subprocess.Popen[str], done, what: str, timeout: float = 120) -> None:
    """Until `done()`; on failure the child is killed (never left running) and its log is in the message."""
    deadline = time.monotonic() + timeout
    while not done():
        failure = (f"skyseg ended before {what}" if proc.poll() is not None else
                   f"no {what} in {timeout:g} s" if time.monotonic() >= deadline else None)
        if failure:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{failure}: {_log(proc)[-4000:]}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    proc.send_signal(sig)
    proc.wait(timeout=60)
    err = _log(proc)
    assert proc.returncode == (0 if sig == signal.SIGTERM else -signal.SIGKILL), err
    return err


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder.parent).as_posix() for p in folder.rglob("*") if p.is_file()}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _consistent(out: Path) -> list[dict[str, str]]:
    """Every row names its mask and the mask is there; every mask is named by exactly one row."""
    rows = _rows(out)
    named = [r["mask_file"] for r in rows if r["error"] == ""]
    assert all(named) and len(set(named)) == len(named), named
    assert set(named) == _files(out / "masks"), (sorted(named), sorted(_files(out / "masks")))
    assert len({r["name"] for r in rows}) == len(rows)
    return rows


def test_stream_restarts_never_overwrite_and_rows_name_their_masks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _skyseg(STREAM.format(n=3), "--save-dir", str(out))
    assert first.wait(timeout=300) == 0, _log(first)
    before = {p: _digest(out / p) for p in _files(out / "masks")}
    assert len(before) == 3

    killed = _skyseg(STREAM.format(n=500), "--save-dir", str(out))  # the same frames again, killed mid-stream
    _wait(killed, lambda: len(_files(out / "masks")) >= 6, "masks of the second run")
    _stop(killed, signal.SIGKILL)
    again = _skyseg(STREAM.format(n=3), "--save-dir", str(out))
    assert again.wait(timeout=300) == 0, _log(again)

    rows = _consistent(out)
    assert {p: _digest(out / p) for p in before} == before  # the first run's masks are untouched
    runs = {r["name"].rsplit("_", 1)[0] for r in rows}
    assert len(runs) == 3 and len(rows) >= 9, runs  # three run ids, each frame its own name
    assert all(r["model"] and r["conf"] == "0.25" and r["iou"] == "0.7" for r in rows)


def _frame(path: Path, value: int, mtime: float) -> None:
    """A frame that appears whole under its name with its capture time already set (written as a hidden temp file,
    dated, then renamed): a watch never sees it under its final name with another time."""
    img = np.random.default_rng(value).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    cv2.imwrite(str(tmp), img)
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def test_a_watched_folder_resumes_from_its_table(tmp_path: Path) -> None:
    """Killed with SIGKILL, restarted: the frames written while it was down are done, none twice; a file from
    before the first start stays skipped; a sub-folder is named in a warning, then taken with --recursive, and
    --watch-existing takes the old file, still nothing twice."""
    night, out = tmp_path / "night", tmp_path / "out"
    (night / "2026-03-01").mkdir(parents=True)
    now = time.time()
    _frame(night / "before.png", 1, now - 1000)  # there before the first start
    _frame(night / "2026-03-01" / "dated.png", 2, now - 900)
    watch = _skyseg(str(night), "--watch", "--save-dir", str(out))
    _wait(watch, (out / "results.csv").is_file, "the table (the watch is open)")
    for i in range(3):
        _frame(night / f"f{i}.png", 10 + i, now - 300 + i)
    _wait(watch, lambda: len(_rows(out)) == 3, "rows of the first three frames")
    _stop(watch, signal.SIGKILL)
    for i in range(3, 6):  # while it is down
        _frame(night / f"f{i}.png", 10 + i, now - 200 + i)

    watch = _skyseg(str(night), "--watch", "--save-dir", str(out))
    _wait(watch, lambda: len(_rows(out)) == 6, "rows of the frames written while it was down")
    _frame(night / "f6.png", 16, now - 100)
    _wait(watch, lambda: len(_rows(out)) == 7, "the row of a frame written after the restart")
    err = _stop(watch)
    assert "2026-03-01 are ignored; pass --recursive" in err
    rows = _consistent(out)
    assert [Path(r["path"]).name for r in rows] == [f"f{i}.png" for i in range(7)]

    watch = _skyseg(str(night), "--watch", "--recursive", "--watch-existing", "--save-dir", str(out))
    _wait(watch, lambda: len(_rows(out)) == 9, "rows of the dated and the old frame")
    time.sleep(2.5)  # a poll more: nothing else is taken
    _stop(watch)
    rows = _consistent(out)
    assert sorted(Path(r["path"]).name for r in rows[7:]) == ["before.png", "dated.png"] and len(rows) == 9
    assert "masks/2026-03-01/dated_mask.png" in {r["mask_file"] for r in rows}


def test_a_row_a_kill_left_without_its_files_is_done_again_by_the_restarted_watch(tmp_path: Path) -> None:
    """A kill between a frame's row and its files (rows go first) leaves the state made here; the restart cuts that
    row before the watch reads the table, so the frame is done again: one row, with its mask."""
    night, out = tmp_path / "night", tmp_path / "out"
    night.mkdir()
    now = time.time()
    watch = _skyseg(str(night), "--watch", "--save-dir", str(out))
    _wait(watch, (out / "results.csv").is_file, "the table (the watch is open)")
    for i in range(2):
        _frame(night / f"f{i}.png", 20 + i, now - 100 + i)
    _wait(watch, lambda: len(_rows(out)) == 2, "rows of two frames")
    _stop(watch)
    last = _rows(out)[-1]
    for column in ("mask_file", "annotated_file"):
        (out / last[column]).unlink()

    watch = _skyseg(str(night), "--watch", "--save-dir", str(out))
    _wait(watch, (out / last["mask_file"]).is_file, "the mask of the frame done again")
    err = _stop(watch)
    assert "dropped the last row" in err
    rows = _consistent(out)
    assert [Path(r["path"]).name for r in rows] == ["f0.png", "f1.png"]
    assert (out / last["annotated_file"]).is_file()


def test_latest_rewritten_across_a_restart_is_one_row_and_one_mask_per_capture(tmp_path: Path) -> None:
    night, out = tmp_path / "night", tmp_path / "out"
    night.mkdir()
    now = time.time()
    watch = _skyseg(str(night), "--watch", "--save-dir", str(out))
    _wait(watch, (out / "results.csv").is_file, "the table (the watch is open)")
    _frame(night / "latest.png", 1, now - 60)
    _wait(watch, lambda: len(_rows(out)) == 1, "the row of the first capture")
    _stop(watch)
    _frame(night / "latest.png", 2, now - 30)  # the camera goes on while skyseg restarts

    watch = _skyseg(str(night), "--watch", "--save-dir", str(out))
    _wait(watch, lambda: len(_rows(out)) == 2, "the row of the second capture")
    _frame(night / "latest.png", 3, now - 10)
    _wait(watch, lambda: len(_rows(out)) == 3, "the row of the third capture")
    time.sleep(2.5)
    _stop(watch)
    rows = _consistent(out)
    assert len(rows) == 3 and len(_files(out / "masks")) == 3
    assert rows[0]["mask_file"] == "masks/latest_mask.png"
    assert len({r["file_mtime"] for r in rows}) == 3
