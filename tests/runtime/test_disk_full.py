"""A full disk made real: a real `skyseg run` under RLIMIT_FSIZE (writes past the limit fail with EFBIG, as a full
disk fails with ENOSPC) and, where this user may mount, on a small tmpfs. The run ends in one sentence naming the
path, keeps the rows of every finished frame, leaves nothing half-written, and a rerun continues the table."""
from __future__ import annotations

import csv
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.sinks.table import COLUMNS as TABLE_COLUMNS

FRAMES = 8
COLUMNS = len(TABLE_COLUMNS)  # results.csv columns


@pytest.fixture()
def night(gradient_night) -> Path:
    return gradient_night(FRAMES, 8)


def _run(night: Path, out: Path, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    cmd = [sys.executable, "-m", "skyseg.cli.main", "-q", "run", str(night), "--masks", str(out / "masks"),
           "--table", str(out / "results.csv"), "--headless", "--threads", "1", "--model", str(bundled_model_path()),
           "--min-free", "0"]  # the disk really fills: the low-disk guard (test_low_disk.py) is off
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, preexec_fn=limit)


def _rows(table: Path) -> list[list[str]]:
    text = table.read_text()
    assert text.endswith("\n"), "the table ends in a half-written row"
    rows = list(csv.reader(text.splitlines()))
    assert rows[0][0] == "frame" and all(len(r) == COLUMNS for r in rows), rows
    return rows[1:]


def _hidden(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.is_file()]


def test_table_past_the_file_size_limit_is_one_sentence_and_keeps_every_finished_row(night: Path,
                                                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    # room for the header and 2–3 rows, whatever the temp folder's name (each row holds the input path twice);
    # masks (~200 B) always fit
    row = 2 * len(str(night / "f00.png")) + 130
    done = _run(night, out, fsize=len(",".join(TABLE_COLUMNS)) + 2 + int(2.5 * row))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert f"cannot write {out / 'results.csv'}: File too large" in last and "the table keeps their rows" in last
    rows = _rows(out / "results.csv")  # complete rows only: the one cut by the limit was removed
    assert 1 <= len(rows) < FRAMES
    masks = {p.name[: -len("_mask.png")] for p in (out / "masks").glob("*_mask.png")}
    assert masks <= {Path(r[3]).stem for r in rows}  # every mask on disk has its row
    assert _hidden(out) == []
    again = _run(night, out)  # space again: the rerun continues the same table
    assert again.returncode == 0, again.stderr
    rows2 = _rows(out / "results.csv")
    assert rows2[: len(rows)] == rows and len(rows2) == len(rows) + FRAMES
    assert len(list((out / "masks").glob("*_mask.png"))) == FRAMES


def test_masks_on_a_full_tmpfs(night: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers the same path")
    try:
        out = mnt / "out"
        done = _run(night, out)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert f"cannot write {out}" in last and "No space left on device" in last, last
        rows = _rows(out / "results.csv")
        masks = {p.name[: -len("_mask.png")] for p in (out / "masks").glob("*_mask.png")}
        assert len(masks) < FRAMES and masks <= {Path(r[3]).stem for r in rows}
        assert _hidden(out) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
