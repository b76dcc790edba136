"""Frame pixels → model input. The single entry point shared by the runtime, export verification and calibration."""
from __future__ import annotations

import numpy as np

from skyseg.runtime.process.letterbox import LetterboxInfo, letterbox, to_tensor
from skyseg.runtime.process.stretch import stretch_to_uint8


def to_display8(pixels: np.ndarray) -> np.ndarray:
    """Any frame → uint8 gray (H×W) or RGB (H×W×3), stretching deep frames; gray stays one channel (a third of
    the work for the letterbox; `to_rgb8` expands it when an annotator needs colour)."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"expected a gray or RGB frame, got shape {pixels.shape}")
    return stretch_to_uint8(pixels)


def gray_to_rgb(img8: np.ndarray) -> np.ndarray:
    """uint8 gray (H×W) → H×W×3; H×W×3 passes through."""
    return np.ascontiguousarray(np.repeat(img8[..., None], 3, axis=2) if img8.ndim == 2 else img8)


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Any frame (uint8/uint16/float, gray or 3/4-channel RGB) → H×W×3 uint8 RGB, stretching deep frames."""
    return gray_to_rgb(to_display8(pixels))


def preprocess(pixels: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, LetterboxInfo]:
    """Frame pixels (RGB order) → float32 [1, 3, H, W] 0–1 letterboxed input, and the geometry to map back."""
    padded, info = letterbox(to_display8(pixels), input_hw)
    return to_tensor(padded), info
