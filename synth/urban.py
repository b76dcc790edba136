"""Lamp-lit horizon structures for all-sky frames: facades, roofs, chimneys, masts, lit trees, snow.

Real all-sky cameras in towns see buildings and trees that are often *brighter* than the sky (sodium or LED
street lamps light them from below) and textured (windows, bricks, leaves). A model trained only on dark,
smooth obstructions learns "inside the circle is sky"; these structures teach it to look at the pixels.

Every structure is drawn from beyond the horizon circle inwards, so it is attached to the border of the sky
region (the sky keeps no holes). Brightness is written into the layout's `fg` (relative to the horizon sky
level, so 3.0 means three times the sky) and an RGB tint into `fg_tint`, both only where the structure is.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from skyseg.synth.fields import fractal_noise

SODIUM = (1.0, 0.62, 0.32)
LED = (0.92, 0.95, 1.0)
NEUTRAL = (1.0, 1.0, 1.0)


class Frame:
    """Local frame at one azimuth of a fisheye horizon: t along the horizon, u inwards (towards the zenith)."""

    def __init__(self, cx: float, cy: float, r_sky: float, phi: float):
        self.cx, self.cy, self.r_sky = cx, cy, r_sky
        self.c, self.s = math.cos(phi), math.sin(phi)

    def to_xy(self, t: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(t, u) in pixels → int32 image points; u = 0 is the horizon circle, u > 0 is inside the sky."""
        rr = self.r_sky - np.asarray(u, np.float64)
        t = np.asarray(t, np.float64)
        x = self.cx + rr * self.c - t * self.s
        y = self.cy + rr * self.s + t * self.c
        return np.round(np.stack([x, y], 1)).astype(np.int32)


def _fill(target: np.ndarray, pts: np.ndarray, value) -> None:
    cv2.fillPoly(target, [pts.reshape(-1, 1, 2)], value)


def _attached(shape: np.ndarray, fr: Frame) -> np.ndarray:
    """Only the parts of a bool shape that reach the horizon circle (a floating piece would punch a hole in the sky)."""
    count, labels = cv2.connectedComponents(shape.astype(np.uint8), connectivity=8)
    if count <= 1:
        return shape
    ys, xs = np.nonzero(shape)
    rr = np.hypot(xs - fr.cx, ys - fr.cy)
    keep = np.zeros(count, bool)
    keep[labels[ys, xs][rr >= fr.r_sky - 1.0]] = True
    keep[0] = False
    return keep[labels]


def _rect(fr: Frame, t0: float, t1: float, u0: float, u1: float) -> np.ndarray:
    return fr.to_xy(np.array([t0, t1, t1, t0]), np.array([u0, u0, u1, u1]))


def _building(rng: np.random.Generator, fr: Frame, obstacle: np.ndarray, fg: np.ndarray, tint: np.ndarray,
              scale: float, inside: np.ndarray) -> None:
    """A facade with a roof (flat, gabled or domed), windows, balconies, chimneys and antennas, lamp-lit."""
    half = rng.uniform(0.04, 0.22) * scale
    height = rng.uniform(0.04, 0.2) * scale
    base_u = -0.08 * scale  # start beyond the horizon so the structure touches the sky border
    shape = np.zeros(obstacle.shape, np.uint8)
    _fill(shape, _rect(fr, -half, half, base_u, height), 1)
    roof = rng.choice(["flat", "gable", "dome"], p=[0.55, 0.3, 0.15])
    if roof == "gable":
        _fill(shape, fr.to_xy(np.array([-half, half, 0.0]), np.array([height, height, height + rng.uniform(0.2, 0.6) * half])), 1)
    elif roof == "dome":
        t = np.linspace(-half, half, 24)
        u = height + np.sqrt(np.clip(half**2 - t**2, 0.0, None)) * rng.uniform(0.5, 1.0)
        _fill(shape, fr.to_xy(np.concatenate([t, [half, -half]]), np.concatenate([u, [height, height]])), 1)
    for _ in range(rng.integers(0, 3)):  # chimneys
        tc = rng.uniform(-0.8, 0.8) * half
        wc = rng.uniform(0.03, 0.08) * half + 2
        _fill(shape, _rect(fr, tc - wc, tc + wc, height - 1, height + rng.uniform(0.1, 0.35) * half), 1)
    for _ in range(rng.integers(0, 3)):  # antennas and masts: at least 3 px wide, so foreground
        tc = rng.uniform(-0.9, 0.9) * half
        top = height + rng.uniform(0.2, 1.2) * half
        p = fr.to_xy(np.array([tc, tc]), np.array([height - 1, top]))
        cv2.line(shape, tuple(map(int, p[0])), tuple(map(int, p[1])), 1, int(rng.integers(3, 6)))
        if rng.random() < 0.5:  # a cross-bar
            q = fr.to_xy(np.array([tc - 0.1 * half, tc + 0.1 * half]), np.array([top - 0.1 * half] * 2))
            cv2.line(shape, tuple(map(int, q[0])), tuple(map(int, q[1])), 1, 3)
    where = _attached(shape.astype(bool) & inside, fr)  # nothing is seen outside the image circle
    if not where.any():
        return
    # Brightness: from a black silhouette to several times the sky, brighter near the ground (lit from below).
    level = float(np.exp(rng.uniform(np.log(0.03), np.log(6.0))))
    ys, xs = np.nonzero(where)
    rr = np.hypot(xs - fr.cx, ys - fr.cy)
    lift = np.clip((fr.r_sky - rr) / max(height + 0.5 * half, 1.0), 0.0, 1.5)  # 0 at the horizon, up the facade
    below = rng.uniform(0.0, 0.8)
    value = level * (1.0 - below * lift) * (1.0 + 0.15 * rng.standard_normal(ys.size))
    fg[ys, xs] = np.maximum(value, 0.005).astype(np.float32)
    # Windows: a grid in the facade, some lit (warm or cold), some dark.
    rows, cols = int(rng.integers(1, 7)), int(rng.integers(2, 12))
    win = max(1.5, 0.35 * min(2 * half / cols, height / rows))
    lit_share = rng.uniform(0.0, 0.7)
    for i in range(rows):
        for j in range(cols):
            t = -half + (j + 0.5) * 2 * half / cols
            u = (i + 0.5) * height / rows
            pts = _rect(fr, t - win, t + win, u - win, u + win)
            lit = rng.random() < lit_share
            val = float(rng.uniform(2.0, 12.0)) if lit else level * rng.uniform(0.1, 0.5)
            window = np.zeros(shape.shape, np.uint8)
            _fill(window, pts, 1)
            window = window.astype(bool) & where
            fg[window] = val
            if lit:
                tint[window] = SODIUM if rng.random() < 0.6 else LED
    if rng.random() < 0.4:  # balconies / fire escapes: bands across the facade
        for i in range(1, rows):
            u = i * height / rows
            band = np.zeros(shape.shape, np.uint8)
            _fill(band, _rect(fr, -half, half, u - 1.0, u + 1.0), 1)
            fg[band.astype(bool) & where] = level * rng.uniform(0.2, 2.0)
    obstacle |= where


