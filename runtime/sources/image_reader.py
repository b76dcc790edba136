"""Still frames from disk (JPEG/PNG/TIFF/BMP 8- and 16-bit, FITS) and the folder/glob source built on them.

OpenCV reads BGR; frames are RGB everywhere in skyseg, so the conversion happens here. Gray stays gray, 16-bit
stays 16-bit (the shared stretch maps it to uint8 later), and a 4th (alpha) channel is dropped.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.sources.fits_reader import parse_date_obs, read_fits
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES, Source, SourceSpec, list_images

log = logging.getLogger(__name__)


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file as RGB or gray pixels in its own depth; raises InputError when it cannot be decoded."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)  # imdecode also copes with non-ASCII paths
    except OSError as err:
        raise InputError(f"cannot read image {path}: {err.strerror or err}") from None
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if img is None:
        raise InputError(f"cannot decode image {path} ({raw.size} bytes): the file is corrupt, truncated or not "
                         "an image")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
        img = cv2.cvtColor(img, code)
    if img.dtype not in (np.uint8, np.uint16):
        img = img.astype(np.float32)
    return np.ascontiguousarray(img)


def check_signal(pixels: np.ndarray, path: str | Path) -> None:
    """InputError for a frame that holds no picture: no finite value (all NaN/Inf) or one value everywhere
    (a dead sensor, a capped lens, a zero-filled file). Such frames used to come out as 84 % sky."""
    if pixels.dtype.kind == "f":
        finite = np.isfinite(pixels)
        if not finite.any():
            raise InputError(f"{Path(path).name} has no finite pixel values (all NaN or Inf)")
        values = pixels[finite] if not finite.all() else pixels
    else:
        values = pixels
    low, high = values.min(), values.max()
    if low == high:
        raise InputError(f"{Path(path).name} holds no signal: every pixel is {low.item()!r}")


def read_frame_file(path: str | Path, index: int, source_id: str) -> Frame | FrameError:
    """Read an image or FITS file into a Frame, or a FrameError (logged) when it is unreadable."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = time.time()
    try:
        if str(path).lower().endswith(FITS_SUFFIXES):
            pixels, meta = read_fits(path)
            check_signal(pixels, path)
            stamp = parse_date_obs(meta["DATE-OBS"], meta.get("TIME-OBS")) if "DATE-OBS" in meta else None
            return Frame(pixels, index, source_id, stamp if stamp is not None else mtime, str(path), meta)
        pixels = read_image(path)
        if pixels.dtype != np.uint8:  # 16-bit PNG/TIFF: science frames, like FITS (8-bit test cards stay valid)
            check_signal(pixels, path)
        return Frame(pixels, index, source_id, mtime, str(path), {})
    except InputError as err:
        log.warning("frame %d: %s", index, err)
        return FrameError(index, source_id, str(path), str(err), time.time())


class ImageSequenceSource(Source):
    """A file, folder or glob of still frames, read in natural name order (optionally looped)."""

    def __init__(self, spec: SourceSpec, loop: bool = False) -> None:
        super().__init__(spec)
        self.loop = loop
        self.paths: list[Path] = []

    def _open(self) -> None:
        self.paths = list_images(self.spec.location)
        if not self.paths:
            suffixes = ", ".join((*IMAGE_SUFFIXES, *FITS_SUFFIXES))
            raise InputError(f"no images found at {self.spec.location!r} (looked for {suffixes})")
        self.description = f"{len(self.paths)} image(s) from {self.spec.location}"
        log.info("source: %s", self.description)

    def _frames(self) -> Iterator[Frame | FrameError]:
        index = 0
        while True:
            for path in self.paths:
                yield read_frame_file(path, index, self.source_id)
                index += 1
            if not self.loop:
                return
