"""Contact sheet of synthetic frames next to the real all-sky frames, for eyeballing realism.

`python -m skyseg.synth.contact_sheet REAL_DIR OUT.png` renders every real FITS frame and a grid of synthetic
frames (8-bit and stretched 16-bit) the way the model sees them, labelled, as one PNG.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.runtime.preprocess import to_rgb8
from skyseg.synth.scene import render_scene

log = logging.getLogger(__name__)


def read_fits(path: Path) -> np.ndarray:
    """The first image HDU of a (possibly gzipped) FITS file, as a float32/uint16 array."""
    try:
        from astropy.io import fits
    except ImportError as err:
        raise MissingDependencyError("reading FITS needs astropy: pip install astropy") from err
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.data is not None and hdu.data.ndim >= 2:
                data = np.asarray(hdu.data)
                return data.astype(np.uint16) if data.dtype.kind in "ui" else data.astype(np.float32)
    raise InputError(f"{path} holds no image data.")


def _tile(rgb: np.ndarray, size: int, label: str) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    out[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    cv2.putText(out, label, (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 220, 0), 1, cv2.LINE_AA)
    return out


def make_contact_sheet(real_dir: Path, out: Path, seed: int = 0, n_synth: int = 12, tile: int = 220,
                       columns: int = 6) -> Path:
    """Write a PNG: a row of real frames (stretched), then synthetic all-sky and camera frames."""
    real = sorted(p for p in real_dir.iterdir() if p.name.endswith((".fits", ".fits.gz", ".fit")))
    tiles = [_tile(to_rgb8(read_fits(p)), tile, f"REAL {p.name.split('.')[0]}") for p in real]
    while len(tiles) % columns:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    for i in range(n_synth):
        kind = "allsky" if i < (2 * n_synth) // 3 else "camera"
        depth = 16 if i % 2 else 8
        scene = render_scene(seed + i, kind, (640, 480) if kind == "allsky" and i % 3 == 0 else (640, 640), depth)
        tiles.append(_tile(to_rgb8(scene.image), tile, f"SYNTH {kind} {depth}-bit"))
    while len(tiles) % columns:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    rows = [np.hstack(tiles[k:k + columns]) for k in range(0, len(tiles), columns)]
    ok, buf = cv2.imencode(".png", np.vstack(rows)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, out)
    log.info("wrote %s (%d real, %d synthetic frames, %.0f kB)", out, len(real), n_synth, out.stat().st_size / 1e3)
    return out


def make_mask_sheet(out: Path, seed: int = 100, n: int = 12, tile: int = 220, columns: int = 6) -> Path:
    """Write a PNG of synthetic frames with their label polygons outlined (green), to show the ground truth."""
    tiles = []
    for i in range(n):
        scene = render_scene(seed + i, "allsky" if i % 2 == 0 else "camera", (640, 640), 8)
        img = scene.image.copy()
        polys = [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in scene.polygons]
        cv2.polylines(img, polys, True, (0, 255, 0), 3, cv2.LINE_AA)
        tiles.append(_tile(img, tile, f"{scene.kind} sky {100 * scene.conditions['sky_fraction']:.0f}%"))
    while len(tiles) % columns:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    rows = [np.hstack(tiles[k:k + columns]) for k in range(0, len(tiles), columns)]
    ok, buf = cv2.imencode(".png", np.vstack(rows)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, out)
    log.info("wrote %s (%d synthetic frames with label outlines)", out, n)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--masks", type=Path, default=None, help="also write a sheet with label outlines here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    make_contact_sheet(args.real_dir, args.out, args.seed, args.n)
    if args.masks is not None:
        make_mask_sheet(args.masks, args.seed + 100, 12)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
