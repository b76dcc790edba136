"""A real `skyseg run` killed with SIGKILL keeps a table row for every mask it wrote; a rerun continues the table."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from skyseg.runtime.bundled_model import bundled_model_path

FRAMES = 30


@pytest.fixture()
def night(tmp_path: Path) -> Path:
    from skyseg.synth import render_scene

    folder = tmp_path / "night"
    folder.mkdir()
    for i in range(FRAMES):
        img = render_scene(300 + i, kind="allsky", size=(320, 240)).image
        cv2.imwrite(str(folder / f"f{i:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return folder


def _run(night: Path, out: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "skyseg.cli.main", "-q", "run", str(night), "--save-dir", str(out), "--headless",
           "--threads", "1", "--model", str(bundled_model_path())]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rows(table: Path) -> list[dict[str, str]]:
    with table.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_sigkill_keeps_every_finished_row_and_a_rerun_continues(night: Path, tmp_path: Path, sigkill_after) -> None:
    out = tmp_path / "out"
    sigkill_after(_run(night, out), out / "masks", "*_mask.png", 5)
    masks = {p.name[: -len("_mask.png")] for p in (out / "masks").glob("*_mask.png")}
    rows = _rows(out / "results.csv")
    stems = [Path(r["path"]).stem for r in rows]
    assert masks and masks <= set(stems), (masks, stems)  # the table has the row of every mask written
    assert len(stems) < FRAMES  # it really was killed mid-night
    killed_rows = len(rows)

    again = _run(night, out)
    assert again.wait(timeout=300) == 0, again.stderr.read().decode() if again.stderr else ""
    rows = _rows(out / "results.csv")
    assert len(rows) == killed_rows + FRAMES  # continued, not replaced
    assert [Path(r["path"]).stem for r in rows[killed_rows:]] == [f"f{i:03d}" for i in range(FRAMES)]
    assert all(r["error"] == "" for r in rows)
    assert not list(out.glob(".*.tmp"))


def test_a_rerun_never_replaces_a_video(tmp_path: Path) -> None:
    from skyseg.runtime.sinks.video_recovery import free_name as _free_name

    video = tmp_path / "annotated.mp4"
    assert _free_name(video) == video
    video.write_bytes(b"night one")
    (tmp_path / "annotated.1.mp4").write_bytes(b"night two")
    assert _free_name(video) == tmp_path / "annotated.2.mp4"


def test_a_run_with_unreadable_frames_exits_5(night: Path, tmp_path: Path) -> None:
    """Regression: a run in which frames failed exited 0."""
    (night / "f999.png").write_bytes(b"\x89PNG truncated")
    out = tmp_path / "out"
    proc = _run(night, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 5, err.decode()
    assert f"finished, but 1 of {FRAMES + 1} frame(s) failed" in err.decode().replace("-q ", "")
    rows = _rows(out / "results.csv")
    assert len(rows) == FRAMES + 1 and rows[-1]["error"] != ""
