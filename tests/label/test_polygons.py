"""Hand polygons on top of a proposed mask, and the recipe file that carries them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skyseg.label.propose import apply_polygons, fill_holes, otsu_level, polygon_mask
from skyseg.label.recipe import load_recipe
from skyseg.runtime.errors import InputError


def test_polygon_mask_fills_a_square_edges_included() -> None:
    mask = polygon_mask((10, 10), [[[2, 2], [5, 2], [5, 4], [2, 4]]])
    expected = np.zeros((10, 10), bool)
    expected[2:5, 2:6] = True
    assert np.array_equal(mask, expected)


def test_include_adds_sky_exclude_removes_it_and_exclusion_wins() -> None:
    proposed = np.zeros((10, 10), bool)
    proposed[:, :5] = True  # left half sky
    out = apply_polygons(proposed, include=[[[6, 0], [9, 0], [9, 9], [6, 9]]],  # columns 6-9 become sky
                         exclude=[[[0, 0], [7, 0], [7, 1], [0, 1]]])  # rows 0-1, columns 0-7 become non-sky
    expected = np.zeros((10, 10), bool)
    expected[:, :5] = True
    expected[:, 6:] = True
    expected[:2, :8] = False
    assert np.array_equal(out, expected)
    assert proposed[:, :5].all() and not proposed[:, 5:].any()  # the input is not changed


def test_fill_holes_fills_small_enclosed_holes_only() -> None:
    mask = np.ones((20, 20), bool)
    mask[5:7, 5:7] = False  # 4-px hole: filled
    mask[10:16, 10:16] = False  # 36-px hole: kept
    mask[0:3, 0:3] = False  # touches the border: kept
    out = fill_holes(mask, max_area=10)
    assert out[5:7, 5:7].all() and not out[10:16, 10:16].any() and not out[0:3, 0:3].any()


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not valid JSON"),
    ('{"include": [[[1, 2], [3, 4]]]}', "include[0] is not a polygon"),
    ('{"exclude": "x"}', "'exclude' must be a list of polygons"),
    ('{"treshold": 3}', "unknown key(s) treshold"),
    ('{"threshold": "high"}', "threshold must be a number"),
    ('{"circle": {"radius": 3}}', "circle:"),
    ('{"circle": {"threshold": "high"}}', "circle.threshold must be a number"),
])
def test_malformed_recipes_are_one_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_recipe(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_recipe_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"threshold": 40, "circle": None, "include": [[[0, 0], [4, 0], [4, 4]]],
                                "frames": ["a.fits"], "notes": "n"}))
    recipe = load_recipe(path)
    assert recipe.threshold == 40.0 and recipe.circle is None and recipe.include == ([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]],)
    path.write_text(json.dumps(recipe.to_json()))
    assert load_recipe(path) == recipe


def test_otsu_level_is_not_pulled_up_by_a_bright_meteor() -> None:
    grey = np.full((100, 100), 40, np.uint8)  # sky
    grey[:, :30] = 8  # trees
    grey[50:55, 30:] = 255  # a meteor, 3.5 % of the frame
    level = otsu_level(grey)
    assert 8 <= level < 40  # plain Otsu puts it above the sky (the meteor against the rest)


def test_overlapping_polygons_fill_their_overlap() -> None:
    """Two exclude polygons that overlap must both be filled there (one fillPoly call would cancel the overlap)."""
    mask = polygon_mask((20, 20), [[[2, 2], [12, 2], [12, 12], [2, 12]], [[8, 8], [17, 8], [17, 17], [8, 17]]])
    assert mask[10, 10] and mask[4, 4] and mask[15, 15]
    assert np.count_nonzero(mask) == 11 * 11 + 10 * 10 - 5 * 5
