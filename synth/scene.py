"""`render_scene`: one synthetic night-sky frame with its exact sky mask and polygons.

Order matters for exact ground truth: geometry first (layout), then the sky mask is closed (no holes, no
specks) and *that* mask decides which pixels show sky radiance and which show foreground. Lights, lens
vignetting and sensor noise are applied over the composite; wires (≤ 2 px) are drawn over the sky and stay
labelled sky.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from skyseg.synth.allsky import build_allsky_layout
from skyseg.synth.camera import build_camera_layout
from skyseg.synth.fields import fractal_noise
from skyseg.synth.layout import Layout, Light
from skyseg.synth.polygons import MIN_REGION_FRACTION, MIN_REGION_PX, close_mask, merge_regions, simplify
from skyseg.synth.sensor import expose, sample_sensor
from skyseg.synth.sky import LUMA, render_sky, sample_conditions
from skyseg.synth.transients import add_glare, add_meteors, stamp_text
from skyseg.synth.urban import add_lit_structures

KINDS = ("allsky", "camera", "mixed", "allsky-hard")
ALLSKY_SHARE = 0.6  # fraction of all-sky frames in "mixed"
HARD_RADIUS_RANGE = (0.75, 1.5)  # allsky-hard: more circles cropped by 4:3, 3:2 and 16:9 sensors


@dataclass
class Scene:
    """A rendered frame: RGB image (uint8 or uint16), mask (uint8 0/255, 255 = sky), polygons in pixels."""

    image: np.ndarray
    mask: np.ndarray
    polygons: list[np.ndarray]
    kind: str
    conditions: dict = field(default_factory=dict)


def _check_args(kind: str, size: tuple[int, int], bit_depth: int) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if len(size) != 2 or min(size) < 32:
        raise ValueError(f"size must be (width, height) with both >= 32, got {size}")


def _add_glow(rad: np.ndarray, li: Light) -> None:
    """Add a light's Gaussian glow in place, only inside its 4-sigma window."""
    h, w = rad.shape[:2]
    r = int(np.ceil(4 * li.radius))
    x0, x1 = max(0, int(li.x) - r), min(w, int(li.x) + r + 1)
    y0, y1 = max(0, int(li.y) - r), min(h, int(li.y) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    gx = np.exp(-0.5 * ((np.arange(x0, x1, dtype=np.float32) - li.x) / li.radius) ** 2)
    gy = np.exp(-0.5 * ((np.arange(y0, y1, dtype=np.float32) - li.y) / li.radius) ** 2)
    color = np.asarray(li.color, np.float32)
    if rad.shape[2] == 1:
        color = np.array([color @ LUMA], np.float32)
    rad[y0:y1, x0:x1] += (gy[:, None] * gx[None, :])[..., None] * (np.float32(li.strength) * color)


def _fill_pockets(lay: Layout, mask: np.ndarray) -> None:
    """Give dropped sky pockets (too small to label) the brightness of the foreground around them."""
    pocket = (mask == 0) & ~lay.obstacle & ~lay.outside
    if not pocket.any():
        return
    solid = lay.obstacle.astype(np.float32)
    total = cv2.blur(lay.fg * solid, (31, 31))
    weight = cv2.blur(solid, (31, 31))
    lay.fg[pocket] = (total[pocket] / np.maximum(weight[pocket], 1e-3)).astype(np.float32)


def _composite(rng: np.random.Generator, lay: Layout, sky_mask: np.ndarray, c: dict, mono: bool) -> np.ndarray:
    """Sky radiance where the mask says sky, foreground elsewhere; then lights, wires and vignetting."""
    w, h = lay.size_wh
    sky = render_sky(rng, lay, c, mono)
    channels = sky.shape[2]
    # Foreground is lit by the sky near the horizon (light pollution, moon, twilight): scale by that level.
    ambient = cv2.resize(sky, (max(1, w // 32), max(1, h // 32)), interpolation=cv2.INTER_AREA)
    level = np.median(ambient.reshape(-1, channels), axis=0).astype(np.float32)
    if channels == 1:
        fg = cv2.multiply(lay.fg, float(level[0]))[..., None]
    else:
        fg = cv2.multiply(cv2.cvtColor(lay.fg, cv2.COLOR_GRAY2RGB), (*map(float, level), 0.0))
        if lay.fg_tint is not None:  # lamp-lit facades and trees: sodium orange / LED white
            fg = cv2.multiply(fg, lay.fg_tint)
    rad = cv2.copyTo(sky, sky_mask, fg).reshape(h, w, channels)
    if lay.wires:
        shade = np.ones((h, w), np.float32)
        for wire in lay.wires:
            cv2.polylines(shade, [wire.points.reshape(-1, 1, 2)], False, 1.0 - wire.darkness, wire.thickness,
                          cv2.LINE_AA)
        rad *= shade[..., None]
    for li in lay.lights:
        _add_glow(rad, li)
    vignette = cv2.resize(lay.vignette_lo, (w, h), interpolation=cv2.INTER_LINEAR)
    if channels == 3:
        vignette = cv2.cvtColor(vignette, cv2.COLOR_GRAY2RGB)
    rad = cv2.multiply(rad.reshape(h, w * channels), vignette.reshape(h, w * channels)).reshape(h, w, channels)
    if c["dew"] > 0:  # dew or frost on the dome: part of the light is scattered into a wide blur
        sigma = 0.02 * max(w, h)
        blurred = cv2.GaussianBlur(rad, (0, 0), sigma).reshape(h, w, channels)
        rad = cv2.addWeighted(rad, 1.0 - c["dew"], blurred, c["dew"], 0.0).reshape(h, w, channels)
    return rad


def _sky_level(radiance: np.ndarray, mask: np.ndarray) -> float:
    """Median sky radiance (luminance): what an auto-exposing camera scales its exposure to."""
    step = 4
    sample = radiance[::step, ::step][mask[::step, ::step] > 0]
    if sample.size == 0:
        return 1.0
    luma = sample[:, 0] if sample.shape[1] == 1 else sample @ LUMA
    return max(float(np.median(luma)), 1e-3)


def _add_structures(rng: np.random.Generator, lay: Layout) -> None:
    """allsky-hard: lamp-lit facades, roofs, masts and lit trees at the horizon (they join the obstacles)."""
    cx, cy = lay.notes["circle_center"]
    lay.fg_tint = np.ones((*lay.fg.shape, 3), np.float32)
    lay.notes.update(add_lit_structures(rng, lay.obstacle, lay.fg, lay.fg_tint, ~lay.outside, cx, cy,
                                        lay.notes["r_sky_px"]))


def _harden_exposure(rng: np.random.Generator, lay: Layout, mask: np.ndarray, c: dict, sensor: dict) -> None:
    """allsky-hard: strong lens falloff at the rim, and over-exposed bright nights where lit structures are
    nearly as white as the sky (thick clouds lit by a town, the sky clipping at the top of the range)."""
    lay.vignette_lo = lay.vignette_lo ** np.float32(rng.uniform(1.0, 3.5))  # real fisheyes: down to ~5 % at the rim
    if rng.random() < 0.2:
        c.update(clouds=float(rng.uniform(0.7, 1.0)), cloud_thickness=float(rng.uniform(0.7, 1.0)),
                 light_pollution=float(rng.uniform(5.0, 30.0)))
        sensor.update(white_sky_multiple=float(rng.uniform(1.1, 1.8)), black_frac=float(rng.uniform(0.0, 0.5)))
        ground = (mask == 0) & ~lay.outside  # bright, but below the clipping sky: still visible, as on real frames
        lay.fg[ground] = np.clip(lay.fg[ground] * np.float32(rng.uniform(2.0, 6.0)), 0.2, 0.75)
        lay.notes["overexposed"] = True


def _open_to_rim(rng: np.random.Generator, lay: Layout) -> bool:
    """allsky-hard: one frame in five from a camera on a mast or roof, whose sky reaches the image circle all
    round (no ground ring, no arms, no buildings): the rim, not a band of ground, is the sky's edge there."""
    if rng.random() >= 0.2:
        return False
    lay.obstacle[:] = 0
    lay.notes["sky_to_rim"] = True
    return True


def _brighten_outside(rng: np.random.Generator, lay: Layout, radiance: np.ndarray, sky_level: float) -> None:
    """allsky-hard: one frame in four with stray light around the image circle (a lit dome ring, scattered light
    in the lens housing on bright nights): outside is as bright as the sky or brighter, never sky."""
    if rng.random() >= 0.25:
        return
    w, h = lay.size_wh
    cx, cy = lay.notes["circle_center"]
    radius = lay.notes["circle_radius_px"]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    beyond = np.maximum(np.hypot(xx - np.float32(cx), yy - np.float32(cy)) - np.float32(radius), 0) / np.float32(radius)
    floor_share = np.float32(rng.uniform(0.2, 1.0))
    level = floor_share + (1 - floor_share) * np.exp(-beyond / np.float32(rng.uniform(0.05, 0.5)))
    texture = cv2.resize(fractal_noise(rng, (max(8, h // 8), max(8, w // 8)), base_cells=4, octaves=3), (w, h))
    level *= np.float32(sky_level * rng.uniform(0.6, 2.5)) * (1 + np.float32(0.3) * texture)
    tint = np.ones(radiance.shape[2], np.float32) if radiance.shape[2] == 1 else \
        np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.6, 1.0)], np.float32)
    radiance[lay.outside] = level[lay.outside][:, None] * tint
    lay.notes["bright_outside"] = True


def _add_transients(rng: np.random.Generator, lay: Layout, radiance: np.ndarray, mask: np.ndarray,
                    sky_level: float) -> None:
    """allsky-hard: meteors inside the sky and lamp glare with spikes across the horizon and the rim."""
    lay.notes["meteors"] = add_meteors(rng, radiance, mask > 0, sky_level, int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15])))
    if rng.random() < 0.35:
        cx, cy = lay.notes["circle_center"]
        a, rr = rng.uniform(-np.pi, np.pi), lay.notes["r_sky_px"] * rng.uniform(0.85, 1.1)
        add_glare(rng, radiance, cx + rr * np.cos(a), cy + rr * np.sin(a), sky_level)
        lay.notes["glare"] = True


def render_scene(seed: int, kind: str = "mixed", size: tuple[int, int] = (640, 640), bit_depth: int = 8) -> Scene:
    """Render one frame deterministically from `seed` (same seed and arguments → identical bytes)."""
    size = (int(size[0]), int(size[1]))
    _check_args(kind, size, bit_depth)
    rng = np.random.default_rng(seed)
    if kind == "mixed":
        kind = "allsky" if rng.random() < ALLSKY_SHARE else "camera"
    hard = kind == "allsky-hard"
    if kind == "camera":
        lay = build_camera_layout(rng, size)
    else:
        lay = build_allsky_layout(rng, size, HARD_RADIUS_RANGE) if hard else build_allsky_layout(rng, size)
    if hard and not _open_to_rim(rng, lay):
        _add_structures(rng, lay)
    w, h = size
    mask, contours = close_mask(~(lay.obstacle | lay.outside), max(MIN_REGION_PX, int(MIN_REGION_FRACTION * w * h)))
    _fill_pockets(lay, mask)
    conditions = sample_conditions(rng)
    sensor = sample_sensor(rng, "camera" if kind == "camera" else "allsky")
    if hard:
        _harden_exposure(rng, lay, mask, conditions, sensor)
    radiance = _composite(rng, lay, mask, conditions, sensor["mono"])
    sky_level = _sky_level(radiance, mask)
    if hard:
        _brighten_outside(rng, lay, radiance, sky_level)
        _add_transients(rng, lay, radiance, mask, sky_level)
    image = expose(rng, radiance, sensor, bit_depth, sky_level)
    if hard and rng.random() < 0.5:
        lay.notes["text_overlay"] = stamp_text(rng, image)
    polygons = merge_regions([simplify(cnt).astype(np.float32) for cnt in contours])
    conditions.update(sensor)
    conditions.update({
        "kind": kind, "seed": int(seed), "bit_depth": bit_depth,
        # Stratification keys: sky brightness (median sky radiance, 1 = dark-sky zenith airglow) and the noise
        # level (noise / signal of the median sky pixel).
        "brightness": sky_level,
        "noise": float(np.sqrt(sensor["sky_electrons"] + sensor["read_noise_e"] ** 2) / sensor["sky_electrons"]),
        "sky_fraction": float(np.count_nonzero(mask)) / mask.size,
        "regions": len(contours), "instances": len(polygons), "wires": len(lay.wires), "lights": len(lay.lights),
        "layout": {k: v for k, v in lay.notes.items()},
    })
    return Scene(image=image, mask=mask, polygons=polygons, kind=kind, conditions=conditions)
