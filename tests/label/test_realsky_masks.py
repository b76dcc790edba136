"""The real datasets' masks (realsky, realpool) are remade pixel for pixel from their stored polygons/parameters JSON."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.label.make_mask import LabelConfig, make_label, mask_png

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
DATASET = DATASETS / "realsky"
STEMS = sorted(p.stem for p in (DATASET / "polygons").glob("*.json"))
RECIPES = [p for name in ("realsky", "realpool") for p in sorted((DATASETS / name / "polygons").glob("*.json"))]


def test_every_frame_has_a_mask_and_a_recipe() -> None:
    images = sorted(p.name for p in (DATASET / "images" / "val").iterdir())
    stems = sorted(n[: -len(".fits.gz")] if n.endswith(".fits.gz") else Path(n).stem for n in images)
    assert len(images) == 9
    assert stems == STEMS == sorted(p.stem for p in (DATASET / "masks" / "val").glob("*.png"))


def test_every_pool_frame_has_a_mask_a_recipe_and_a_camera() -> None:
    pool = DATASETS / "realpool"
    images = sorted(p.name for p in (pool / "images" / "val").iterdir())
    stems = sorted(n[: -len(".fits.gz")] if n.endswith(".fits.gz") else Path(n).stem for n in images)
    assert len(images) == 36
    assert stems == sorted(p.stem for p in (pool / "polygons").glob("*.json")) == sorted(
        p.stem for p in (pool / "masks" / "val").glob("*.png"))
    cameras = dict(line.split("\t") for line in (pool / "cameras.tsv").read_text().splitlines()[1:])
    assert sorted(cameras) == images and len(set(cameras.values())) == 15


# every real frame: 8/16-bit and float FITS (NaN too), multi-HDU FF files, median stacks, JPEG/PNG/TIFF without a
# circle (~0.5 s each)
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parents[1].name}/{p.stem}")
def test_mask_is_remade_exactly_from_its_json(recipe: Path, tmp_path: Path) -> None:
    result = make_label(LabelConfig(frames=(), out_dir=tmp_path, polygons=recipe))
    stored = cv2.imread(str(recipe.parents[1] / "masks" / "val" / f"{recipe.stem}.png"), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint8 and set(np.unique(stored)) <= {0, 255}
    assert np.array_equal(mask_png(result.mask), stored)
    assert np.array_equal(cv2.imread(str(tmp_path / "mask.png"), cv2.IMREAD_UNCHANGED), stored)
    assert (tmp_path / "overlay.png").is_file() and (tmp_path / "label.json").is_file()
