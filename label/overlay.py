"""A picture to check a mask by eye: sky tinted blue, its outline in yellow, over the stretched stack."""
from __future__ import annotations

import cv2
import numpy as np

TINT_BGR = (255, 120, 0)  # blue
EDGE_BGR = (0, 230, 255)  # yellow


def overlay_bgr(grey: np.ndarray, mask: np.ndarray, tint: float = 0.25) -> np.ndarray:
    """BGR uint8 image: `grey` (H×W uint8) with the True pixels of `mask` tinted and its 1-px outline drawn."""
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) if grey.ndim == 2 else grey.copy()
    out = base.astype(np.float32)
    out[mask] = (1.0 - tint) * out[mask] + tint * np.float32(TINT_BGR)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, EDGE_BGR, thickness=1)
    return out
