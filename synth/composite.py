"""Real sky, synthetic foreground: paste real sky texture behind a generated scene's exact mask.

A texture is the sure-sky disc of a real frame (stars, real noise, real clouds, real gradients): given as a
centre and radius, or found as the largest disc inside a labelled sky mask (a distance transform). For each
scene the disc is rotated, mirrored and scaled so that the scene's whole sky region maps inside it, its
brightness is matched to the generated sky, and it replaces the generated sky pixels. The mask does not change:
the foreground stays generated, so the label stays exact.

Frames whose texture goes into training must not be frames you report accuracy on (see models/weights/README.md).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame
from skyseg.runtime.process.stretch import stretch_to_uint8
from skyseg.runtime.sources.image_reader import read_frame_file


@dataclass(frozen=True)
class SkyTexture:
    """An 8-bit RGB real frame and the disc (centre x, y and radius, pixels) in which every pixel is sky."""

    name: str
    image: np.ndarray
    cx: float
    cy: float
    radius: float


def _as_rgb8(pixels: np.ndarray) -> np.ndarray:
    img = stretch_to_uint8(pixels)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(img)


def largest_disc(mask: np.ndarray, margin: float = 0.03) -> tuple[float, float, float]:
    """Centre and radius of the largest disc inside mask (> 0 = sky), shrunk by `margin` of the radius."""
    inside = (mask > 0).astype(np.uint8)
    if not inside.any():
        raise InputError("the sky mask of a texture frame has no sky pixel.")
    dist = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y), float(dist[y, x]) * (1.0 - margin)


def load_texture(path: str | Path, disc: tuple[float, float, float] | None = None,
                 mask: str | Path | None = None) -> SkyTexture:
    """Read a real frame (FITS/16-bit/8-bit) through the runtime's reader; the disc is given or taken from a mask."""
    frame = read_frame_file(path, 0, "texture")
    if not isinstance(frame, Frame):
        raise InputError(f"cannot use {path} as a sky texture: {frame.message}")
    image = _as_rgb8(frame.pixels)
    if disc is None:
        if mask is None:
            raise InputError(f"a sky texture needs a disc or a sky mask: none given for {path}.")
        truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        if truth is None or truth.shape != image.shape[:2]:
            raise InputError(f"the mask {mask} cannot be read or does not match the size of {path}.")
        disc = largest_disc(truth)
    cx, cy, radius = (float(v) for v in disc)
    if radius < 16:
        raise InputError(f"the sky disc of {path} is too small ({radius:.0f} px) to use as a texture.")
    return SkyTexture(Path(path).name, image, cx, cy, radius)


def load_textures(spec: str | Path) -> list[SkyTexture]:
    """Textures from a JSON list of {"path": …, "disc": [cx, cy, r]} or {"path": …, "mask": …} (relative to it)."""
    spec = Path(spec)
    try:
        items = json.loads(spec.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the texture list {spec}: {err}") from None
    if not isinstance(items, list) or not items:
        raise InputError(f"{spec} must hold a non-empty JSON list of textures.")
    base = spec.parent

    def resolve(p: str | None) -> Path | None:
        return None if p is None else (Path(p) if Path(p).is_absolute() else base / p)

    return [load_texture(resolve(it["path"]), it.get("disc"), resolve(it.get("mask"))) for it in items]


def _sky_extent(mask: np.ndarray) -> tuple[float, float, float]:
    """Centre of the sky region's bounding box and the distance from it to the farthest sky pixel."""
    ys, xs = np.nonzero(mask)
    cx, cy = 0.5 * (xs.min() + xs.max()), 0.5 * (ys.min() + ys.max())
    reach = float(np.sqrt(((xs - cx) ** 2 + (ys - cy) ** 2).max())) + 1.0
    return float(cx), float(cy), reach


def composite_sky(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, tex: SkyTexture,
                  mono: bool) -> np.ndarray:
    """A copy of the 8-bit RGB `image` whose sky pixels (mask > 0) show the real texture; the mask is unchanged."""
    if image.dtype != np.uint8:
        raise ValueError("real-sky composites are made for 8-bit frames")
    sky = mask > 0
    if not sky.any():
        return image.copy()
    h, w = mask.shape
    cx, cy, reach = _sky_extent(sky)
    # Scale so that the scene's farthest sky pixel lands inside the texture disc; zoom in at random.
    scale = tex.radius / reach * rng.uniform(0.45, 1.0)
    ang = rng.uniform(0.0, 2 * math.pi)
    flip = -1.0 if rng.random() < 0.5 else 1.0
    ca, sa = math.cos(ang) * scale, math.sin(ang) * scale
    # Inverse map (target pixel → texture pixel), offset so the zoomed disc stays inside the sure-sky disc.
    slack = tex.radius - reach * scale
    off = rng.uniform(0.0, 2 * math.pi)
    tx = tex.cx + slack * rng.uniform(0.0, 1.0) * math.cos(off)
    ty = tex.cy + slack * rng.uniform(0.0, 1.0) * math.sin(off)
    m = np.array([[ca * flip, -sa, tx - ca * flip * cx + sa * cy],
                  [sa * flip, ca, ty - sa * flip * cx - ca * cy]], np.float64)
    warped = cv2.warpAffine(tex.image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)
    if mono:
        grey = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
        warped = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    # Match the generated sky's median brightness, so the foreground keeps its relation to the sky.
    gen = float(np.median(image[sky].mean(axis=1)))
    real = float(np.median(warped[sky].mean(axis=1)))
    gain = float(np.clip((gen + 1.0) / (real + 1.0), 0.4, 2.5))
    out = image.copy()
    out[sky] = np.clip(warped[sky].astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return out
