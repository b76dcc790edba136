"""Low disk, made real on a small tmpfs: annotated pictures stop first, masks below half the threshold, the table
never — a real `skyseg run` finishes (exit 0) with every row, one warning per step and nothing half-written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.bundled_model import bundled_model_path

FRAMES = 40


@pytest.fixture()
def small_disk(tmp_path: Path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


@pytest.fixture()
def noisy_night(tmp_path: Path) -> Path:
    folder = tmp_path / "night"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(FRAMES):  # noise: annotated JPEGs of ~150 kB each, so 3 MB fill after a dozen frames
        cv2.imwrite(str(folder / f"f{i:02d}.png"), (rng.random((360, 640, 3)) * 255).astype(np.uint8))
    return folder


@pytest.mark.parametrize(("min_free", "pictures", "masks"), [
    ("1.5", "some", "all"),  # 3 MB disk: pictures stop below 1.5 MB free, masks (below 0.75 MB) never need to
    ("8", "none", "none"),  # below both thresholds (8 and 4 MB) from the start: only the table is written
])
def test_low_disk_stops_pictures_then_masks_never_the_table(small_disk: Path, noisy_night: Path, min_free: str,
                                                            pictures: str, masks: str) -> None:
    out = small_disk / "out"
    done = subprocess.run([sys.executable, "-m", "skyseg.cli.main", "run", str(noisy_night), "--save-dir", str(out),
                           "--headless", "--threads", "1", "--prior", "off", "--min-free", min_free,
                           "--model", str(bundled_model_path())], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    rows = (out / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == FRAMES  # the table never stops
    annotated = len(list((out / "annotated").glob("*.jpg")))
    written_masks = len(list((out / "masks").glob("*.png")))
    assert {"some": 0 < annotated < FRAMES, "none": annotated == 0}[pictures], annotated
    assert {"all": written_masks == FRAMES, "none": written_masks == 0}[masks], written_masks
    warnings = [line for line in done.stderr.splitlines() if "low disk:" in line]
    assert len(warnings) == (1 if masks == "all" else 2), warnings
    assert "no more annotated pictures are written" in warnings[0]
    assert [p for p in out.rglob(".*") if p.is_file()] == []
