"""The 16-bit/FITS stretch: float32 throughout, the integer lookup table equal to the float path, exact percentiles."""
from __future__ import annotations

import numpy as np
import pytest

from skyseg.runtime.process import stretch
from skyseg.runtime.process.stretch import stretch_to_uint8


def _reference(pixels: np.ndarray) -> np.ndarray:
    """The stretch written plainly in float64 (percentiles on the same subsample)."""
    values = pixels.astype(np.float64)
    finite = np.isfinite(values)
    step = max(1, int(np.sqrt(values.size / stretch._SAMPLE_TARGET)))
    sample = values[::step, ::step][finite[::step, ::step]]
    lo, hi = np.percentile(sample, [stretch.LOW_PERCENTILE, stretch.HIGH_PERCENTILE])
    norm = np.clip((np.where(finite, values, lo) - lo) / (hi - lo), 0, 1)
    s = stretch.ASINH_SOFTENING
    return (np.arcsinh(norm * s) / np.arcsinh(s) * 255 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.int8])
def test_integer_lookup_table_equals_the_float_path(dtype: type) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(1)
    pixels = rng.integers(info.min, info.max + 1, (300, 410)).astype(dtype)
    lut = stretch_to_uint8(pixels)
    assert lut.dtype == np.uint8 and lut.shape == pixels.shape
    assert np.array_equal(lut, stretch_to_uint8(pixels.astype(np.float32)))


@pytest.mark.parametrize("seed", range(40))
def test_histogram_percentiles_equal_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dtype = (np.uint16, np.int16, np.int8)[seed % 3]
    info = np.iinfo(dtype)
    sample = rng.integers(info.min // (1 + 40 * (seed % 2)), info.max // (1 + 40 * (seed % 2)),
                          int(rng.integers(1, 5000))).astype(dtype)
    low, high = float(rng.uniform(0, 10)), float(rng.uniform(90, 100))
    lo, hi = stretch._integer_limits(sample, int(info.min), low, high)
    want_lo, want_hi = np.percentile(sample, [low, high])
    assert lo == np.float32(want_lo)
    assert hi == np.float32(want_hi if want_hi > want_lo else want_lo + 1.0)


def test_float32_frames_stay_float32_and_match_a_float64_reference(realsky_dir) -> None:
    from skyseg.runtime.sources.fits_reader import read_fits

    for name in ("magic_20180816_2101.fits", "cta_cloudy.fits.gz", "iceact_starry.fits"):
        pixels, _ = read_fits(realsky_dir / name)
        got = stretch_to_uint8(pixels)
        diff = np.abs(got.astype(int) - _reference(pixels).astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, name  # float32 vs float64 rounding only
        if np.isnan(pixels).any():
            assert got[np.isnan(pixels)].max() == 0


def test_constant_and_empty_frames() -> None:
    assert not stretch_to_uint8(np.full((8, 9), 7, np.uint16)).any()
    assert not stretch_to_uint8(np.full((8, 9), np.nan, np.float32)).any()
