"""Still-frame readers: 8/16-bit images (RGB order, gray kept), FITS (real all-sky frames), corrupt files."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from astropy.io import fits

from skyseg.runtime.errors import InputError
from skyseg.runtime.sources.fits_reader import parse_date_obs, read_fits
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.sources.image_reader import read_frame_file, read_image
from skyseg.runtime.sources.uri import open_source

REALSKY = {  # name → (shape, dtype)
    "iceact_cloudy.fits": ((480, 640), np.uint16),
    "iceact_starry.fits": ((480, 640), np.uint16),
    "magic_20180816_2101.fits": ((1040, 1392), np.float32),
    "magic_20180817_0055.fits": ((1040, 1392), np.float32),
    "magic_20180817_0341.fits": ((1040, 1392), np.float32),
    "cta_cloudy.fits.gz": ((1699, 1699), np.float32),
}
REALSKY_JPEG = {  # name → (shape, dtype): amateur all-sky JPEGs, two of them single-channel
    "indiallsky_20210421_043940.jpg": ((1096, 1936), np.uint8),
    "indiallsky_20210930_224951.jpg": ((1096, 1936), np.uint8),
    "indiallsky_20210930_224955.jpg": ((1080, 1920, 3), np.uint8),
}


@pytest.fixture(scope="module")
def rgb16() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 65535, size=(37, 53, 3), dtype=np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_color_is_read_exactly_in_rgb_order(tmp_path: Path, rgb16: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"frame{suffix}"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    out = read_image(path)
    assert out.dtype == np.uint16 and out.shape == (37, 53, 3)
    np.testing.assert_array_equal(out, rgb16)


def test_8bit_gray_stays_gray_and_alpha_is_dropped(tmp_path: Path) -> None:
    gray = np.arange(40 * 30, dtype=np.uint8).reshape(30, 40)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), gray)
    bgra = np.zeros((8, 9, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 10, 200, 7  # blue 10, red 200, alpha 7
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    rgb = read_image(tmp_path / "a.png")
    assert rgb.shape == (8, 9, 3)
    assert tuple(rgb[0, 0]) == (200, 0, 10)


def test_jpeg_red_is_red(tmp_path: Path) -> None:
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., 0] = 250  # RGB red
    cv2.imwrite(str(tmp_path / "r.jpg"), img[..., ::-1])
    out = read_image(tmp_path / "r.jpg")
    assert out[..., 0].min() > 240 and out[..., 2].max() < 10


@pytest.mark.parametrize("name", sorted(REALSKY))
def test_real_allsky_fits(realsky_dir: Path, name: str) -> None:
    pixels, meta = read_fits(realsky_dir / name)
    shape, dtype = REALSKY[name]
    assert pixels.shape == shape and pixels.dtype == dtype
    with fits.open(realsky_dir / name) as hdus:  # astropy scaled the data exactly as we return it
        ref = np.asarray(hdus[0].data, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(pixels), np.isnan(ref))
    np.testing.assert_allclose(pixels[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-6)
    if name.startswith("cta"):
        assert np.isnan(pixels).any()  # NaN outside the image circle is kept for the stretch
    if name.startswith("iceact"):
        assert meta["BZERO"] == 32768 and meta["EXPOSURE"] == "120.0"
    if name.startswith("magic"):
        assert meta["EXPTIME"] == 60.0 and meta["INSTRUME"] == "Starlight Xpress CCD"


def test_realsky_folder_as_a_source(realsky_dir: Path) -> None:
    with open_source(str(realsky_dir)) as src:
        frames = list(src)
    assert [Path(f.path).name for f in frames] == sorted(REALSKY | REALSKY_JPEG)
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(len(frames)))
    for f in frames:
        name = Path(f.path).name
        if name in REALSKY_JPEG:
            assert (f.pixels.shape, f.pixels.dtype) == REALSKY_JPEG[name]
    magic = next(f for f in frames if Path(f.path).name == "magic_20180816_2101.fits")  # DATE-OBS '2018-08-16' + TIME-OBS '20:58:35' → capture time
    assert magic.timestamp == parse_date_obs("2018-08-16T20:58:35")
    assert frames[1].timestamp == pytest.approx(1497154143.311554)


def test_parse_date_obs() -> None:
    assert parse_date_obs("1970-01-02T00:00:00") == 86400.0
    assert parse_date_obs("1970-01-01T02:00:00+01:00") == 3600.0
    assert parse_date_obs("1970-01-01T01:00:00+01:00") is None  # the zero of an unset clock: the file's time instead
    assert parse_date_obs("1970-01-01", "00:01:00") == 60.0
    assert parse_date_obs("last tuesday") is None


def test_fits_cube_scaling_and_gzip(tmp_path: Path) -> None:
    planes = np.stack([np.full((6, 5), v, np.int16) for v in (1, 2, 3)])
    hdu = fits.PrimaryHDU(planes)
    hdu.header["EXPTIME"] = 15.0
    hdu.header["DATE-OBS"] = "2026-11-26T01:02:03"
    hdu.writeto(tmp_path / "rgb.fits")
    pixels, meta = read_fits(tmp_path / "rgb.fits")
    assert pixels.shape == (6, 5, 3) and pixels.dtype == np.float32  # signed ints become float
    assert tuple(pixels[0, 0]) == (1.0, 2.0, 3.0)
    assert meta["EXPTIME"] == 15.0 and meta["planes"] == 3
    # a 5-plane cube gives its first plane; BSCALE is applied; .fits.gz is read transparently
    cube = fits.PrimaryHDU(np.arange(5 * 4 * 6, dtype=np.int16).reshape(5, 4, 6))
    cube.header["BSCALE"], cube.header["BZERO"] = 0.5, 10.0
    raw = tmp_path / "cube.fits"
    cube.writeto(raw)
    (tmp_path / "cube.fits.gz").write_bytes(gzip.compress(raw.read_bytes()))
    first, meta = read_fits(tmp_path / "cube.fits.gz")
    np.testing.assert_allclose(first, np.arange(24).reshape(4, 6) * 0.5 + 10.0)
    assert meta["planes"] == 5


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cut.png", "png_half", r"cannot decode image .*cut\.png \(\d+ bytes\): the file is corrupt, truncated"),
        ("empty.jpg", b"", r"cannot decode image .*empty\.jpg \(0 bytes\)"),
        ("junk.fits", b"SIMPLE  = nonsense" + b" " * 100, r"cannot read FITS file .*junk\.fits"),
        ("table.fits", "table", r"FITS file .*table\.fits holds no image"),
    ],
)
def test_corrupt_files_become_frame_errors(tmp_path: Path, name: str, content: bytes | str, message: str) -> None:
    path = tmp_path / name
    if content == "png_half":
        ok, enc = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        path.write_bytes(enc.tobytes()[: enc.size // 2])
    elif content == "table":
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "J", array=[1])])]).writeto(path)
    else:
        path.write_bytes(content)
    rec = read_frame_file(path, 4, "night")
    assert isinstance(rec, FrameError)
    assert (rec.index, rec.source_id, rec.path) == (4, "night", str(path))
    assert __import__("re").search(message, rec.message), rec.message
    with pytest.raises(InputError):
        (read_fits if name.endswith(".fits") else read_image)(path)


def test_a_corrupt_frame_does_not_stop_a_folder(tmp_path: Path) -> None:
    img = np.full((10, 12, 3), 77, np.uint8)
    cv2.imwrite(str(tmp_path / "f1.png"), img)
    (tmp_path / "f2.png").write_bytes(b"\x89PNG broken")
    cv2.imwrite(str(tmp_path / "f3.png"), img)
    os.utime(tmp_path / "f1.png", (1000.0, 1000.0))
    with open_source(str(tmp_path), loop=False) as src:
        recs = list(src)
    assert [type(r).__name__ for r in recs] == ["Frame", "FrameError", "Frame"]
    assert recs[0].timestamp == 1000.0  # an image's capture time is its modification time
    with open_source(str(tmp_path / "f*.png"), loop=True) as src:
        looped = [r for _, r in zip(range(7), src)]
    assert [r.index for r in looped] == list(range(7))
    assert [Path(r.path).name for r in looped][3:6] == ["f1.png", "f2.png", "f3.png"]


@pytest.mark.parametrize(
    ("pattern", "xoff", "yoff"),
    [("RGGB", 0, 0), ("BGGR", 0, 0), ("GRBG", 0, 0), ("GBRG", 0, 0), ("RGGB", 1, 0), ("BGGR", 1, 1)],
)
def test_bayer_fits_is_demosaiced_to_rgb(tmp_path: Path, pattern: str, xoff: int, yoff: int) -> None:
    rgb = np.array([40000, 9000, 1500], np.uint16)
    eff = "".join(pattern[((dy + yoff) % 2) * 2 + (dx + xoff) % 2] for dy in range(2) for dx in range(2))
    mosaic = np.zeros((12, 16), np.uint16)
    for dy in range(2):
        for dx in range(2):
            mosaic[dy::2, dx::2] = rgb["RGB".index(eff[dy * 2 + dx])]
    hdu = fits.PrimaryHDU(mosaic)  # uint16 → BZERO 32768, read back as uint16
    hdu.header["BAYERPAT"] = pattern
    hdu.header["XBAYROFF"], hdu.header["YBAYROFF"] = xoff, yoff
    hdu.writeto(tmp_path / "raw.fits")
    pixels, meta = read_fits(tmp_path / "raw.fits")
    assert pixels.shape == (12, 16, 3) and pixels.dtype == np.uint16
    assert meta["demosaiced"] == eff
    np.testing.assert_array_equal(pixels[2:-2, 2:-2].reshape(-1, 3), np.broadcast_to(rgb, (8 * 12, 3)))
    mono, meta = read_fits(tmp_path / "raw.fits", demosaic=False)
    assert mono.shape == (12, 16) and "demosaiced" not in meta


@pytest.mark.parametrize(("fill", "message"), [
    (np.nan, "has no finite pixel values (all NaN or Inf)"),
    (np.inf, "has no finite pixel values (all NaN or Inf)"),
    (0.0, "holds no signal: every pixel is 0.0"),
])
def test_fits_without_a_picture_is_an_error_row(tmp_path: Path, fill: float, message: str) -> None:
    """Regression: all-NaN, all-Inf and all-zero FITS frames were segmented (84 % sky)."""
    from skyseg.runtime.frame import FrameError
    from skyseg.runtime.sources.image_reader import read_frame_file

    path = tmp_path / "dead.fits"
    fits.PrimaryHDU(np.full((48, 64), fill, np.float32)).writeto(path)
    record = read_frame_file(path, 0, "src")
    assert isinstance(record, FrameError) and message in record.message and "dead.fits" in record.message
    ok = tmp_path / "ok.fits"
    data = np.full((48, 64), np.nan, np.float32)
    data[10:20, 10:30] = np.arange(200, dtype=np.float32).reshape(10, 20)  # NaN outside an image circle is fine
    fits.PrimaryHDU(data).writeto(ok)
    assert isinstance(read_frame_file(ok, 1, "src"), Frame)


def test_constant_16bit_png_is_an_error_row(tmp_path: Path) -> None:
    from skyseg.runtime.frame import FrameError
    from skyseg.runtime.sources.image_reader import read_frame_file

    path = tmp_path / "flat.png"
    cv2.imwrite(str(path), np.full((30, 40), 4096, np.uint16))
    record = read_frame_file(path, 0, "src")
    assert isinstance(record, FrameError) and "every pixel is 4096" in record.message
