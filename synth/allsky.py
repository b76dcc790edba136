"""All-sky (fisheye) layouts: an image circle in a dark frame with horizon obstructions at its edge.

The lens is modelled as equidistant (r ∝ zenith angle), the usual all-sky projection. Obstructions are
described as a radial depth profile over azimuth (tree lines, buildings, domes, distant hills, the lens
housing) plus objects drawn from outside the circle inwards (masts, telescope arms, camera housings), so
every obstacle touches the region border.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from skyseg.synth.fields import fractal_noise, profile_noise
from skyseg.synth.layout import LOW, Layout, Light, Wire, low_shape

_BINS = 2048  # azimuth resolution of the horizon profile


def _polar(size_wh: tuple[int, int], cx: float, cy: float, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Radius (px) and angle (rad, in [0, 2π)) of pixel centres, optionally on a coarser grid."""
    w, h = size_wh
    ys = (np.arange(0, h, step, dtype=np.float32) + (step - 1) / 2.0) - cy
    xs = (np.arange(0, w, step, dtype=np.float32) + (step - 1) / 2.0) - cx
    gx = np.ascontiguousarray(np.broadcast_to(xs[None, :], (ys.size, xs.size)))
    gy = np.ascontiguousarray(np.broadcast_to(ys[:, None], (ys.size, xs.size)))
    r, phi = cv2.cartToPolar(gx, gy)  # ~0.3° angle accuracy: plenty for a 2048-bin horizon profile
    return r, phi


def _horizon_profile(rng: np.random.Generator, notes: dict) -> tuple[np.ndarray, np.ndarray]:
    """Radial obstruction depth (fraction of the sky radius) and foreground brightness per azimuth bin."""
    az = np.linspace(0.0, 2 * math.pi, _BINS, endpoint=False, dtype=np.float32)  # bin k ↔ atan2 angle
    depth = np.zeros(_BINS, np.float32)
    bright = np.full(_BINS, 0.08, np.float32)

    def put(d: np.ndarray, b: float) -> None:
        nonlocal depth, bright
        take = d > depth
        depth = np.where(take, d, depth)
        bright = np.where(take, b, bright)

    def window(center: float, half: float) -> np.ndarray:
        delta = np.angle(np.exp(1j * (az - center))).astype(np.float32)
        return np.abs(delta) / half, delta

    if rng.random() < 0.6:  # distant hills / terrain all around
        hills = profile_noise(rng, _BINS, base_cells=3, octaves=4, periodic=True)
        put(np.clip(rng.uniform(0.01, 0.06) * (1.0 + 0.8 * hills), 0.0, None), rng.uniform(0.03, 0.2))
        notes["hills"] = True
    for _ in range(rng.integers(0, 4)):  # tree lines: jagged crowns
        u, _ = window(rng.uniform(-math.pi, math.pi), rng.uniform(0.2, 1.4))
        jag = profile_noise(rng, _BINS, base_cells=40, octaves=4, persistence=0.7, periodic=True)
        d = rng.uniform(0.05, 0.22) * (1.0 + 0.35 * jag) * np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0))
        put(np.where(u < 1.0, d, 0.0).astype(np.float32), rng.uniform(0.03, 0.4))
        notes["trees"] = notes.get("trees", 0) + 1
    for _ in range(rng.integers(0, 4)):  # buildings: flat roofs (constant depth) with steps
        center, half = rng.uniform(-math.pi, math.pi), rng.uniform(0.05, 0.35)
        u, delta = window(center, half)
        steps = rng.integers(1, 4)
        edges = np.sort(rng.uniform(-half, half, steps - 1))
        levels = rng.uniform(0.04, 0.2, steps)
        d = levels[np.searchsorted(edges, delta)].astype(np.float32)
        put(np.where(u < 1.0, d, 0.0).astype(np.float32), rng.uniform(0.05, 0.7))
        notes["buildings"] = notes.get("buildings", 0) + 1
    for _ in range(rng.integers(0, 3)):  # domes: half-disc bumps, often bright paint
        u, _ = window(rng.uniform(-math.pi, math.pi), rng.uniform(0.08, 0.3))
        d = rng.uniform(0.06, 0.25) * np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0))
        put(d.astype(np.float32), rng.uniform(0.15, 1.0))
        notes["domes"] = notes.get("domes", 0) + 1
    ring = rng.uniform(0.0, 0.035) if rng.random() < 0.7 else 0.0  # housing ring / dome-glass edge
    if ring > 0:
        wobble = 1.0 + 0.3 * profile_noise(rng, _BINS, base_cells=2, octaves=2, periodic=True)
        put((ring * wobble).astype(np.float32), rng.uniform(0.02, 0.12))
    return depth, bright


