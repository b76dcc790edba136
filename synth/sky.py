"""Night-sky radiance: airglow, light pollution, twilight, Milky Way, moon, clouds, aurora, stars, trails.

Units are "sky units": 1.0 is the dark-sky airglow at the zenith. Smooth components are evaluated on the
layout's low-resolution direction maps (altitude/azimuth), so the same code serves fisheye and perspective
frames; stars, trails and the moon disc are drawn at full resolution.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from skyseg.synth.fields import fractal_noise
from skyseg.synth.layout import Layout

_AIRGLOW = np.array([0.92, 1.0, 0.88], np.float32)
_SODIUM = np.array([1.0, 0.62, 0.32], np.float32)
_LED = np.array([0.85, 0.9, 1.0], np.float32)
_MOONSKY = np.array([0.55, 0.72, 1.0], np.float32)
_AURORA = np.array([0.25, 1.0, 0.45], np.float32)
_AURORA_TOP = np.array([1.0, 0.25, 0.35], np.float32)


def sample_conditions(rng: np.random.Generator) -> dict:
    """Draw the sky's state; the returned dict becomes part of Scene.conditions (plain JSON-able values)."""
    twilight = rng.random() < 0.1
    moon = rng.random() < 0.4
    cover = 0.0 if rng.random() < 0.35 else float(rng.uniform(0.05, 1.0))
    return {
        "light_pollution": float(rng.choice([0.0, rng.uniform(0.2, 2.0), rng.uniform(2.0, 30.0)], p=[0.25, 0.4, 0.35])),
        "light_pollution_color": str(rng.choice(["sodium", "led"], p=[0.6, 0.4])),
        "twilight": bool(twilight),
        "sun_depression_deg": float(rng.uniform(4.0, 16.0)) if twilight else None,
        "moon": bool(moon),
        "moon_phase": float(rng.uniform(0.15, 1.0)) if moon else 0.0,
        "moon_alt_deg": float(rng.uniform(3.0, 75.0)) if moon else None,
        "clouds": cover,
        "cloud_thickness": float(rng.uniform(0.2, 1.0)) if cover > 0 else 0.0,
        "aurora": bool(rng.random() < 0.06),
        "milky_way": float(rng.uniform(0.0, 1.6)),
        "star_density": float(np.exp(rng.uniform(np.log(0.3), np.log(3.0)))),
        "trails": int(rng.choice([0, 1, 2], p=[0.7, 0.22, 0.08])),
        "seeing_px": float(rng.uniform(0.5, 1.2)),
        "dew": float(rng.uniform(0.3, 0.9)) if rng.random() < 0.07 else 0.0,  # condensation on the dome/lens
    }


def _unit_vectors(alt: np.ndarray, az: np.ndarray) -> np.ndarray:
    ca = np.cos(alt)
    return np.stack([ca * np.cos(az), ca * np.sin(az), np.sin(alt)], axis=-1)


