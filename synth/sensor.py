"""Sensor and camera pipeline: radiance → electrons → noise → 16-bit ADU, or an 8-bit auto-stretched JPEG.

16-bit frames look like raw all-sky FITS (a bias pedestal around 1000–3000 ADU, the sky a few hundred ADU
above it, saturated stars), so `skyseg.runtime.stretch.stretch_to_uint8` shows them as it shows real ones.
8-bit frames imitate a camera's own tone curve (black point, gamma) and JPEG compression.
"""
from __future__ import annotations

import cv2
import numpy as np


def sample_sensor(rng: np.random.Generator, kind: str) -> dict:
    """Draw the camera's state; becomes part of Scene.conditions."""
    return {
        "mono": bool(rng.random() < (0.5 if kind == "allsky" else 0.25)),
        "sky_electrons": float(np.exp(rng.uniform(np.log(15.0), np.log(3000.0)))),
        "read_noise_e": float(rng.uniform(1.5, 12.0)),
        "gain_adu_per_e": float(np.exp(rng.uniform(np.log(0.3), np.log(6.0)))),
        "bias_adu": float(rng.uniform(200.0, 3000.0)),
        "hot_pixels": int(rng.integers(0, 400)),
        "amp_glow": float(rng.uniform(0.0, 3.0)) if rng.random() < 0.3 else 0.0,
        "banding": float(rng.uniform(0.0, 1.5)) if rng.random() < 0.3 else 0.0,
        "gamma": float(rng.uniform(1.4, 2.6)),
        "black_frac": float(rng.uniform(0.0, 0.9)),
        "white_sky_multiple": float(np.exp(rng.uniform(np.log(2.5), np.log(40.0)))),
        "jpeg_quality": int(rng.integers(45, 96)) if rng.random() < 0.8 else None,
    }


def expose(rng: np.random.Generator, radiance: np.ndarray, s: dict, bit_depth: int) -> np.ndarray:
    """Radiance (H, W, 3) in sky units → RGB uint8 or uint16 image, with noise and sensor defects."""
    h, w = radiance.shape[:2]
    if s["mono"]:
        radiance = (radiance @ np.array([0.3, 0.5, 0.2], np.float32))[..., None]
    electrons = radiance * np.float32(s["sky_electrons"])
    if s["amp_glow"] > 0:  # glow from the readout amplifier in one corner
        yy, xx = np.ogrid[:h, :w]
        cy, cx = (0, h - 1)[rng.integers(2)], (0, w - 1)[rng.integers(2)]
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / (0.25 * max(h, w))
        electrons = electrons + (s["amp_glow"] * s["sky_electrons"] * np.exp(-d)).astype(np.float32)[..., None]
    sigma = np.sqrt(np.maximum(electrons, 0.0) + s["read_noise_e"] ** 2)
    electrons = electrons + sigma * rng.standard_normal(electrons.shape, dtype=np.float32)
    if s["banding"] > 0:
        electrons = electrons + (s["banding"] * s["read_noise_e"] * rng.standard_normal((h, 1, 1))).astype(np.float32)
    if s["hot_pixels"]:
        ys = rng.integers(0, h, s["hot_pixels"])
        xs = rng.integers(0, w, s["hot_pixels"])
        electrons[ys, xs, :] += rng.uniform(0.5, 50.0, (s["hot_pixels"], 1)).astype(np.float32) * s["sky_electrons"]
    adu = s["bias_adu"] + electrons * np.float32(s["gain_adu_per_e"])
    if bit_depth == 16:
        img = np.clip(adu + 0.5, 0, 65535).astype(np.uint16)
    else:
        adu = np.minimum(adu, 65535.0)  # the ADC saturates before the camera's tone curve
        sky_adu = s["sky_electrons"] * s["gain_adu_per_e"]
        black = s["bias_adu"] + s["black_frac"] * sky_adu
        white = black + s["white_sky_multiple"] * sky_adu
        x = np.clip((adu - black) / np.float32(white - black), 0.0, 1.0)
        img = (255.0 * x ** np.float32(1.0 / s["gamma"]) + 0.5).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if bit_depth == 8 and s["jpeg_quality"] is not None:
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, s["jpeg_quality"]])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.ascontiguousarray(img)
