"""The cloud step on real frames with hand masks: clear skies stay clear, overcast skies are cloud, the map stays
inside the sky, and a fixed camera's night reference finds a patch whose stars vanished."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.clouds.detect import detect_clouds
from skyseg.runtime.clouds.features import measure
from skyseg.runtime.clouds.reference import NightReference
from skyseg.runtime.process.preprocess import to_display8
from skyseg.runtime.sources.image_reader import read_frame_file


def _frame(folder: Path, name: str) -> tuple:
    frame = read_frame_file(folder / name, 0, str(folder))
    stem = name.split(".")[0]
    sky = cv2.imread(str(folder.parent.parent / "masks" / "val" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
    return to_display8(frame.pixels), sky


@pytest.mark.parametrize("name, low, high", [
    ("indiallsky_20210421_043940.jpg", 0.0, 0.05),  # clear, a meteor, trees all round
    ("magic_20180817_0055.fits", 0.0, 0.05),  # clear, dark
    ("magic_20180816_2101.fits", 0.0, 0.15),  # clear, moonlit: the moon and its glare are not cloud
    ("cta_cloudy.fits.gz", 0.8, 1.0),  # overcast lit from below
    ("iceact_cloudy.fits", 0.5, 1.0),  # bright overcast with a thinner patch
])
def test_cloud_fraction_on_realsky(realsky_dir, name, low, high):
    img8, sky = _frame(realsky_dir, name)
    res = detect_clouds(img8, sky)
    assert low <= res.cloud_fraction <= high
    assert res.cloud.shape == sky.shape and not (res.cloud & ~sky).any()
    assert res.clear_fraction == pytest.approx(1.0 - res.cloud_fraction)


def test_light_polluted_clear_sky_is_not_cloud(realpool_dir):
    img8, sky = _frame(realpool_dir, "masn_20151108_1320.fits")  # bright suburban sky, few stars, no cloud
    assert detect_clouds(img8, sky).cloud_fraction < 0.2


@pytest.mark.parametrize("name", ["mmt_2015_3645.fits", "wien_20150905.jpg"])  # overcast; moonlit broken cloud
def test_overcast_and_moonlit_cloud_are_cloud(realpool_dir, name):
    img8, sky = _frame(realpool_dir, name)
    assert detect_clouds(img8, sky).cloud_fraction > 0.8


def test_no_sky_and_wrong_shapes():
    img8 = np.full((120, 160), 40, np.uint8)
    res = detect_clouds(img8, np.zeros((120, 160), bool))
    assert np.isnan(res.cloud_fraction) and not res.cloud.any()
    assert np.isnan(detect_clouds(img8[:5], np.ones((5, 160), bool)).cloud_fraction)  # thinner than one cell
    with pytest.raises(ValueError, match="sky mask is 80x120 but the frame is 160x120"):
        detect_clouds(img8, np.ones((120, 80), bool))


def test_night_reference_finds_a_patch_whose_stars_vanished(realsky_dir):
    """Clear frames teach the reference; the same frame with the stars of one patch smoothed away (the level kept,
    as thin cloud that dims stars without brightening the sky) is cloud there with the reference."""
    img8, sky = _frame(realsky_dir, "magic_20180817_0055.fits")
    reference = NightReference(min_frames=3)
    for _ in range(3):
        reference.update(measure(img8, sky))
    clear = reference.clear_density()
    assert clear is not None and clear.max() > 1.0
    dimmed = img8.copy()
    y0, y1, x0, x1 = 330, 690, 480, 840  # inside the sky around the zenith
    dimmed[y0:y1, x0:x1] = cv2.medianBlur(img8, 9)[y0:y1, x0:x1]
    patch = np.zeros(sky.shape, bool)
    patch[y0 + 60:y1 - 60, x0 + 60:x1 - 60] = True
    assert detect_clouds(dimmed, sky).cloud[patch & sky].mean() < 0.2  # a dark starless patch alone: no cloud
    with_ref = detect_clouds(dimmed, sky, reference=clear)
    assert with_ref.cloud[patch & sky].mean() > 0.9
    outside = sky.copy()
    outside[y0 - 80:y1 + 80, x0 - 80:x1 + 80] = False
    assert with_ref.cloud[outside].mean() < 0.05  # the rest stays clear
    assert detect_clouds(img8, sky, reference=clear).cloud_fraction < 0.05


def test_night_reference_needs_frames_and_one_size(realsky_dir):
    img8, sky = _frame(realsky_dir, "magic_20180817_0055.fits")
    reference = NightReference(min_frames=2)
    reference.update(measure(img8, sky))
    assert reference.clear_density() is None and reference.frames == 1
    reference.update(measure(img8[:-64], sky[:-64]))  # another size starts over
    assert reference.frames == 1
    with pytest.raises(ValueError, match="1 <= min_frames <= keep"):
        NightReference(min_frames=0)
    with pytest.raises(ValueError, match="does not match"):
        detect_clouds(img8, sky, reference=np.zeros((3, 3), np.float32))
