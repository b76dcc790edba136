"""Frames used to verify an export: synthetic night skies (always) and, optionally, a folder of real frames.

Real frames are read with the runtime's own readers (FITS, 8/16-bit images), so they reach the model through exactly
the preprocessing the runtime uses.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_SYNTH_SIZE = (640, 480)


@dataclass(frozen=True)
class VerifyFrame:
    """One verification frame: RGB or gray pixels in their own depth, and where they came from."""

    name: str
    pixels: np.ndarray


def synthetic_frames(count: int, size_wh: tuple[int, int] = DEFAULT_SYNTH_SIZE, seed: int = 0) -> list[VerifyFrame]:
    """`count` synthetic scenes from `skyseg.synth.render_scene` (mixed layouts), alternating 8- and 16-bit."""
    from skyseg.synth import render_scene  # numpy-only, but keep export importable without it

    frames = []
    for i in range(count):
        depth = 8 if i % 2 == 0 else 16
        scene = render_scene(seed + i, kind="mixed", size=size_wh, bit_depth=depth)
        frames.append(VerifyFrame(f"synth:{seed + i}:{depth}bit", np.asarray(scene.image)))
    return frames


def folder_frames(folder: str | os.PathLike[str], limit: int = 6) -> list[VerifyFrame]:
    """Up to `limit` frames from a folder of FITS/image files (sorted by name); unreadable files are an error."""
    from skyseg.runtime.sources.fits_reader import read_fits
    from skyseg.runtime.sources.image_reader import read_image
    from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES, list_images

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--verify-images {root} is not a folder; pass a folder of FITS/PNG/JPEG/TIFF frames.")
    files = list_images(root)  # a folder, a dataset root (images/<split>/...) or nested night folders
    if not files:
        raise InputError(f"--verify-images {root} holds no FITS or image files (looked for {FITS_SUFFIXES + IMAGE_SUFFIXES}).")
    frames = []
    for path in files[:limit]:
        pixels = read_fits(path)[0] if path.name.lower().endswith(FITS_SUFFIXES) else read_image(path)
        frames.append(VerifyFrame(f"file:{path.name}", pixels))
    return frames
