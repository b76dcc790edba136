"""The cloud-label viewer: grid and contrast views of a real frame, a label proposal whose circle comes from the
sky mask and whose `none` regions are the mostly-not-sky ones, and the label file's circle once one exists."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from skyseg.label.cloud_grid import main


@pytest.fixture()
def dataset(realsky_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    for sub in ("images/val", "masks/val"):
        (root / sub).mkdir(parents=True)
    shutil.copy(realsky_dir / "magic_20180817_0055.fits", root / "images" / "val")
    shutil.copy(realsky_dir.parent.parent / "masks" / "val" / "magic_20180817_0055.png", root / "masks" / "val")
    return root


def test_views_and_proposal_from_the_sky_mask(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(dataset), "-o", str(out)]) == 0
    grid = cv2.imread(str(out / "magic_20180817_0055_grid.png"))
    enh = cv2.imread(str(out / "magic_20180817_0055_enh.png"))
    assert grid is not None and enh is not None and max(grid.shape[:2]) == 1000
    proposal = json.loads((out / "magic_20180817_0055.json").read_text())
    assert len(proposal["regions"]) == 33 and proposal["regions"][25] == "none"  # the dome covers region 25
    circle = proposal["circle"]
    assert abs(circle["cx"] - 714) < 5 and abs(circle["cy"] - 558) < 5 and abs(circle["r"] - 484) < 5


def test_the_label_file_circle_is_used_once_it_exists(dataset: Path, tmp_path: Path) -> None:
    (dataset / "clouds").mkdir()
    label = {"circle": {"cx": 700.0, "cy": 500.0, "r": 300.0}, "regions": ["clear"] * 33, "notes": "test"}
    (dataset / "clouds" / "magic_20180817_0055.json").write_text(json.dumps(label))
    out = tmp_path / "out"
    assert main([str(dataset), "-o", str(out), "--crop", "400", "200", "1000", "800"]) == 0
    assert (out / "magic_20180817_0055_grid_crop.png").is_file()
    assert not (out / "magic_20180817_0055.json").exists()  # no proposal for a labelled frame


def test_no_frames_is_one_sentence(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "no frames found" in capsys.readouterr().err
