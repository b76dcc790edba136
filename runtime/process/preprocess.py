"""Frame pixels → model input. The single entry point shared by the runtime, export verification and calibration."""
from __future__ import annotations

import numpy as np

from skyseg.runtime.process.letterbox import LetterboxInfo, letterbox, to_tensor
from skyseg.runtime.process.stretch import stretch_to_uint8


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Any frame (uint8/uint16/float, gray or 3/4-channel RGB) → H×W×3 uint8 RGB, stretching deep frames."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    img = stretch_to_uint8(pixels)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected a gray or RGB frame, got shape {pixels.shape}")
    return np.ascontiguousarray(img)


def preprocess(pixels: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, LetterboxInfo]:
    """Frame pixels (RGB order) → float32 [1, 3, H, W] 0–1 letterboxed input, and the geometry to map back."""
    padded, info = letterbox(to_rgb8(pixels), input_hw)
    return to_tensor(padded), info