def _lit_tree(rng: np.random.Generator, fr: Frame, obstacle: np.ndarray, fg: np.ndarray, tint: np.ndarray,
              scale: float, inside: np.ndarray) -> None:
    """A crown of lumpy discs on a trunk, leaf-textured, often lit orange from below by a street lamp."""
    h_crown = rng.uniform(0.06, 0.3) * scale
    shape = np.zeros(obstacle.shape, np.uint8)
    trunk = max(3.0, rng.uniform(0.02, 0.06) * h_crown)
    stem = np.zeros(obstacle.shape, np.uint8)
    _fill(stem, _rect(fr, -trunk, trunk, -0.08 * scale, 0.45 * h_crown), 1)
    for _ in range(int(rng.integers(4, 14))):
        t = rng.normal(0.0, 0.25) * h_crown
        u = rng.uniform(0.3, 0.85) * h_crown
        c = fr.to_xy(np.array([t]), np.array([u]))[0]
        cv2.circle(shape, (int(c[0]), int(c[1])), int(rng.uniform(0.12, 0.3) * h_crown) + 2, 1, -1)
    where = _attached((shape | stem).astype(bool) & inside, fr)
    ys, xs = np.nonzero(where)
    if ys.size == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # Leaves: high-frequency texture; a ragged outline from eroding where the texture is dark.
    tex = fractal_noise(rng, (y1 - y0, x1 - x0), base_cells=max(4, (x1 - x0) // 4), octaves=3, persistence=0.6)
    edge = where[y0:y1, x0:x1] & ~cv2.erode(shape[y0:y1, x0:x1], np.ones((5, 5), np.uint8)).astype(bool)
    ragged = edge & (tex < -0.3) & ~stem[y0:y1, x0:x1].astype(bool)  # leaves are ragged, the trunk is not
    sub = where[y0:y1, x0:x1] & ~ragged
    full = np.zeros_like(where)
    full[y0:y1, x0:x1] = sub
    sub = _attached(full, fr)[y0:y1, x0:x1]
    level = float(np.exp(rng.uniform(np.log(0.02), np.log(4.0))))
    rr = np.hypot(np.arange(x0, x1)[None, :] - fr.cx, np.arange(y0, y1)[:, None] - fr.cy)
    lift = np.clip((fr.r_sky - rr) / max(h_crown, 1.0), 0.0, 1.2)
    below = rng.uniform(0.0, 0.9)
    value = level * (1.0 - below * lift) * np.exp(0.35 * tex)
    region = fg[y0:y1, x0:x1]
    region[sub] = np.maximum(value[sub], 0.005).astype(np.float32)
    if rng.random() < 0.6:
        tint[y0:y1, x0:x1][sub] = SODIUM if rng.random() < 0.7 else (0.75, 0.85, 0.7)
    # Keep the mask closed: the ragged bits become sky pixels only if they touch the sky; dropped pockets are
    # filled later by the renderer (scene._fill_pockets), so image and mask still agree.
    obstacle[y0:y1, x0:x1] |= sub


def add_lit_structures(rng: np.random.Generator, obstacle: np.ndarray, fg: np.ndarray, tint: np.ndarray,
                       inside: np.ndarray, cx: float, cy: float, r_sky: float) -> dict:
    """Draw 1–7 buildings and lit trees around the horizon (in place); maybe snow on the ground."""
    notes: dict = {"lit_buildings": 0, "lit_trees": 0}
    for _ in range(int(rng.integers(1, 8))):
        fr = Frame(cx, cy, r_sky, rng.uniform(-math.pi, math.pi))
        if rng.random() < 0.55:
            _building(rng, fr, obstacle, fg, tint, r_sky, inside)
            notes["lit_buildings"] += 1
        else:
            _lit_tree(rng, fr, obstacle, fg, tint, r_sky, inside)
            notes["lit_trees"] += 1
    if rng.random() < 0.15:  # snow-covered ground: bright, smooth, slightly blue
        yy, xx = np.mgrid[0:fg.shape[0], 0:fg.shape[1]]
        ground = obstacle & inside & (np.hypot(xx - cx, yy - cy) > r_sky * 0.97)
        fg[ground] = np.float32(rng.uniform(0.8, 2.5))
        tint[ground] = (0.9, 0.95, 1.0)
        notes["snow"] = True
    return notes
