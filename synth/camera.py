"""Perspective (surveillance / night camera) layouts: a horizon with mountains, skylines, trees and poles.

The foreground is a per-column top edge (ground, mountains, buildings) plus shapes that grow upwards from it
(tree crowns, antennas, poles), so every obstacle is attached to the bottom of the frame.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from skyseg.synth.fields import fractal_noise, profile_noise
from skyseg.synth.layout import LOW, Layout, Light, Wire, low_shape


def _skyline(rng: np.random.Generator, top: np.ndarray, fg: np.ndarray, obstacle: np.ndarray,
             horizon: np.ndarray, lights: list[Light], h: int, notes: dict) -> None:
    """Buildings: blocks with flat roofs, lit windows, rooftop antennas."""
    w = top.shape[0]
    x = int(rng.integers(-20, 40))
    n = 0
    while x < w:
        bw = int(rng.integers(max(6, w // 40), max(8, w // 6)))
        if rng.random() < 0.75:
            x0, x1 = max(0, x), min(w, x + bw)
            if x1 > x0:
                base = int(horizon[x0:x1].max())
                y_top = int(max(2, base - rng.uniform(0.03, 0.35) * h))
                value = float(rng.uniform(0.03, 0.25))
                cv2.rectangle(obstacle, (x0, y_top), (x1 - 1, h - 1), 1, -1)
                cv2.rectangle(fg, (x0, y_top), (x1 - 1, h - 1), value, -1)
                if rng.random() < 0.6:  # lit windows
                    win = max(2, w // 160)
                    for _ in range(int(rng.integers(2, 30))):
                        wx = int(rng.integers(x0, max(x0 + 1, x1 - win)))
                        wy = int(rng.integers(y_top + win, max(y_top + win + 1, base)))
                        cv2.rectangle(fg, (wx, wy), (wx + win, wy + win), float(rng.uniform(1.0, 8.0)), -1)
                if rng.random() < 0.2:  # antenna / spire (>= 3 px wide, so it is labelled foreground)
                    ax = int(rng.integers(x0, x1))
                    ay = int(max(1, y_top - rng.uniform(0.03, 0.12) * h))
                    cv2.line(obstacle, (ax, y_top), (ax, ay), 1, 3)
                    cv2.line(fg, (ax, y_top), (ax, ay), value, 3)
                    if rng.random() < 0.5:
                        lights.append(Light(ax, ay, float(rng.uniform(2, 15)), 2.5, (1.0, 0.15, 0.1)))
                n += 1
        x += bw + int(rng.integers(0, w // 20 + 1))
    notes["buildings"] = n


def _trees(rng: np.random.Generator, fg: np.ndarray, obstacle: np.ndarray, horizon: np.ndarray,
           h: int, notes: dict) -> None:
    """Deciduous crowns (clusters of ellipses) and conifers (triangles) rooted on the ground line."""
    w = horizon.shape[0]
    count = int(rng.integers(1, 25))
    x_lo, x_hi = sorted(rng.uniform(0, w, 2))
    for _ in range(count):
        x = int(rng.uniform(x_lo - 20, x_hi + 20)) % w
        base = int(horizon[x])
        height = rng.uniform(0.05, 0.35) * h
        value = float(rng.uniform(0.02, 0.12))
        if rng.random() < 0.5:
            half = height * rng.uniform(0.15, 0.3)
            pts = np.array([[x - half, base + 2], [x + half, base + 2], [x, base - height]], np.int32)
            cv2.fillPoly(obstacle, [pts], 1)
            cv2.fillPoly(fg, [pts], value)
        else:
            cv2.line(obstacle, (x, base + 2), (x, int(base - height * 0.5)), 1, max(3, int(height * 0.05)))
            for _ in range(int(rng.integers(3, 9))):
                ex = int(x + rng.normal(0.0, height * 0.18))
                ey = int(base - height * rng.uniform(0.45, 0.85))
                ax = (int(height * rng.uniform(0.1, 0.25)), int(height * rng.uniform(0.08, 0.2)))
                # Each blob overlaps the trunk top region, keeping the crown attached.
                cv2.ellipse(obstacle, (ex, ey), ax, 0, 0, 360, 1, -1)
                cv2.ellipse(fg, (ex, ey), ax, 0, 0, 360, value, -1)
                cv2.line(obstacle, (x, int(base - height * 0.5)), (ex, ey), 1, 3)
    notes["trees"] = count


def _overhang(rng: np.random.Generator, fg: np.ndarray, obstacle: np.ndarray, notes: dict) -> None:
    """Something hanging into the view from a frame edge: a roof eave in a top corner or a leafy branch."""
    h, w = obstacle.shape
    value = float(rng.uniform(0.01, 0.12))
    if rng.random() < 0.5:  # eave: a straight edge cutting off a top corner
        a, b = rng.uniform(0.15, 0.7) * w, rng.uniform(0.05, 0.45) * h
        corner_x = 0 if rng.random() < 0.5 else w - 1
        sign = 1 if corner_x == 0 else -1
        pts = np.array([[corner_x, -1], [corner_x + sign * a, -1], [corner_x, b]], np.int32)
        cv2.fillPoly(obstacle, [pts], 1)
        cv2.fillPoly(fg, [pts], value)
        notes["overhang"] = "eave"
        return
    side = rng.integers(2)  # branch from the left or right edge, drooping
    x0, y0 = (0 if side == 0 else w - 1), rng.uniform(0.0, 0.4) * h
    length = rng.uniform(0.2, 0.6) * w
    t = np.linspace(0.0, 1.0, 12)
    xs = x0 + (1 if side == 0 else -1) * length * t
    ys = y0 + rng.uniform(0.05, 0.25) * h * t**2
    pts = np.stack([xs, ys], 1).astype(np.int32)
    thick = int(rng.integers(3, 9))
    cv2.polylines(obstacle, [pts.reshape(-1, 1, 2)], False, 1, thick)
    cv2.polylines(fg, [pts.reshape(-1, 1, 2)], False, value, thick)
    for _ in range(int(rng.integers(0, 12))):  # leaf clusters centred on the branch, so they stay attached
        k = int(rng.integers(2, len(pts)))
        axes = (int(rng.uniform(0.02, 0.07) * w), int(rng.uniform(0.015, 0.05) * h))
        centre = (int(pts[k, 0]), int(pts[k, 1]))
        cv2.ellipse(obstacle, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        cv2.ellipse(fg, centre, axes, 0, 0, 360, value, -1)
    notes["overhang"] = "branch"


def build_camera_layout(rng: np.random.Generator, size_wh: tuple[int, int]) -> Layout:
    """A perspective night view: horizon row, roll, focal length, and the foreground above the horizon."""
    w, h = size_wh
    notes: dict = {}
    hfov = math.radians(rng.uniform(45.0, 110.0))
    focal = w / 2.0 / math.tan(hfov / 2.0)
    roll = math.radians(rng.normal(0.0, 2.0))
    y_h0 = h * rng.uniform(0.45, 0.92)
    xs = np.arange(w, dtype=np.float32)
    horizon = y_h0 + (xs - w / 2.0) * math.tan(roll)  # true horizon row per column

    obstacle = np.zeros((h, w), np.uint8)
    fg = np.zeros((h, w), np.float32)
    lights: list[Light] = []
    ground = np.clip(horizon, 0, h).astype(np.int32)
    if rng.random() < 0.55:  # mountains / hills
        m = profile_noise(rng, w, base_cells=int(rng.integers(2, 6)), octaves=5, persistence=0.5)
        amp = rng.uniform(0.02, 0.2) * h
        ground = np.minimum(ground, (horizon - amp * (0.6 + 0.5 * m)).astype(np.int32))
        notes["mountains"] = True
    ground = np.clip(ground, 2, h)
    rows = np.arange(h, dtype=np.int32)[:, None]
    obstacle |= (rows >= ground[None, :]).astype(np.uint8)
    fg += np.where(obstacle > 0, np.float32(rng.uniform(0.02, 0.2)), np.float32(0.0))
    if rng.random() < 0.55:
        _skyline(rng, ground, fg, obstacle, ground, lights, h, notes)
    if rng.random() < 0.6:
        _trees(rng, fg, obstacle, ground, h, notes)

    wires: list[Wire] = []
    if rng.random() < 0.45:  # poles with wires between them
        n_poles = int(rng.integers(1, 5))
        px = np.sort(rng.uniform(0, w, n_poles)).astype(int)
        tops = []
        for x in px:
            top = int(max(2, ground[x] - rng.uniform(0.15, 0.5) * h))
            thick = int(rng.integers(3, 8))
            cv2.line(obstacle, (int(x), h - 1), (int(x), top), 1, thick)
            cv2.line(fg, (int(x), h - 1), (int(x), top), 0.05, thick)
            cv2.line(obstacle, (int(x) - 4 * thick, top + 3), (int(x) + 4 * thick, top + 3), 1, 3)
            tops.append((int(x), top + 3))
            if rng.random() < 0.5:  # street light head
                lights.append(Light(x + 3 * thick, top + 6, float(rng.uniform(10, 80)), float(rng.uniform(4, 14)),
                                    (1.0, 0.75, 0.45) if rng.random() < 0.6 else (0.9, 0.95, 1.0)))
        left = (-5, tops[0][1] + int(rng.integers(-20, 40)))
        right = (w + 5, tops[-1][1] + int(rng.integers(-20, 40)))
        ends = [left, *tops, right]
        for k in range(len(ends) - 1):
            (x0, y0), (x1, y1) = ends[k], ends[k + 1]
            t = np.linspace(0.0, 1.0, 30)
            sag = rng.uniform(0.02, 0.1) * h * np.sin(np.pi * t)
            pts = np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t + sag], 1)
            wires.append(Wire(np.round(pts).astype(np.int32), int(rng.integers(1, 3)), float(rng.uniform(0.4, 0.9))))
        notes["poles"] = n_poles
    if rng.random() < 0.2:
        _overhang(rng, fg, obstacle, notes)
    texture = cv2.resize(fractal_noise(rng, low_shape(size_wh), base_cells=6, octaves=2), size_wh)
    fg *= (1.0 + 0.06 * texture).astype(np.float32)  # gentle: a strong tone curve amplifies it
    fg *= np.clip(1.3 - 0.9 * (rows - horizon.min()) / h, 0.2, 1.3).astype(np.float32)  # darker near camera

    lh, lw = low_shape(size_wh)
    yl = (np.arange(lh, dtype=np.float32) + 0.5) * LOW
    xl = (np.arange(lw, dtype=np.float32) + 0.5) * LOW
    hz = y_h0 + (xl - w / 2.0) * math.tan(roll)
    az0 = rng.uniform(-math.pi, math.pi)
    alt_lo = np.clip(np.arctan2(hz[None, :] - yl[:, None], focal), 0.0, None).astype(np.float32)
    az_lo = np.broadcast_to(az0 + np.arctan2(xl - w / 2.0, focal), (lh, lw)).astype(np.float32)
    rr = np.hypot((xl[None, :] - w / 2.0) / focal, (yl[:, None] - h / 2.0) / focal)
    vignette_lo = (1.0 / (1.0 + rr**2) ** 2).astype(np.float32)  # cos^4 falloff

    def project(alt: float, az: float) -> tuple[float, float] | None:
        d = math.atan2(math.sin(az - az0), math.cos(az - az0))
        if abs(d) >= math.pi / 2 or alt >= math.pi / 2:
            return None
        x = w / 2.0 + focal * math.tan(d)
        y = y_h0 + (x - w / 2.0) * math.tan(roll) - focal * math.tan(alt) / math.cos(d)
        return (x, y) if (-w < x < 2 * w and -h < y < 2 * h) else None

    notes["hfov_deg"] = math.degrees(hfov)
    return Layout(
        kind="camera", size_wh=size_wh, obstacle=obstacle.astype(bool), outside=np.zeros((h, w), bool), fg=fg,
        alt_lo=alt_lo, az_lo=az_lo, vignette_lo=vignette_lo, deg_per_px=math.degrees(hfov) / w,
        project=project, wires=wires, lights=lights, notes=notes,
    )
