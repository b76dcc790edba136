"""Which image HDU a FITS file gives: AVEPIXEL of an RMS FF file (a real UKMON frame), else the first image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from skyseg.runtime.sources.fits_reader import read_fits

REPO = Path(__file__).resolve().parents[3]
UK0006 = REPO / "datasets" / "realpool" / "images" / "val" / "uk0006_20220914_194911.fits"


def test_rms_ff_file_gives_its_avepixel_image() -> None:
    pixels, _ = read_fits(UK0006)
    with fits.open(UK0006) as hdus:
        assert [h.name for h in hdus][1:] == ["MAXPIXEL", "MAXFRAME", "AVEPIXEL", "STDPIXEL"]
        ave, maxpix = np.asarray(hdus["AVEPIXEL"].data), np.asarray(hdus["MAXPIXEL"].data)
    assert pixels.shape == (720, 1280) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, ave)
    assert not np.array_equal(pixels, maxpix)  # the max-projection comes first in the file and is not the frame


def test_without_avepixel_the_first_image_hdu_is_read(tmp_path: Path) -> None:
    first = np.arange(12, dtype=np.uint8).reshape(3, 4)
    second = first[::-1].copy()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(first, name="SCI"), fits.ImageHDU(second, name="ERR")]).writeto(
        tmp_path / "two.fits")
    pixels, _ = read_fits(tmp_path / "two.fits")
    assert np.array_equal(pixels, first)
    # the name is matched in any case and wherever the HDU sits
    fits.HDUList([fits.PrimaryHDU(first), fits.ImageHDU(second, name="avepixel")]).writeto(tmp_path / "ff.fits")
    pixels, _ = read_fits(tmp_path / "ff.fits")
    assert np.array_equal(pixels, second)
