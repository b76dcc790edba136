"""Smooth random fields (fractal value noise) rendered at low resolution and upsampled.

Big smooth structures (clouds, Milky Way dust, airglow ripples, horizon profiles) are drawn on coarse grids
and resized with cv2, which keeps a 640×640 frame well under the per-image time budget.
"""
from __future__ import annotations

import cv2
import numpy as np


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    base_cells: int = 4,
    octaves: int = 5,
    persistence: float = 0.55,
) -> np.ndarray:
    """Fractal value noise of `shape` (H, W), float32, normalised to zero mean and unit std.

    Octave k is a random grid of about base_cells·2^k cells along the longer side, bicubically upsampled.
    """
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    longer = max(h, w)
    for k in range(octaves):
        cells = min(base_cells * 2**k, longer)
        gh = max(2, int(round(cells * h / longer)) + 1)
        gw = max(2, int(round(cells * w / longer)) + 1)
        grid = rng.standard_normal((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= persistence
    out -= out.mean()
    std = float(out.std())
    return out / std if std > 0 else out


def profile_noise(rng: np.random.Generator, n: int, base_cells: int = 6, octaves: int = 5,
                  persistence: float = 0.5, periodic: bool = False) -> np.ndarray:
    """A 1-D fractal profile of length n (zero mean, unit std); periodic=True wraps around (azimuth)."""
    if periodic:
        # Render a longer strip and cross-fade its ends so that value(0) == value(n).
        strip = fractal_noise(rng, (1, 2 * n), base_cells * 2, octaves, persistence)[0]
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        out = strip[:n] * ramp + strip[n:] * (1.0 - ramp)
        out -= out.mean()
        return out / max(float(out.std()), 1e-6)
    return fractal_noise(rng, (1, n), base_cells, octaves, persistence)[0]


def upsample(field: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a low-resolution field (H×W or H×W×C) to (W, H)."""
    return cv2.resize(field, size_wh, interpolation=cv2.INTER_LINEAR)