def _draw_arm(rng: np.random.Generator, obstacle: np.ndarray, fg: np.ndarray, cx: float, cy: float,
              r_sky: float) -> str:
    """A mast, telescope arm or camera housing drawn from outside the circle inwards (so it is attached)."""
    phi = rng.uniform(-math.pi, math.pi)
    kind = rng.choice(["mast", "arm", "housing"], p=[0.45, 0.35, 0.2])
    x0, y0 = cx + 1.08 * r_sky * math.cos(phi), cy + 1.08 * r_sky * math.sin(phi)
    value = float(rng.uniform(0.03, 0.8))
    if kind == "housing":  # a box straddling the circle edge
        depth = rng.uniform(0.08, 0.22) * r_sky
        half_w = rng.uniform(0.06, 0.18) * r_sky
        tx, ty = -math.sin(phi), math.cos(phi)
        xi, yi = cx + (r_sky - depth) * math.cos(phi), cy + (r_sky - depth) * math.sin(phi)
        pts = np.array([[x0 + tx * half_w, y0 + ty * half_w], [x0 - tx * half_w, y0 - ty * half_w],
                        [xi - tx * half_w, yi - ty * half_w], [xi + tx * half_w, yi + ty * half_w]])
        polys = [np.round(pts).astype(np.int32)]
        cv2.fillPoly(obstacle, polys, 1)
        cv2.fillPoly(fg, polys, value)
        return kind
    reach = rng.uniform(0.25, 0.75) if kind == "arm" else rng.uniform(0.1, 0.45)
    bend = rng.uniform(-0.25, 0.25)
    x1 = cx + (1.0 - reach) * r_sky * math.cos(phi + bend)
    y1 = cy + (1.0 - reach) * r_sky * math.sin(phi + bend)
    thick = int(rng.integers(3, 14)) if kind == "arm" else int(rng.integers(3, 7))
    p0, p1 = (int(round(x0)), int(round(y0))), (int(round(x1)), int(round(y1)))
    cv2.line(obstacle, p0, p1, 1, thick)
    cv2.line(fg, p0, p1, value, thick)
    if rng.random() < 0.6:  # a box at the tip (camera, instrument) or a cross-bar (mast)
        size = int(rng.integers(thick + 2, 3 * thick + 6))
        if kind == "arm":
            cv2.circle(obstacle, p1, size // 2, 1, -1)
            cv2.circle(fg, p1, size // 2, value, -1)
        else:
            dx, dy = (p1[1] - p0[1]), -(p1[0] - p0[0])
            norm = max(1.0, math.hypot(dx, dy))
            half = size / norm
            q0 = (int(round(p1[0] - dx * half)), int(round(p1[1] - dy * half)))
            q1 = (int(round(p1[0] + dx * half)), int(round(p1[1] + dy * half)))
            cv2.line(obstacle, q0, q1, 1, 3)
            cv2.line(fg, q0, q1, value, 3)
    return str(kind)


def build_allsky_layout(rng: np.random.Generator, size_wh: tuple[int, int],
                        radius_range: tuple[float, float] = (0.78, 1.22)) -> Layout:
    """A fisheye frame: circle position/size, lens field of view, horizon profile, arms, wires, lights.

    radius_range: the image circle's radius as a multiple of half the frame's short side (> 1: cropped by the
    sensor, as on IceAct or on 16:9 amateur cameras).
    """
    w, h = size_wh
    notes: dict = {}
    short = min(w, h)
    radius = short / 2.0 * rng.uniform(*radius_range)  # > 1: the circle is clipped by the frame (IceAct-like)
    cx = w / 2.0 + rng.normal(0.0, 0.03) * short
    cy = h / 2.0 + rng.normal(0.0, 0.03) * short
    fov_half = math.radians(rng.uniform(88.0, 100.0))  # lens half-field; > 90°: ground inside the circle
    r_sky = radius * (math.pi / 2) / fov_half
    rot = rng.uniform(-math.pi, math.pi)

    r, phi = _polar(size_wh, cx, cy)
    depth, bright = _horizon_profile(rng, notes)
    bins = (phi * np.float32(_BINS / (2 * math.pi))).astype(np.int32) % _BINS
    outside = r >= radius
    obstacle = ((r > np.float32(r_sky) * (1.0 - depth[bins])) & ~outside).astype(np.uint8)
    # Foreground shading is smooth: texture, lighting from the horizon side, and the scattered-light halo
    # outside the circle are evaluated on the coarse grid and upsampled.
    r_lo, phi_lo = _polar(size_wh, cx, cy, step=LOW)
    lh, lw = low_shape(size_wh)
    r_lo, phi_lo = r_lo[:lh, :lw], phi_lo[:lh, :lw]
    inward_lo = (r_sky - r_lo) / r_sky  # 0 at the horizon, 1 at the zenith
    shade = 1.0 + 0.1 * fractal_noise(rng, (lh, lw), base_cells=6, octaves=2)
    shade *= np.clip(1.2 - 0.8 * inward_lo, 0.3, 1.5)  # lit from the horizon side
    beyond = np.maximum(r_lo - radius, 0.0) / radius
    halo = rng.uniform(0.0, 0.25) * np.exp(-beyond / rng.uniform(0.02, 0.15)) + rng.uniform(0.0, 0.01)
    factor = np.where(r_lo >= radius, halo, shade).astype(np.float32)
    fg = np.where(outside, np.float32(1.0), bright[bins]) * cv2.resize(factor, size_wh, interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:  # a lit rim just outside the circle (dome-glass or lens-barrel edge)
        fg[outside & (r < radius * (1.0 + rng.uniform(0.005, 0.02)))] = rng.uniform(0.1, 0.6)
    notes["arms"] = [_draw_arm(rng, obstacle, fg, cx, cy, r_sky) for _ in range(rng.integers(0, 4))]

    wires: list[Wire] = []
    for _ in range(rng.integers(0, 3) if rng.random() < 0.35 else 0):  # wires: chords across the sky edge
        a = rng.uniform(-math.pi, math.pi)
        b = a + rng.uniform(0.4, 1.6) * rng.choice([-1, 1])
        t = np.linspace(0.0, 1.0, 40)
        ang = a + (b - a) * t
        sag = 1.0 - rng.uniform(0.02, 0.15) * np.sin(np.pi * t)
        pts = np.stack([cx + 1.05 * r_sky * sag * np.cos(ang), cy + 1.05 * r_sky * sag * np.sin(ang)], 1)
        wires.append(Wire(np.round(pts).astype(np.int32), int(rng.integers(1, 3)), float(rng.uniform(0.3, 0.9))))
    lights: list[Light] = []
    for _ in range(rng.integers(0, 3) if rng.random() < 0.4 else 0):  # lamps / beacons at the horizon
        a = rng.uniform(-math.pi, math.pi)
        rr = r_sky * rng.uniform(0.9, 1.0)
        lights.append(Light(cx + rr * math.cos(a), cy + rr * math.sin(a), float(rng.uniform(3, 40)),
                            float(rng.uniform(2, 10)), (1.0, 0.8, 0.6)))

    # Low-resolution direction maps for the sky renderer (equidistant projection).
    zen = r_lo / radius * fov_half
    alt_lo = np.clip(math.pi / 2 - zen, 0.0, math.pi / 2).astype(np.float32)
    az_lo = (phi_lo + rot).astype(np.float32)
    strength = rng.uniform(0.1, 0.6)
    vignette_lo = np.clip(1.0 - strength * (r_lo / radius) ** 3, 0.05, 1.0).astype(np.float32)

    def project(alt: float, az: float) -> tuple[float, float] | None:
        rr = (math.pi / 2 - alt) / fov_half * radius
        return cx + rr * math.cos(az - rot), cy + rr * math.sin(az - rot)

    notes.update({"circle_radius_px": radius, "fov_deg": 2 * math.degrees(fov_half), "circle_center": [cx, cy],
                  "r_sky_px": r_sky})
    return Layout(
        kind="allsky", size_wh=size_wh, obstacle=obstacle.astype(bool), outside=outside, fg=fg,
        alt_lo=alt_lo, az_lo=az_lo, vignette_lo=vignette_lo,
        deg_per_px=math.degrees(fov_half) / radius, project=project, wires=wires, lights=lights, notes=notes,
    )
