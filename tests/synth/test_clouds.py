"""Clouds with exact masks (synth.clouds): the mask is exactly where clouds change the frame, and the cloud step
measured against it, alone and with a night reference learned from clear frames of the same camera."""
from __future__ import annotations

import numpy as np
import pytest

from skyseg.runtime.clouds.detect import detect_clouds
from skyseg.runtime.clouds.reference import NightReference
from skyseg.synth.clouds import CLOUD_KINDS, render_cloudy_sky


@pytest.mark.parametrize("kind", CLOUD_KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_cloud_mask_is_exactly_where_the_clouds_are(kind, seed):
    cloudy = render_cloudy_sky(seed, kind, size=(320, 320), cover=0.35)
    clear = render_cloudy_sky(seed, kind, size=(320, 320), cover=0.0)
    changed = (cloudy.image != clear.image).any(axis=-1)
    assert not changed[~cloudy.cloud].any()  # outside the mask: the same bytes as the clear frame
    assert changed[cloudy.cloud].mean() > 0.99  # inside: (nearly) every pixel differs
    assert not (cloudy.cloud & ~cloudy.sky).any() and not clear.cloud.any()
    assert cloudy.cloud_fraction == pytest.approx(0.35, abs=0.02)
    assert np.array_equal(cloudy.sky, clear.sky)


def test_moon_and_halo_are_not_cloud():
    clear = render_cloudy_sky(3, "moonlit", size=(320, 320), cover=0.0)
    grey = clear.image[..., 0]
    assert grey[clear.sky].max() == 255 and not clear.cloud.any()  # the moon is there, and it is sky


def test_another_frame_of_the_same_camera_keeps_layout_and_clouds():
    a = render_cloudy_sky(5, "dark", size=(256, 256), sky_seed=1)
    b = render_cloudy_sky(5, "dark", size=(256, 256), sky_seed=2)
    assert np.array_equal(a.cloud, b.cloud) and np.array_equal(a.sky, b.sky)
    assert not np.array_equal(a.image, b.image)  # other stars, other noise


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown cloud kind 'fog'"):
        render_cloudy_sky(0, "fog")
    with pytest.raises(ValueError, match="cover must be within 0-1"):
        render_cloudy_sky(0, "lit", cover=1.5)


@pytest.mark.parametrize("kind", CLOUD_KINDS)
def test_clear_frames_stay_clear(kind):
    frame = render_cloudy_sky(7, kind, cover=0.0)
    assert detect_clouds(frame.image, frame.sky).cloud_fraction < 0.02


@pytest.mark.parametrize("kind, max_error", [("lit", 0.25), ("moonlit", 0.25), ("thin", 0.15), ("dark", 0.15)])
def test_night_reference_measures_cloud_cover(kind, max_error):
    """Six clear frames of the night teach the reference; then the cloud fraction of cloudy frames is within
    `max_error` of the exact one, and a new clear frame stays (nearly) clear."""
    errors = []
    for seed in (0, 1, 2):
        reference = NightReference(min_frames=6)
        for n in range(6):
            clear = render_cloudy_sky(seed, kind, cover=0.0, sky_seed=1000 + n)
            reference.update(detect_clouds(clear.image, clear.sky).features)
        cloudy = render_cloudy_sky(seed, kind)
        res = detect_clouds(cloudy.image, cloudy.sky, reference=reference.clear_density())
        errors.append(abs(res.cloud_fraction - cloudy.cloud_fraction))
        fresh = render_cloudy_sky(seed, kind, cover=0.0, sky_seed=2000)
        assert detect_clouds(fresh.image, fresh.sky, reference=reference.clear_density()).cloud_fraction < 0.1
    assert max(errors) <= max_error
