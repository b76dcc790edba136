"""The 16-bit/FITS stretch: float32 throughout, the integer lookup table equal to the float path, exact percentiles."""
from __future__ import annotations

import numpy as np
import pytest

from skyseg.runtime.process import stretch
from skyseg.runtime.process.stretch import stretch_float, stretch_to_uint8


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
    assert np.array_equal(lut, stretch_float(pixels.astype(np.float32)))


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


def test_whole_number_float_frames_take_the_table_with_the_same_bytes(realsky_dir, monkeypatch) -> None:
    """magic_*.fits stores 16-bit counts as BITPIX -32: they go through the lookup table, byte for byte equal to
    the per-pixel float curve; a fraction, a NaN or a negative value anywhere keeps the float path."""
    from skyseg.runtime.sources.fits_reader import read_fits

    pixels, _ = read_fits(realsky_dir / "magic_20180816_2101.fits")
    assert pixels.dtype == np.float32
    assert stretch._as_uint16_if_exact(pixels).dtype == np.uint16
    assert np.array_equal(stretch_to_uint8(pixels), stretch_float(pixels))
    for spoil in (0.5, np.nan, -pixels[7, 9] - 3):
        bad = pixels.copy()
        bad[-1, -1] += spoil  # the last pixel only: past the row sample the quick check looks at
        assert stretch._as_uint16_if_exact(bad) is bad
        assert np.array_equal(stretch_to_uint8(bad), stretch_float(bad))
