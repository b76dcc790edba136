"""bilinear_threshold interpolates only the columns a horizon crosses: the mask is bit-identical to interpolating
every frame pixel in the same float32 order, whatever the signs, zeros, tiny values or NaNs of the logit map."""
from __future__ import annotations

import numpy as np
import pytest

from skyseg.runtime.process.mask_decode import bilinear_threshold, sample_axis


def _every_pixel(union: np.ndarray, affine: tuple[float, ...], hw: tuple[int, int]) -> np.ndarray:
    """The full computation: x on the source rows, then y for all H×W pixels, float32 throughout."""
    ax, bx, ay, by = (np.float32(v) for v in affine)
    x0, x1, fx = sample_axis(hw[1], ax, bx, union.shape[1])
    y0, y1, fy = sample_axis(hw[0], ay, by, union.shape[0])
    rows = union[:, x0] * (np.float32(1) - fx) + union[:, x1] * fx
    return rows[y0] * (np.float32(1) - fy)[:, None] + rows[y1] * fy[:, None] > 0


@pytest.mark.parametrize("seed", range(60))
def test_band_resample_equals_every_pixel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sh, sw = (int(v) for v in rng.integers(2, 40, 2))
    union = rng.normal(0, 1, (sh, sw)).astype(np.float32)
    if seed % 3 == 0:
        union[rng.random(union.shape) < 0.2] = 0
    if seed % 4 == 0:  # values whose products underflow, NaN: must fall back to the exact interpolation
        union[rng.random(union.shape) < 0.15] = rng.choice(np.array([1e-38, 1e-44, -1e-44, np.nan, 1e-31],
                                                                    np.float32))
    h, w = (int(v) for v in rng.integers(1, 300, 2))
    affine = (sw / w * rng.uniform(0.5, 1.5), rng.uniform(-2, 2), sh / h * rng.uniform(0.5, 1.5), rng.uniform(-2, 2))
    got = bilinear_threshold(union, affine, (h, w))
    assert got.shape == (h, w) and np.array_equal(got, _every_pixel(union, affine, (h, w)))


def test_a_24_mpx_disc_is_exact() -> None:
    yy, xx = np.mgrid[0:54, 0:80].astype(np.float32)
    union = (30 - np.hypot(yy - 27, xx - 40)).astype(np.float32)
    hw = (3456, 5184)
    affine = (80 / hw[1], 0.5 * 80 / hw[1] - 0.5, 54 / hw[0], 0.5 * 54 / hw[0] - 0.5)
    got = bilinear_threshold(union, affine, hw)
    assert np.array_equal(got, _every_pixel(union, affine, hw)) and 0.3 < got.mean() < 0.9
