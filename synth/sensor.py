"""Sensor and camera pipeline: radiance → electrons → noise → 16-bit ADU, or an 8-bit auto-stretched JPEG.

16-bit frames look like raw all-sky FITS (a bias pedestal around 1000–3000 ADU, the sky a few hundred ADU
above it, saturated stars), so `skyseg.runtime.process.stretch.stretch_to_uint8` shows them as it shows real ones.
8-bit frames imitate a camera's own tone curve (black point, gamma) and JPEG compression.
"""
from __future__ import annotations

from statistics import NormalDist

import cv2
import numpy as np


def sample_sensor(rng: np.random.Generator, kind: str) -> dict:
    """Draw the camera's state; becomes part of Scene.conditions."""
    return {
        "mono": bool(rng.random() < (0.6 if kind == "allsky" else 0.25)),
        "sky_electrons": float(np.exp(rng.uniform(np.log(15.0), np.log(3000.0)))),
        "read_noise_e": float(rng.uniform(1.5, 12.0)),
        "gain_adu_per_e": float(np.exp(rng.uniform(np.log(0.3), np.log(6.0)))),
        "bias_adu": float(rng.uniform(200.0, 3000.0)),
        "hot_pixels": int(rng.integers(0, 400)),
        "amp_glow": float(rng.uniform(0.0, 3.0)) if rng.random() < 0.3 else 0.0,
        "banding": float(rng.uniform(0.0, 1.5)) if rng.random() < 0.3 else 0.0,
        "banding_axis": str(rng.choice(["rows", "columns"], p=[0.7, 0.3])),
        "tone": float(rng.uniform(0.3, 1.8)),  # tone-curve strength: ~gamma 1.3 (0.3) to ~gamma 3 (1.8)
        "black_frac": float(rng.uniform(0.0, 0.8)),
        "white_sky_multiple": float(np.exp(rng.uniform(np.log(2.0), np.log(20.0)))),
        "jpeg_quality": int(rng.integers(45, 96)) if rng.random() < 0.8 else None,
    }


# Standard-normal quantiles at (i + 0.5) / 256: random bytes through this table give Gaussian noise (std ≈ 0.99,
# tails cut at ±2.9σ) several times faster than drawing floats, which matters at a million pixels per frame.
_GAUSS_LUT = np.array([NormalDist().inv_cdf((i + 0.5) / 256.0) for i in range(256)], np.float32)


def _gaussian(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 approximately standard-normal noise from random bytes."""
    raw = np.frombuffer(rng.bytes(shape[0] * shape[1]), np.uint8).reshape(shape)
    return cv2.LUT(raw, _GAUSS_LUT)


def _tone_curve(x: np.ndarray, tone: float) -> np.ndarray:
    """A camera-like brightening curve on [0, 1]: a blend of x, x^(1/2) and x^(1/4) (square roots are cheap).

    tone 0 → linear, 1 → square root (gamma 2), 2 → fourth root; values between blend neighbours.
    """
    s1 = cv2.sqrt(x)
    if tone <= 1.0:
        return cv2.addWeighted(x, 1.0 - tone, s1, tone, 0.0)
    return cv2.addWeighted(s1, 2.0 - tone, cv2.sqrt(s1), tone - 1.0, 0.0)


def _flat(a: np.ndarray) -> np.ndarray:
    """(H, W, C) → (H, W·C) view, so cv2's fast element-wise ops apply one scalar to every channel."""
    return a.reshape(a.shape[0], -1)


def expose(rng: np.random.Generator, radiance: np.ndarray, s: dict, bit_depth: int,
           sky_level: float = 1.0) -> np.ndarray:
    """Radiance (H, W, C) in sky units (C = 1 for mono sensors) → RGB uint8 or uint16 image with noise.

    The exposure is automatic: a median sky radiance of `sky_level` collects s["sky_electrons"] electrons.
    """
    h, w, ch = radiance.shape
    if ch != 1 and s["mono"]:
        raise ValueError("a monochrome sensor expects single-channel radiance (render the sky with mono=True)")
    electrons = _flat(np.ascontiguousarray(radiance, np.float32))
    electrons = cv2.multiply(electrons, s["sky_electrons"] / sky_level)
    if s["amp_glow"] > 0:  # glow from the readout amplifier in one corner
        cy, cx = (0, h - 1)[rng.integers(2)], (0, w - 1)[rng.integers(2)]
        yy = (np.arange(h, dtype=np.float32) - cy)[:, None] ** 2
        xx = (np.arange(w, dtype=np.float32) - cx)[None, :] ** 2
        d = np.sqrt(yy + xx) / np.float32(0.25 * max(h, w))
        glow = (np.float32(s["amp_glow"] * s["sky_electrons"]) * np.exp(-d))
        electrons = cv2.add(electrons, _flat(np.repeat(glow[..., None], ch, axis=2)))
    sigma = cv2.sqrt(cv2.add(cv2.max(electrons, 0.0), s["read_noise_e"] ** 2))
    noise = _gaussian(rng, (h, w))
    if ch == 3:  # colour: luminance noise per pixel, chroma noise smoothed by demosaicing
        chroma = _gaussian(rng, ((h + 1) // 2, (w + 1) // 2 * 3)).reshape((h + 1) // 2, (w + 1) // 2, 3)
        chroma = cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
        noise = cv2.scaleAdd(cv2.cvtColor(noise, cv2.COLOR_GRAY2RGB), 0.75, chroma)
    electrons = cv2.add(electrons, cv2.multiply(_flat(noise.reshape(h, w, ch)), sigma))
    if s["banding"] > 0:
        band_sigma = 0.3 * s["banding"] * np.sqrt(s["sky_electrons"] + s["read_noise_e"] ** 2)
        cube = electrons.reshape(h, w, ch)
        if s["banding_axis"] == "rows":
            cube += (band_sigma * rng.standard_normal((h, 1, 1))).astype(np.float32)
        else:  # column defects (IceAct-like vertical stripes)
            cube += (band_sigma * rng.standard_normal((1, w, 1))).astype(np.float32)
    if s["hot_pixels"]:
        ys = rng.integers(0, h, s["hot_pixels"])
        xs = rng.integers(0, w, s["hot_pixels"])
        hot = rng.uniform(0.5, 50.0, (s["hot_pixels"], 1)).astype(np.float32) * np.float32(s["sky_electrons"])
        cube = electrons.reshape(h, w, ch)
        cube[ys, xs, :] += hot
    gain = s["gain_adu_per_e"]
    if bit_depth == 16:
        adu = cv2.add(cv2.multiply(electrons, gain), s["bias_adu"] + 0.5)
        img = cv2.min(cv2.max(adu, 0.0), 65535.0).astype(np.uint16).reshape(h, w, ch)
    else:
        # Camera tone curve: black/white points, then gamma; the ADC saturates before the curve.
        sky_adu = s["sky_electrons"] * gain
        black = s["bias_adu"] + s["black_frac"] * sky_adu
        white = black + s["white_sky_multiple"] * sky_adu
        top = min(1.0, (65535.0 - black) / (white - black))
        x = cv2.add(cv2.multiply(electrons, gain / (white - black)), (s["bias_adu"] - black) / (white - black))
        x = cv2.min(cv2.max(x, 0.0), top)
        img = cv2.convertScaleAbs(_tone_curve(x, s["tone"]), alpha=255.0).reshape(h, w, ch)
    if ch == 1:
        img = np.repeat(img, 3, axis=2)
    if bit_depth == 8 and s["jpeg_quality"] is not None:
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, s["jpeg_quality"]])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.ascontiguousarray(img)
