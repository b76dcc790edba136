"""`skyseg bench soak`: the whole run path on a looped folder, with RSS sampled as it goes (numbers, not timing)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from skyseg.bench.soak import SoakReport, main


def test_soak_runs_every_frame_through_every_sink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "30", "--every", "5", "--size", "320", "180", "--keep", str(tmp_path)]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].strip("|").split("|")
    frames, errors, files = int(row[0]), int(row[1]), int(row[-1])
    assert (frames, errors) == (30, 0)
    out = tmp_path / "out"
    # the frames looped: 12 files read 30 times; a frame is named by its file, so 12 masks and 30 rows, each row
    # naming a mask that exists
    masks = {p.name for p in (out / "masks").glob("*.png")}
    assert len(masks) == 12
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 30 and all(Path(r["mask_file"]).name in masks for r in rows)
    assert files >= 31 and math.isfinite(float(row[-2]))


def test_growth_is_the_slope_after_warm_up() -> None:
    samples = [(0, 50_000)] + [(n, 100_000 + n * 2) for n in range(100, 1001, 100)]  # 2 KiB per frame, noisy start
    report = SoakReport(frames=1000, errors=0, seconds=1.0, samples=samples)
    assert report.growth_kib_per_1000() == pytest.approx(2000.0)
