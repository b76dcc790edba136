"""The realsky dataset's masks are remade pixel for pixel from their stored polygons/parameters JSON."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.label.make_mask import LabelConfig, make_label, mask_png

DATASET = Path(__file__).resolve().parents[2] / "datasets" / "realsky"
STEMS = sorted(p.stem for p in (DATASET / "polygons").glob("*.json"))


def test_every_frame_has_a_mask_and_a_recipe() -> None:
    images = sorted(p.name for p in (DATASET / "images" / "val").iterdir())
    stems = sorted(n[: -len(".fits.gz")] if n.endswith(".fits.gz") else Path(n).stem for n in images)
    assert len(images) == 9
    assert stems == STEMS == sorted(p.stem for p in (DATASET / "masks" / "val").glob("*.png"))


# all nine: single 16-bit FITS, float FITS with NaN, 3-frame median stacks, JPEGs without a circle (~0.5 s each)
@pytest.mark.parametrize("stem", STEMS)
def test_mask_is_remade_exactly_from_its_json(stem: str, tmp_path: Path) -> None:
    result = make_label(LabelConfig(frames=(), out_dir=tmp_path, polygons=DATASET / "polygons" / f"{stem}.json"))
    stored = cv2.imread(str(DATASET / "masks" / "val" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint8 and set(np.unique(stored)) <= {0, 255}
    assert np.array_equal(mask_png(result.mask), stored)
    assert np.array_equal(cv2.imread(str(tmp_path / "mask.png"), cv2.IMREAD_UNCHANGED), stored)
    assert (tmp_path / "overlay.png").is_file() and (tmp_path / "label.json").is_file()
