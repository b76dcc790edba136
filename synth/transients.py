"""Bright things inside the sky that must never look like the edge of the ground, and lens glare.

- Meteors: long, bright, tapered streaks (brighter than anything else in the sky) drawn only over sky
  pixels — a meteor behind a tree is hidden by it. Labelled sky.
- Lamp glare and flare spurs: a lamp near the horizon with a wide glow and diffraction spikes that cross the
  horizon and the lens rim. Light adds to whatever it crosses; the mask does not change.
- Text overlays: all-sky software stamps the time, exposure and gain in a corner of the frame. Drawn into the
  final image; what is under the text keeps its label (sky under the text stays sky).
All functions work in place and draw from the scene's rng, so frames stay deterministic.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

_METEOR_COLORS = ((0.8, 1.0, 0.85), (1.0, 1.0, 1.0), (1.0, 0.85, 0.7))


def add_meteors(rng: np.random.Generator, rad: np.ndarray, sky: np.ndarray, sky_level: float, n: int) -> int:
    """Draw n meteor streaks into the radiance (H, W, C) where `sky` (bool) is set; returns how many landed."""
    h, w, ch = rad.shape
    ys, xs = np.nonzero(sky[::4, ::4])
    if ys.size == 0:
        return 0
    drawn = 0
    for _ in range(n):
        k = int(rng.integers(ys.size))
        x0, y0 = float(xs[k] * 4), float(ys[k] * 4)
        length = rng.uniform(0.1, 0.6) * max(h, w)
        ang = rng.uniform(0.0, 2 * math.pi)
        x1, y1 = x0 + length * math.cos(ang), y0 + length * math.sin(ang)
        width = float(rng.uniform(1.0, 4.0)) * max(h, w) / 640.0
        peak = float(np.exp(rng.uniform(np.log(3.0), np.log(80.0)))) * sky_level
        streak = np.zeros((h, w), np.float32)
        segments = 24
        pos = rng.uniform(0.3, 0.8)  # brightest point along the trail: a flare before burning out
        for i in range(segments):
            a, b = i / segments, (i + 1) / segments
            mid = 0.5 * (a + b)
            level = math.exp(-((mid - pos) / (0.35 if mid < pos else 0.15)) ** 2)
            p = (int(round(x0 + a * (x1 - x0))), int(round(y0 + a * (y1 - y0))))
            q = (int(round(x0 + b * (x1 - x0))), int(round(y0 + b * (y1 - y0))))
            thick = max(1, int(round(width * (0.5 + 0.5 * level))))
            cv2.line(streak, p, q, level, thick, cv2.LINE_AA)
        streak = cv2.GaussianBlur(streak, (0, 0), max(0.6, 0.4 * width))
        streak[~sky] = 0.0
        color = np.asarray(_METEOR_COLORS[int(rng.integers(len(_METEOR_COLORS)))], np.float32)
        if ch == 1:
            color = np.array([float(color.mean())], np.float32)
        rad += (streak * np.float32(peak))[..., None] * color
        drawn += 1
    return drawn


def add_glare(rng: np.random.Generator, rad: np.ndarray, x: float, y: float, sky_level: float) -> None:
    """A street lamp's glare at (x, y): a wide glow and 4–8 diffraction spikes, crossing every border."""
    h, w, ch = rad.shape
    glare = np.zeros((h, w), np.float32)
    spikes = int(rng.choice([4, 6, 8]))
    rot = rng.uniform(0.0, math.pi)
    reach = rng.uniform(0.1, 0.4) * max(h, w)
    for i in range(spikes):
        a = rot + i * 2 * math.pi / spikes
        p = (int(round(x)), int(round(y)))
        q = (int(round(x + reach * math.cos(a))), int(round(y + reach * math.sin(a))))
        cv2.line(glare, p, q, 0.4, max(1, int(round(max(h, w) / 400))), cv2.LINE_AA)
    glare = cv2.GaussianBlur(glare, (0, 0), 1.0)
    yy = (np.arange(h, dtype=np.float32) - y)[:, None]
    xx = (np.arange(w, dtype=np.float32) - x)[None, :]
    d2 = yy * yy + xx * xx
    scale = rng.uniform(0.01, 0.06) * max(h, w)
    glare += np.exp(-d2 / np.float32(2 * scale * scale)) + 0.15 * np.exp(-np.sqrt(d2) / np.float32(4 * scale))
    strength = float(np.exp(rng.uniform(np.log(2.0), np.log(60.0)))) * sky_level
    color = np.float32((1.0, 0.7, 0.4)) if rng.random() < 0.6 else np.float32((0.9, 0.95, 1.0))
    if ch == 1:
        color = np.array([float(color.mean())], np.float32)
    rad += (glare * np.float32(strength))[..., None] * color


def stamp_text(rng: np.random.Generator, image: np.ndarray) -> str:
    """Stamp a timestamp / exposure overlay into a corner of the final RGB image (uint8 or uint16)."""
    h, w = image.shape[:2]
    when = f"20{rng.integers(15, 27):02d}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d} " \
           f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"
    lines = [when, f"Exposure {rng.uniform(0.5, 60):.1f} s", f"Gain {int(rng.integers(0, 400))}"]
    if rng.random() < 0.5:
        lines.append(f"Temp {rng.uniform(-20, 40):.1f} C  SQM {rng.uniform(16, 22):.2f}")
    lines = lines[: int(rng.integers(1, len(lines) + 1))]
    scale = max(0.3, rng.uniform(0.4, 1.0) * max(h, w) / 1200.0)
    thick = max(1, int(round(scale * 1.5)))
    top = float(np.iinfo(image.dtype).max)
    color = tuple(float(c) * top for c in (((1, 1, 1), (1, 1, 0.3), (0.3, 1, 0.3))[int(rng.integers(3))]))
    step = int(32 * scale) + 4
    corner = int(rng.integers(4))
    x = 8 if corner in (0, 2) else int(w - 8 - 16 * scale * max(len(s) for s in lines))
    y = step if corner in (0, 1) else h - 8 - step * (len(lines) - 1)
    x = max(0, x)
    for i, text in enumerate(lines):
        cv2.putText(image, text, (x, y + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
    return "\n".join(lines)