def _background(rng: np.random.Generator, lay: Layout, c: dict) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution sky background (h, w, 3) before clouds, and the Milky Way star-density field (h, w)."""
    alt, az = lay.alt_lo, lay.az_lo
    shape = alt.shape
    s = np.sin(np.maximum(alt, 0.01))
    ripple = 1.0 + 0.12 * fractal_noise(rng, shape, base_cells=6, octaves=3)
    sky = ((1.0 + 1.6 * (1.0 - s) ** 3) * ripple)[..., None] * _AIRGLOW  # van Rhijn-like horizon brightening
    if c["light_pollution"] > 0:
        az_lp = rng.uniform(-math.pi, math.pi)
        focus = (0.5 + 0.5 * np.cos(az - az_lp)) ** rng.uniform(0.5, 4.0)
        dome = np.exp(-alt / rng.uniform(0.12, 0.5)) * (0.25 + 0.75 * focus) + 0.08
        color = _SODIUM if c["light_pollution_color"] == "sodium" else _LED
        sky = sky + (c["light_pollution"] * dome)[..., None] * color
    if c["twilight"]:
        az_sun = rng.uniform(-math.pi, math.pi)
        strength = 400.0 * math.exp(-c["sun_depression_deg"] / 2.2)
        toward = (0.5 + 0.5 * np.cos(az - az_sun)) ** 2
        glow = np.exp(-alt / 0.3) * (0.2 + 0.8 * toward)
        warm = np.exp(-alt / 0.12)[..., None] * np.array([1.0, 0.55, 0.25], np.float32)
        cool = (1.0 - np.exp(-alt / 0.12))[..., None] * np.array([0.35, 0.5, 1.0], np.float32)
        sky = sky + (strength * glow)[..., None] * (warm + cool)
    if c["moon"]:
        m_alt, m_az = math.radians(c["moon_alt_deg"]), rng.uniform(-math.pi, math.pi)
        c["_moon_dir"] = (m_alt, m_az)
        vm = _unit_vectors(np.float32(m_alt), np.float32(m_az))
        cosd = np.clip(_unit_vectors(alt, az) @ vm, -1.0, 1.0)
        dist = np.arccos(cosd)
        level = 25.0 * c["moon_phase"] ** 2 * math.sin(max(m_alt, 0.05)) ** 0.5
        sky = sky + (level * (0.4 + 1.5 * np.exp(-dist / 0.5) + 0.6 * (1.0 - s)))[..., None] * _MOONSKY
    mw = np.zeros(shape, np.float32)
    if c["milky_way"] > 0.05:
        pole = rng.standard_normal(3)
        pole /= np.linalg.norm(pole)
        d = _unit_vectors(alt, az) @ pole.astype(np.float32)
        width = rng.uniform(0.12, 0.25)
        along = fractal_noise(rng, shape, base_cells=10, octaves=4)
        dust = np.clip(fractal_noise(rng, shape, base_cells=20, octaves=3), 0.0, None)
        band = np.exp(-((d + 0.05 * along) / width) ** 2) * np.clip(1.0 + 0.45 * along - 0.5 * dust, 0.0, None)
        mw = (c["milky_way"] * band).astype(np.float32)
        sky = sky + (0.9 * mw)[..., None] * np.array([0.95, 0.92, 0.85], np.float32)
    if c["aurora"]:
        az_a = rng.uniform(-math.pi, math.pi)
        u = np.abs(np.angle(np.exp(1j * (az - az_a)))) / rng.uniform(0.5, 1.5)
        curtain = np.clip(1.0 + 0.8 * fractal_noise(rng, (shape[0], shape[1]), base_cells=30, octaves=2), 0.0, None)
        a0 = rng.uniform(0.1, 0.4)
        band = np.exp(-((alt - a0) / 0.12) ** 2) * np.clip(1.0 - u, 0.0, 1.0) * curtain
        top = np.exp(-((alt - a0 - 0.2) / 0.1) ** 2) * np.clip(1.0 - u, 0.0, 1.0)
        lvl = rng.uniform(3.0, 30.0)
        sky = sky + (lvl * band)[..., None] * _AURORA + (0.3 * lvl * top)[..., None] * _AURORA_TOP
    return sky.astype(np.float32), mw


def _clouds(rng: np.random.Generator, lay: Layout, c: dict, sky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blend clouds over the low-resolution background; returns (sky, opacity (h, w))."""
    shape = sky.shape[:2]
    if c["clouds"] <= 0:
        return sky, np.zeros(shape, np.float32)
    field = fractal_noise(rng, shape, base_cells=int(rng.integers(2, 6)), octaves=6, persistence=0.6)
    thr = float(np.quantile(field, 1.0 - c["clouds"]))
    soft = rng.uniform(0.3, 1.2)
    opacity = np.clip((field - thr) / soft, 0.0, 1.0) * c["cloud_thickness"]
    opacity = np.clip(opacity + 0.25 * c["clouds"] * np.exp(-lay.alt_lo / 0.3), 0.0, 1.0)  # haze at horizon
    # Light the clouds: city light from below (brighter near the horizon), moonlight, or nothing (dark clouds).
    s = np.sin(np.maximum(lay.alt_lo, 0.02))
    lp_color = _SODIUM if c["light_pollution_color"] == "sodium" else _LED
    light = (0.5 + 4.0 * c["light_pollution"] * (0.4 + 0.6 * (1.0 - s)))[..., None] * lp_color
    if c["moon"]:
        light = light + 60.0 * c["moon_phase"] ** 2 * np.array([0.9, 0.92, 1.0], np.float32)
    if c["twilight"]:
        light = light + 200.0 * math.exp(-c["sun_depression_deg"] / 2.2) * np.array([1.0, 0.6, 0.4], np.float32)
    texture = 1.0 + 0.25 * fractal_noise(rng, shape, base_cells=24, octaves=3)
    light = light * texture[..., None]
    out = sky * (1.0 - opacity[..., None]) + light * opacity[..., None] * (0.6 + 0.4 * opacity[..., None])
    return out.astype(np.float32), opacity.astype(np.float32)


