"""FITS frames (all-sky cameras such as indi-allsky write 16-bit FITS): pixels plus the header values that matter.

astropy applies BZERO/BSCALE, so unsigned 16-bit frames arrive as uint16 and scaled ones as float; float data keeps
its NaN (e.g. outside a processed image circle) for the shared stretch to handle. Rows are kept in file order.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)

# Header keys worth carrying with a frame (exposure and time first: they explain brightness and order).
HEADER_KEYS = (
    "EXPTIME", "EXPOSURE", "DATE-OBS", "DATE", "TIME-OBS", "GAIN", "OFFSET", "CCD-TEMP", "INSTRUME", "TELESCOP",
    "OBJECT", "BAYERPAT", "XBAYROFF", "YBAYROFF", "XBINNING", "YBINNING", "FILTER", "SITELAT", "SITELONG", "BITPIX", "BZERO", "BSCALE",
)


def _astropy_fits() -> Any:
    try:
        from astropy.io import fits
    except ImportError:
        raise MissingDependencyError("reading FITS frames needs astropy; install it with `pip install astropy`") from None
    return fits


def _to_frame_dtype(data: np.ndarray) -> np.ndarray:
    """uint8 and uint16 stay; everything else (signed ints, float64) becomes float32."""
    if data.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(data)
    return np.ascontiguousarray(data, dtype=np.float32)


def _planes_to_pixels(data: np.ndarray, path: Path) -> tuple[np.ndarray, int]:
    """2-D stays; a cube of 3 planes (3×H×W or H×W×3) becomes H×W×3 RGB; other cubes give their first plane."""
    if data.ndim == 2:
        return data, 1
    while data.ndim > 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 3:
        if data.shape[0] == 3:
            return np.moveaxis(data, 0, -1), 3
        if data.shape[2] == 3:
            return data, 3
        log.warning("%s: %d-plane FITS cube, using the first plane", path, data.shape[0])
        return data[0], int(data.shape[0])
    raise InputError(f"FITS file {path} has a {data.ndim}-D image {data.shape}; expected 2-D or a 3-plane cube")


# Sensor pattern (top-left 2×2, as FITS BAYERPAT names it) → the OpenCV conversion that yields RGB for it.
# OpenCV names Bayer codes after a different cell of the pattern; this table was checked on synthetic mosaics.
_BAYER_TO_RGB = {"RGGB": "COLOR_BayerBG2RGB", "BGGR": "COLOR_BayerRG2RGB", "GRBG": "COLOR_BayerGB2RGB",
                 "GBRG": "COLOR_BayerGR2RGB"}


def bayer_pattern(meta: dict[str, Any]) -> str | None:
    """The effective 2×2 pattern from BAYERPAT and the optional XBAYROFF/YBAYROFF offsets, or None."""
    pattern = str(meta.get("BAYERPAT", "")).strip().upper()
    if pattern not in _BAYER_TO_RGB:
        return None
    try:
        xoff, yoff = int(meta.get("XBAYROFF", 0)) % 2, int(meta.get("YBAYROFF", 0)) % 2
    except (TypeError, ValueError):
        xoff = yoff = 0
    return "".join(pattern[((dy + yoff) % 2) * 2 + (dx + xoff) % 2] for dy in range(2) for dx in range(2))


def debayer(pixels: np.ndarray, pattern: str) -> np.ndarray:
    """Demosaic a raw 2-D uint8/uint16 Bayer frame to H×W×3 RGB (OpenCV bilinear demosaicing)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(pixels), getattr(cv2, _BAYER_TO_RGB[pattern]))


_unset_clock_warned: list[bool] = []


def parse_date_obs(value: str, time_obs: str | None = None) -> float | None:
    """FITS DATE-OBS (ISO 8601, UTC unless it says otherwise; the old date-only form takes TIME-OBS) → seconds
    since the epoch, or None if unparsable or the zero of a camera clock that was never set (1970-01-01T00:00:00,
    said once per process), so the caller uses the file's time instead of writing an empty or 1970 time."""
    text = str(value).strip()
    if "T" not in text and time_obs:
        text = f"{text}T{str(time_obs).strip()}"
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    seconds = stamp.timestamp()
    if seconds == 0.0:
        if not _unset_clock_warned:
            _unset_clock_warned.append(True)
            log.warning("DATE-OBS %s is the zero of a camera clock that was never set: such frames get the file's "
                        "modification time instead", text)
        return None
    return seconds


# RMS / Global Meteor Network "FF" files hold MAXPIXEL, MAXFRAME, AVEPIXEL and STDPIXEL image HDUs; the frame a
# viewer shows is AVEPIXEL (the mean of the 256 exposures; MAXPIXEL is a max-projection full of star trails).
PREFERRED_HDU = "AVEPIXEL"


def _image_hdu(hdus: Any) -> Any:
    """The image HDU named AVEPIXEL when there is one, else the first HDU with 2-D (or more) data, else None."""
    images = [h for h in hdus if getattr(h, "data", None) is not None and h.data.ndim >= 2]
    named = [h for h in images if str(getattr(h, "name", "")).upper() == PREFERRED_HDU]
    return (named or images or [None])[0]


def read_fits(path: str | Path, demosaic: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Read the primary (or first) image HDU of a FITS/.fits.gz file → (pixels, header subset); an RMS FF file
    gives its AVEPIXEL image.

    A raw colour frame (2-D integer data with a BAYERPAT keyword, as indi-allsky writes) is demosaiced to RGB
    unless `demosaic=False`; `meta["demosaiced"]` then names the pattern used.
    """
    fits = _astropy_fits()
    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdus:
            hdu = _image_hdu(hdus)
            if hdu is None:
                raise InputError(f"FITS file {path} holds no image (no HDU with 2-D data)")
            data = np.asarray(hdu.data)
            header = hdu.header
            meta = {k: header[k] for k in HEADER_KEYS if k in header}
    except InputError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as err:
        raise InputError(f"cannot read FITS file {path}: {err}") from None
    except Exception as err:  # astropy raises KeyError, IndexError, ... on a mangled header
        raise InputError(f"cannot read FITS file {path}: malformed header or data "
                         f"({type(err).__name__}: {err})") from None
    pixels, planes = _planes_to_pixels(data, path)
    if planes != 1:
        meta["planes"] = planes
    pixels = _to_frame_dtype(pixels)
    pattern = bayer_pattern(meta) if demosaic and pixels.ndim == 2 else None
    if pattern is not None:
        if pixels.dtype in (np.uint8, np.uint16):
            pixels = debayer(pixels, pattern)
            meta["demosaiced"] = pattern
        else:
            log.warning("%s: BAYERPAT %s on %s data; kept as a mono frame (demosaicing needs integer data)",
                        path, pattern, pixels.dtype)
    return pixels, meta
