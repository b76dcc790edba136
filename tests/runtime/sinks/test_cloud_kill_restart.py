"""A real `skyseg run --clouds` killed with SIGKILL: every cloud map it wrote has its table row with cloud values,
nothing half-written is left, and a rerun continues the same table."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2

from skyseg.runtime.bundled_model import bundled_model_path

FRAMES = 24


def _run(night: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "skyseg.cli.main", "-q", "run", str(night), "--save-dir", str(out), "--headless",
           "--threads", "1", "--model", str(bundled_model_path()), "--clouds"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rows(table: Path) -> list:
    with table.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_sigkill_keeps_a_row_for_every_cloud_map(tmp_path: Path, sigkill_after) -> None:
    from skyseg.synth.clouds import render_cloudy_sky

    night = tmp_path / "night"
    night.mkdir()
    for i in range(FRAMES):
        scene = render_cloudy_sky(40, "lit", size=(320, 320), cover=0.3, sky_seed=i)
        cv2.imwrite(str(night / f"f{i:03d}.png"), scene.image)
    out = tmp_path / "out"
    sigkill_after(_run(night, out), out / "clouds", "*_clouds.png", 4)
    maps = {p.name[: -len("_clouds.png")] for p in (out / "clouds").glob("*_clouds.png")}
    rows = _rows(out / "results.csv")
    assert maps <= {Path(r["path"]).stem for r in rows} and len(rows) < FRAMES
    assert all(r["cloud_fraction"] != "" for r in rows)
    killed = len(rows)

    again = _run(night, out)
    assert again.wait(timeout=300) == 0, again.stderr.read().decode() if again.stderr else ""
    rows = _rows(out / "results.csv")
    assert len(rows) == killed + FRAMES and all(0.0 <= float(r["cloud_fraction"]) <= 1.0 for r in rows)
    assert len(list((out / "clouds").glob("*_clouds.png"))) >= FRAMES  # a rerun may keep the killed run's maps too
    assert not list(out.rglob(".*.tmp"))
