"""A night's frames → one 8-bit grey median stack (what the proposed mask is made from).

Each frame goes through the runtime's own reader (FITS, 16-bit PNG/TIFF, JPEG) and the shared display stretch,
so the stack looks like what the model sees; colour frames become grey (the mean of R, G and B). The median keeps
what does not move (horizon, masts, the image circle) and removes stars, meteors and most passing clouds.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import FrameError
from skyseg.runtime.process.stretch import stretch_to_uint8
from skyseg.runtime.sources.image_reader import read_frame_file
from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES, list_images

log = logging.getLogger(__name__)

MAX_STACK_FRAMES = 60  # a night of hundreds of frames: an evenly spaced sample is as good a median, in bounded memory


def frame_paths(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, folders and globs → the frame files they name, in order, without repeats."""
    if not inputs:
        raise InputError("no frames given: name one or more frame files, a folder or a glob")
    paths: list[Path] = []
    for item in inputs:
        text = str(item)
        if Path(text).is_file():
            found = [Path(text)]
        else:
            found = list_images(text) if (Path(text).is_dir() or any(c in text for c in "*?[")) else []
            if not found:
                what = "folder" if Path(text).is_dir() else "path"
                suffixes = ", ".join((*IMAGE_SUFFIXES, *FITS_SUFFIXES))
                raise InputError(f"no frames found at {what} {text!r} (looked for {suffixes})")
        paths += [p for p in found if p not in paths]
    return paths


def to_grey8(pixels: np.ndarray) -> np.ndarray:
    """Any-depth frame → stretched 8-bit grey (H×W)."""
    grey = stretch_to_uint8(pixels)
    if grey.ndim == 3:
        grey = np.round(grey.astype(np.float32).mean(axis=2)).astype(np.uint8)
    return grey


def read_grey8(path: Path, index: int = 0) -> np.ndarray:
    """One frame file → stretched 8-bit grey; InputError naming the file when it cannot be read."""
    frame = read_frame_file(path, index, "label")
    if isinstance(frame, FrameError):
        raise InputError(f"cannot read frame {path}: {frame.message}")
    return to_grey8(frame.pixels)


def stack_sample(paths: Sequence[Path], limit: int = MAX_STACK_FRAMES) -> list[Path]:
    """At most `limit` of `paths`, evenly spaced over the night (first and last included)."""
    if len(paths) <= limit:
        return list(paths)
    picks = np.unique(np.round(np.linspace(0, len(paths) - 1, limit)).astype(int))
    log.info("stacking %d of %d frames, evenly spaced", len(picks), len(paths))
    return [paths[i] for i in picks]


def median_stack(paths: Sequence[Path]) -> np.ndarray:
    """The per-pixel median of the stretched grey frames; all frames must share one size."""
    frames: list[np.ndarray] = []
    for i, path in enumerate(paths):
        grey = read_grey8(path, i)
        if frames and grey.shape != frames[0].shape:
            raise InputError(f"{path} is {grey.shape[1]}x{grey.shape[0]} but {paths[0]} is "
                             f"{frames[0].shape[1]}x{frames[0].shape[0]}: stack frames of one camera only")
        frames.append(grey)
    if not frames:
        raise InputError("no frames to stack")
    if len(frames) == 1:
        return frames[0]
    log.info("median of %d frames (%dx%d)", len(frames), frames[0].shape[1], frames[0].shape[0])
    return np.median(np.stack(frames), axis=0).round().astype(np.uint8)