def _stars(rng: np.random.Generator, lay: Layout, c: dict, mw: np.ndarray) -> np.ndarray:
    """Full-resolution star layer (H, W): point sources through a Gaussian PSF, denser in the Milky Way."""
    w, h = lay.size_wh
    scale = (0.25 / max(lay.deg_per_px, 1e-3)) ** -2  # fewer stars per pixel at long focal lengths
    n = int(c["star_density"] * 0.011 * w * h * min(scale, 4.0))
    xs = rng.uniform(0, w, n)
    ys = rng.uniform(0, h, n)
    if mw.max() > 0 and n > 0:
        p = mw.ravel().astype(np.float64)
        p /= p.sum()
        k = int(n * 0.8 * min(1.0, c["milky_way"]))
        cells = rng.choice(p.size, size=k, p=p)
        lh, lw = mw.shape
        xs = np.concatenate([xs, (cells % lw + rng.random(k)) * (w / lw)])
        ys = np.concatenate([ys, (cells // lw + rng.random(k)) * (h / lh)])
    flux = 0.05 * rng.random(xs.size) ** -1.15  # peak brightness in sky units; most stars faint
    flux = np.minimum(flux, 1000.0)
    layer = np.zeros((h, w), np.float32)
    idx = np.clip(ys.astype(np.int64), 0, h - 1) * w + np.clip(xs.astype(np.int64), 0, w - 1)
    layer.ravel()[:] = np.bincount(idx, weights=flux, minlength=h * w).astype(np.float32)
    sigma = c["seeing_px"]
    out = cv2.GaussianBlur(layer, (0, 0), sigma) * np.float32(2.0 * math.pi * sigma * sigma)  # peak = flux
    bright = np.where(layer > 100.0, layer, 0.0).astype(np.float32)
    out += cv2.GaussianBlur(bright, (0, 0), 3.0 * sigma) * np.float32(0.5 * sigma * sigma)  # bloom
    for _ in range(c["trails"]):  # satellite or aircraft
        a = rng.uniform(0, math.pi)
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        length = rng.uniform(0.2, 1.0) * max(w, h)
        x1, y1 = x0 + length * math.cos(a), y0 + length * math.sin(a)
        if rng.random() < 0.5:
            cv2.line(out, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(3, 40)), 1, cv2.LINE_AA)
        else:  # aircraft: two navigation lights, blinking
            segs = int(rng.integers(6, 20))
            for k in range(0, segs, 2):
                t0, t1 = k / segs, (k + 0.6) / segs
                for off in (-2, 2):
                    p0 = (int(x0 + (x1 - x0) * t0), int(y0 + (y1 - y0) * t0 + off))
                    p1 = (int(x0 + (x1 - x0) * t1), int(y0 + (y1 - y0) * t1 + off))
                    cv2.line(out, p0, p1, float(rng.uniform(20, 200)), 1, cv2.LINE_AA)
    return out


LUMA = np.array([0.3, 0.5, 0.2], np.float32)  # a typical monochrome sensor's response to R, G, B light


def render_sky(rng: np.random.Generator, lay: Layout, c: dict, mono: bool = False) -> np.ndarray:
    """Full-resolution sky radiance (H, W, C) float32 in sky units, with stars and the moon; C = 1 if mono."""
    w, h = lay.size_wh
    sky, mw = _background(rng, lay, c)
    sky, opacity = _clouds(rng, lay, c, sky)
    if mono:  # collapse colour before upsampling: a third of the full-resolution work
        sky = np.ascontiguousarray((sky @ LUMA)[..., None])
    full = cv2.resize(sky, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, sky.shape[2])
    stars = _stars(rng, lay, c, mw)
    transmit = cv2.resize((1.0 - opacity) ** 2, (w, h), interpolation=cv2.INTER_LINEAR)
    stars = cv2.multiply(stars, transmit)
    if full.shape[2] == 3:
        stars = cv2.cvtColor(stars, cv2.COLOR_GRAY2RGB)
    full = cv2.add(full.reshape(h, -1), stars.reshape(h, -1)).reshape(h, w, -1)
    if c["moon"]:
        pos = lay.project(*c.pop("_moon_dir"))
        if pos is not None:
            x, y = pos
            radius = max(2.0, 0.26 / lay.deg_per_px)
            level = 3000.0 * c["moon_phase"]
            # Glare and halo are smooth: evaluate them on the coarse grid, then draw the disc sharply.
            lh, lw = sky.shape[:2]
            yy = ((np.arange(lh, dtype=np.float32) + 0.5) * (h / lh) - y)[:, None] ** 2
            xx = ((np.arange(lw, dtype=np.float32) + 0.5) * (w / lw) - x)[None, :] ** 2
            d2 = (yy + xx) / np.float32(radius * radius)
            glare = np.float32(level) * (0.02 / (d2 + 0.5) + 0.01 * np.exp(-d2 / 400.0))
            full += cv2.resize(glare, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
            cv2.circle(full, (int(round(x * 16)), int(round(y * 16))), int(round(radius * 16)),
                       (level, level, level), -1, cv2.LINE_AA, 4)
    c.pop("_moon_dir", None)
    return full
