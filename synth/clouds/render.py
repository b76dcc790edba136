"""`render_cloudy_sky(seed, kind, size, cover)`: an all-sky frame, its sky mask and its exact cloud mask.

The frame is composed in linear light: a background (airglow rising towards the horizon, light pollution on one
side), a star field (power-law fluxes, Gaussian stars), for the moonlit kind a moon with a wide halo (sky, not cloud),
then clouds, then sensor noise and a display curve. The cloud mask is a thresholded fractal field cut to the sky, and
clouds change pixels only inside it: the same seed rendered with cover=0 gives the same bytes outside the mask
(every random layer draws from its own stream, so the clouds do not shift the noise). Kinds:
- lit: clouds lit from below by towns, brightest towards the lit horizon, stars hidden;
- moonlit: grey clouds lit by the moon, stars hidden; the moon and its halo are in every render of the seed;
- thin: thin cloud that dims the stars to a tenth and adds a faint glow;
- dark: opaque cloud darker than the airglow and light pollution behind it, stars hidden.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from skyseg.synth.fields import fractal_noise

CLOUD_KINDS = ("lit", "moonlit", "thin", "dark")
STARS_PER_KPX = 3.0  # stars per 1000 sky px (a dark clear sky through a small all-sky lens)
DISPLAY_WHITE = 0.6  # linear level shown as 255


@dataclass
class CloudyScene:
    image: np.ndarray  # uint8 H x W x 3, RGB display frame
    sky: np.ndarray  # bool H x W
    cloud: np.ndarray  # bool H x W, exact; inside `sky`
    kind: str
    seed: int

    @property
    def cloud_fraction(self) -> float:
        n = int(self.sky.sum())
        return float(self.cloud.sum()) / n if n else float("nan")


def _streams(seed: int, sky_seed: int) -> Tuple[np.random.Generator, ...]:
    """Layout, clouds and moon from `seed`; stars and noise from `sky_seed` (another frame of the same camera)."""
    return (np.random.default_rng([seed, 0]), np.random.default_rng([sky_seed, 1]), np.random.default_rng([seed, 2]),
            np.random.default_rng([sky_seed, 3]), np.random.default_rng([seed, 4]))


def _layout(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, np.ndarray, float]:
    """Sky mask (the image circle less a few horizon bumps) and the relative radius r/R of every pixel."""
    cx, cy, radius = w / 2 + rng.uniform(-4, 4), h / 2 + rng.uniform(-4, 4), 0.46 * min(h, w)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    rel = np.hypot(xx - cx, yy - cy) / radius
    azimuth = np.arctan2(yy - cy, xx - cx)
    bumps = np.zeros_like(rel)
    for _ in range(rng.integers(1, 4)):  # trees or roofs cutting into the rim
        centre, half, depth = rng.uniform(-np.pi, np.pi), rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.15)
        delta = np.abs(np.angle(np.exp(1j * (azimuth - centre))))
        bumps = np.maximum(bumps, np.where(delta < half, depth * (1 - (delta / half) ** 2), 0.0))
    return rel <= 1.0 - bumps, rel, float(rng.uniform(-np.pi, np.pi))


def _stars(rng: np.random.Generator, sky: np.ndarray) -> np.ndarray:
    """Linear star light: power-law fluxes at random sky pixels, blurred to small Gaussian stars."""
    h, w = sky.shape
    n = int(STARS_PER_KPX * sky.sum() / 1000)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    flux = np.minimum(0.25 * rng.uniform(0.02, 1.0, n) ** -1.2, 8.0).astype(np.float32)
    img = np.zeros((h, w), np.float32)
    np.add.at(img, (ys, xs), flux)
    return cv2.GaussianBlur(img, (0, 0), 0.8) * sky


def render_cloudy_sky(seed: int, kind: str = "lit", size: Tuple[int, int] = (480, 480), cover: float = 0.4,
                      sky_seed: Optional[int] = None) -> CloudyScene:
    """A frame of `size` (H, W) whose clouds cover about `cover` of the sky, with its exact cloud mask; `sky_seed`
    draws another star field and noise for the same camera and clouds (a night's frames)."""
    if kind not in CLOUD_KINDS:
        raise ValueError(f"unknown cloud kind {kind!r}: expected one of {CLOUD_KINDS}")
    if not 0.0 <= cover <= 1.0:
        raise ValueError(f"cover must be within 0-1, got {cover}")
    h, w = size
    r_layout, r_stars, r_clouds, r_noise, r_moon = _streams(seed, seed if sky_seed is None else sky_seed)
    sky, rel, lit_side = _layout(r_layout, h, w)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    azimuth = np.arctan2(yy - h / 2, xx - w / 2)
    towards = 0.5 + 0.5 * np.cos(azimuth - lit_side)  # 1 on the light-polluted side
    background = 0.03 + 0.05 * np.clip(rel, 0, 1) ** 3 + 0.04 * towards * np.clip(rel, 0, 1) ** 2
    stars = _stars(r_stars, sky)
    moon = np.zeros_like(background)
    if kind == "moonlit":  # the moon and its halo: sky, never cloud
        mx, my = w / 2 + r_moon.uniform(-0.25, 0.25) * w, h / 2 + r_moon.uniform(-0.25, 0.25) * h
        dist = np.hypot(xx - mx, yy - my)
        moon = np.where(dist < 6, 3.0, 0.0) + 0.25 * np.exp(-dist / (0.08 * min(h, w)))
    field = fractal_noise(r_clouds, (h, w), base_cells=3, octaves=5)
    texture = fractal_noise(r_clouds, (h, w), base_cells=12, octaves=3)
    threshold = float(np.quantile(field[sky], 1.0 - cover)) if cover > 0 else np.inf
    cloud = (field > threshold) & sky
    linear = (background + moon) * sky + stars + 0.01 * ~sky
    if kind == "lit":
        glow = 0.10 + 0.25 * towards * np.clip(rel, 0, 1) + 0.03 * texture
        cloud_light = background + np.maximum(glow, 0.05)
    elif kind == "moonlit":
        cloud_light = background + moon * 0.5 + 0.18 + 0.03 * texture
    elif kind == "thin":
        cloud_light = background + 0.02 + 0.004 * texture + 0.1 * stars
    else:  # dark: blocks the airglow and light pollution behind it
        cloud_light = 0.3 * background + 0.002 * texture
    linear = np.where(cloud, cloud_light + (moon if kind != "moonlit" else 0), linear).astype(np.float32)
    linear += r_noise.normal(0.0, 0.004, (h, w)).astype(np.float32)
    grey = np.clip(np.sqrt(np.clip(linear, 0, None) / DISPLAY_WHITE), 0, 1) * 255.0
    image = np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, axis=2)
    return CloudyScene(image, sky, cloud, kind, seed)
