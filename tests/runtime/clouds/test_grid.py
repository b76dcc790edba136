"""The 33-region ring grid: numbering, geometry, shares, and the label files that use it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from skyseg.runtime.clouds.grid import LABELS, N_REGIONS, GridCircle, check_labels, region_areas, region_map, region_shares

CIRCLE = GridCircle(100.0, 100.0, 100.0)


@pytest.mark.parametrize("xy, region", [
    ((100, 100), 0),  # centre: the disc
    ((100, 70), 1),  # just above the centre, ring 1, sector 0 (image-up, clockwise)
    ((130, 100), 1 + 2),  # right: sector 2 (90-135 degrees)
    ((100, 130), 1 + 4),  # below: sector 4
    ((60, 100), 1 + 8 + 6),  # left, ring 2: sector 6
    ((101, 1), 1 + 24 + 0),  # top edge, outer ring, sector 0
    ((199, 101), 1 + 24 + 2),  # right edge just below the horizontal: sector 2 (90-135 degrees)
    ((101, 199), 1 + 24 + 3),  # bottom edge just right of down: sector 3 (135-180 degrees)
    ((2, 2), -1),  # a corner is outside the circle
])
def test_region_numbers(xy, region):
    assert region_map((201, 201), CIRCLE)[xy[1], xy[0]] == region


def test_every_region_present_with_the_expected_areas():
    regions = region_map((401, 401), GridCircle(200.0, 200.0, 200.0))
    areas = region_areas(np.ones(regions.shape, bool), regions)
    assert (areas > 0).all() and len(areas) == N_REGIONS
    disc = np.pi * 40 ** 2
    assert areas[0] == pytest.approx(disc, rel=0.02)
    for ring in range(4):  # sector area pi r^2 (2 ring + 3) / 200
        sector = np.pi * 200 ** 2 * (2 * ring + 3) / 200
        assert areas[1 + 8 * ring: 9 + 8 * ring] == pytest.approx(np.full(8, sector), rel=0.03)


def test_shares_count_only_the_weighted_pixels():
    regions = region_map((201, 201), CIRCLE)
    sky = np.zeros(regions.shape, bool)
    sky[:100] = True  # the upper half is sky
    cloud = np.zeros_like(sky)
    cloud[:, 100:] = True  # the right half is cloud
    share = region_shares(cloud, sky, regions)
    assert share[1] == 1.0 and share[8] == 0.0  # upper right / upper left of ring 1
    assert np.isnan(share[5])  # below: no sky


def test_check_labels_names_what_is_wrong():
    check_labels(["clear"] * 33, "x")
    with pytest.raises(ValueError, match="33 region labels"):
        check_labels(["clear"] * 32, "x")
    with pytest.raises(ValueError, match="unknown values \\['cirrus'\\]"):
        check_labels(["clear"] * 32 + ["cirrus"], "x")


@pytest.mark.parametrize("dataset", ["realsky", "realpool"])
def test_committed_label_files_are_valid(dataset, realsky_dir, realpool_dir):
    root = {"realsky": realsky_dir, "realpool": realpool_dir}[dataset].parent.parent
    files = sorted((root / "clouds").glob("*.json"))
    images = {p.name.split(".")[0] for p in (root / "images" / "val").iterdir()}
    assert len(files) == len(images)  # every frame is labelled
    for path in files:
        label = json.loads(path.read_text())
        check_labels(label["regions"], str(path))
        assert set(label["regions"]) <= set(LABELS) and label["notes"]
        assert label["circle"]["r"] > 0 and path.stem in images
