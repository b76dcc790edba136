"""Cheap statistics of a stretched night frame, used to cover sky conditions when choosing calibration frames.

All statistics are computed on the 8-bit RGB frame the model sees (after the runtime's `to_rgb8`), shrunk to
at most 160 px on the long side, so scanning a night of frames costs milliseconds each.
"""
from __future__ import annotations

import cv2
import numpy as np

FEATURES = (
    "p05",  # dark level (0–1)
    "p50",  # median sky brightness
    "p95",  # bright level
    "contrast",  # p95 - p05
    "std",
    "saturated",  # fraction of pixels ≥ 250/255 (moon, lights, star cores)
    "noise",  # robust high-frequency noise estimate (0–1 units)
    "corner_ratio",  # mean brightness outside / inside the inscribed circle (all-sky lens ≈ 0)
    "radial_slope",  # brightness at the rim minus the centre of the inscribed circle
    "chroma",  # mean max(RGB) - min(RGB)
    "blue_red",  # mean (B - R): twilight/moonlit blue vs sodium orange
)
_SIDE = 160


def _shrink(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = _SIDE / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def frame_stats(rgb8: np.ndarray) -> dict[str, float]:
    """Statistics (see FEATURES) of an H×W×3 uint8 RGB frame."""
    small = _shrink(rgb8).astype(np.float32) / 255.0
    full_gray = rgb8.mean(axis=2) if rgb8.ndim == 3 else rgb8.astype(np.float32)
    gray = small.mean(axis=2)
    p05, p50, p95 = np.percentile(gray, [5, 50, 95])
    # noise on a full-resolution crop: high-pass residual MAD (Immerkær-like), in 0–1 units
    h, w = full_gray.shape
    crop = np.asarray(full_gray[h // 4 : h // 4 + 128, w // 4 : w // 4 + 128], dtype=np.float32) / 255.0
    resid = crop - cv2.blur(crop, (3, 3)) if crop.size >= 9 else np.zeros(1, np.float32)
    noise = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    sh, sw = gray.shape
    yy, xx = np.mgrid[0:sh, 0:sw]
    r = np.hypot((yy - (sh - 1) / 2), (xx - (sw - 1) / 2)) / (min(sh, sw) / 2)
    inside, outside = r <= 1.0, r > 1.05
    mean_in = float(gray[inside].mean()) if inside.any() else 0.0
    mean_out = float(gray[outside].mean()) if outside.any() else mean_in
    rim = float(gray[(r > 0.8) & (r <= 1.0)].mean()) if ((r > 0.8) & (r <= 1.0)).any() else mean_in
    centre = float(gray[r <= 0.3].mean()) if (r <= 0.3).any() else mean_in
    return {
        "p05": float(p05),
        "p50": float(p50),
        "p95": float(p95),
        "contrast": float(p95 - p05),
        "std": float(gray.std()),
        "saturated": float((small.max(axis=2) >= 250 / 255).mean()),
        "noise": noise,
        "corner_ratio": float(mean_out / (mean_in + 1e-3)),
        "radial_slope": rim - centre,
        "chroma": float((small.max(axis=2) - small.min(axis=2)).mean()),
        "blue_red": float((small[..., 2] - small[..., 0]).mean()),
    }


def stats_labels(stats: dict[str, float]) -> dict[str, str]:
    """Coarse condition labels from statistics (strata for reports on frames without ground truth)."""
    return {
        "brightness": "dark" if stats["p50"] < 0.15 else "bright" if stats["p50"] > 0.45 else "mid",
        "optics": "allsky" if stats["corner_ratio"] < 0.35 else "camera",
        "saturation": "saturated" if stats["saturated"] > 0.002 else "clean",
        "noise": "noisy" if stats["noise"] > 0.03 else "smooth",
    }


def feature_matrix(stats: list[dict[str, float]]) -> np.ndarray:
    """Rows of FEATURES, z-scored per column (constant columns become 0) so no statistic dominates."""
    x = np.array([[s[k] for k in FEATURES] for s in stats], dtype=np.float64)
    if len(x) == 0:
        return x.reshape(0, len(FEATURES))
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 1e-12, sd, 1.0)
