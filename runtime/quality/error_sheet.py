"""Where a model is wrong, in colour: the tiles of `skyseg evaluate --sheet`.

Each labelled frame is shown stretched, with the pixels the model gets right as sky tinted blue, false sky (the
model says sky, the label does not) in red and missed sky (the label says sky, the model does not) in yellow,
labelled with the frame's IoU and both error shares.
"""
from __future__ import annotations

import numpy as np

from skyseg.runtime.quality.overlay_sheet import fit_tile

RIGHT_SKY = np.array((60, 140, 255), np.float32)
FALSE_SKY = np.array((255, 40, 40), np.float32)
MISSED_SKY = np.array((255, 220, 0), np.float32)


def error_overlay(rgb: np.ndarray, predicted: np.ndarray, truth: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """`rgb` (H×W×3 uint8) with right sky, false sky and missed sky tinted; errors are drawn more opaque."""
    out = rgb.astype(np.float32)
    for where, color, a in ((predicted & truth, RIGHT_SKY, alpha), (predicted & ~truth, FALSE_SKY, 0.75),
                            (~predicted & truth, MISSED_SKY, 0.75)):
        out[where] = (1.0 - a) * out[where] + a * color
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def error_tile(rgb: np.ndarray, predicted: np.ndarray, truth: np.ndarray, label: str, size: int = 360) -> np.ndarray:
    return fit_tile(error_overlay(rgb, predicted, truth), size, label)
