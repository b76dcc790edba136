"""Display stretch for 16-bit and float frames (all-sky FITS/PNG/TIFF): the one documented function.

Night frames are mostly dark with a few saturated stars and the moon, so a linear min–max scale hides the sky.
We clip at robust percentiles and apply an asinh curve (the astronomers' standard for high dynamic range,
Lupton et al. 2004), then quantise to uint8. 8-bit frames pass through untouched.
"""
from __future__ import annotations

import numpy as np

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.9
ASINH_SOFTENING = 10.0  # larger = stronger lift of faint levels
_SAMPLE_TARGET = 250_000  # pixels used to estimate the percentiles (speed; the estimate is stable)


def stretch_to_uint8(
    pixels: np.ndarray,
    low: float = LOW_PERCENTILE,
    high: float = HIGH_PERCENTILE,
    softening: float = ASINH_SOFTENING,
) -> np.ndarray:
    """Map any-depth pixels (H×W or H×W×C) to uint8 with percentile clipping and an asinh curve.

    NaN and ±inf (e.g. outside a processed all-sky image circle) become 0. uint8 input is returned as is.
    """
    if pixels.dtype == np.uint8:
        return pixels
    values = np.asarray(pixels, dtype=np.float32)
    finite = np.isfinite(values)
    step = max(1, int(np.sqrt(values.size / _SAMPLE_TARGET)))
    sample = values[::step, ::step][finite[::step, ::step]]
    if sample.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    lo, hi = np.percentile(sample, [low, high])
    if hi <= lo:
        hi = lo + 1.0
    norm = np.clip((np.where(finite, values, lo) - lo) / (hi - lo), 0.0, 1.0)
    curved = np.arcsinh(norm * softening) / np.arcsinh(softening)
    return (curved * 255.0 + 0.5).astype(np.uint8)
