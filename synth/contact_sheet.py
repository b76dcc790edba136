"""Contact sheet of synthetic frames next to the real all-sky frames, for eyeballing realism.

`python -m skyseg.synth.contact_sheet REAL_DIR OUT.png` renders every real FITS frame and a grid of synthetic
frames (8-bit and stretched 16-bit) the way the model sees them, labelled, as one PNG.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.sources.fits_reader import read_fits
from skyseg.runtime.quality.overlay_sheet import fit_tile, grid
from skyseg.runtime.process.preprocess import to_rgb8
from skyseg.synth.scene import render_scene

log = logging.getLogger(__name__)


def make_contact_sheet(real_dir: Path, out: Path, seed: int = 0, n_synth: int = 12, tile: int = 220,
                       columns: int = 6) -> Path:
    """Write a PNG: a row of real frames (stretched), then synthetic all-sky and camera frames."""
    real = sorted(p for p in real_dir.iterdir() if p.name.endswith((".fits", ".fits.gz", ".fit")))
    tiles = [fit_tile(to_rgb8(read_fits(p)[0]), tile, f"REAL {p.name.split('.')[0]}") for p in real]
    while len(tiles) % columns:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    for i in range(n_synth):
        kind = "allsky" if i < (2 * n_synth) // 3 else "camera"
        depth = 16 if i % 2 else 8
        scene = render_scene(seed + i, kind, (640, 480) if kind == "allsky" and i % 3 == 0 else (640, 640), depth)
        tiles.append(fit_tile(to_rgb8(scene.image), tile, f"SYNTH {kind} {depth}-bit"))
    write_image_atomic(out, grid(tiles, columns))
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
        tiles.append(fit_tile(img, tile, f"{scene.kind} sky {100 * scene.conditions['sky_fraction']:.0f}%"))
    write_image_atomic(out, grid(tiles, columns))
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
