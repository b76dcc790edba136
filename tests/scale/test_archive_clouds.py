"""`skyseg archive --clouds` on a real local Ray: cloud maps beside the masks and cloud columns in the night's table,
the same values `skyseg run --clouds` writes."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2

from skyseg.runtime.bundled_model import bundled_model_path

MODEL = bundled_model_path()



def test_archive_measures_clouds(tmp_path: Path, local_ray, realsky_dir: Path) -> None:
    from skyseg.scale.archive import run_archive

    night = tmp_path / "night"
    night.mkdir()
    for name in ("cta_cloudy.fits.gz", "magic_20180817_0055.fits"):
        shutil.copy(realsky_dir / name, night / name)
    assert run_archive(night, tmp_path / "out", str(MODEL), actors=1, clouds=True)["frames"] == 2
    tables = sorted((tmp_path / "out" / "nights").glob("*.csv"))  # each frame in the night of its DATE-OBS
    assert len(tables) == 2
    rows = {Path(r["path"]).name: r for table in tables for r in csv.DictReader(open(table))}
    assert float(rows["cta_cloudy.fits.gz"]["cloud_fraction"]) > 0.8
    assert float(rows["magic_20180817_0055.fits"]["cloud_fraction"]) < 0.05
    for stem in ("cta_cloudy", "magic_20180817_0055"):
        cloud = cv2.imread(str(tmp_path / "out" / "clouds" / f"{stem}_clouds.png"), cv2.IMREAD_GRAYSCALE)
        sky = cv2.imread(str(tmp_path / "out" / "masks" / f"{stem}_mask.png"), cv2.IMREAD_GRAYSCALE)
        assert cloud is not None and not ((cloud > 0) & (sky == 0)).any()
