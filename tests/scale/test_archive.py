"""`skyseg archive` on a real local Ray (2 CPUs): masks equal to `skyseg run --masks` pixel for pixel, resume
skips done frames, a corrupt frame is a row with its error, one table per night."""
from __future__ import annotations

import csv
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.pipeline import RunConfig, run

MODEL = bundled_model_path()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is in the 'scale' extra that install.sh installs")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    ray.init(num_cpus=2, include_dashboard=False)
    for sig, handler in handlers.items():  # ray.init's SIGTERM handler sys.exit()s the whole test process, so a
        signal.signal(sig, handler)        # later SIGTERM test (a watch folder's) failed after this module
    yield ray
    ray.shutdown()


def test_archive_matches_run_and_resumes(tmp_path: Path, local_ray, realsky_dir: Path) -> None:
    from astropy.io import fits

    from skyseg.runtime.process.preprocess import to_rgb8
    from skyseg.scale.archive import run_archive

    night = tmp_path / "night"
    night.mkdir()
    base = to_rgb8(np.squeeze(fits.getdata(realsky_dir / "iceact_starry.fits")))
    for i in range(4):
        cv2.imwrite(str(night / f"image-{i:04d}.png"), cv2.resize(np.roll(base, 29 * i, axis=1), (160, 120)))
    (night / "image-0009.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    run(RunConfig(source=str(night), model=str(MODEL), threads=1, masks=str(tmp_path / "run"), headless=True,
                  prior="off"))  # the archive writes the model's own masks: compare like with like

    counts = run_archive(night, tmp_path / "out", str(MODEL), actors=1)
    assert counts == {"frames": 4, "skipped": 0, "errors": 1}
    assert (tmp_path / "out" / "manifest.parquet").is_file()
    ours = sorted((tmp_path / "out" / "masks").glob("*.png"))
    theirs = sorted((tmp_path / "run").glob("*.png"))
    assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) == 4
    for a, b in zip(ours, theirs):
        assert np.array_equal(cv2.imread(str(a), 0), cv2.imread(str(b), 0))
    tables = list((tmp_path / "out" / "nights").glob("*.csv"))
    assert len(tables) == 1
    rows = list(csv.DictReader(open(tables[0])))
    assert len(rows) == 5
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("image-0009.png") and not bad[0]["mask"]

    again = run_archive(tmp_path / "out" / "manifest.parquet", tmp_path / "out", str(MODEL), actors=1)
    assert again["skipped"] == 4 and again["frames"] == 0 and again["errors"] == 1  # only the corrupt one retried
