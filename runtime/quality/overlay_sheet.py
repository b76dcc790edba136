"""A contact sheet of a model's sky masks on real frames: what docs/realsky_overlays.png shows.

`python -m skyseg.runtime.quality.overlay_sheet IMAGES -o OUT.png [--model M]` runs every frame of a folder (FITS, PNG,
JPEG, TIFF) through the runtime exactly as `skyseg run` does and tiles, per frame, the stretched input next to
it with the sky mask tinted and its outline drawn, labelled with the file name and sky fraction.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in `skyseg run`

import cv2
import numpy as np

from skyseg.runtime.sinks.annotate import Annotator
from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.errors import InputError, SkysegError

log = logging.getLogger(__name__)


def fit_tile(rgb: np.ndarray, size: int, label: str) -> np.ndarray:
    """`rgb` scaled to fit a black size×size square, centred, with `label` written at the bottom."""
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    out[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    cv2.putText(out, label, (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 220, 0), 1, cv2.LINE_AA)
    return out


def grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Tiles (same size) in rows of `columns`, the last row padded with black."""
    blank = np.zeros_like(tiles[0])
    tiles = tiles + [blank] * (-len(tiles) % columns)
    return np.vstack([np.hstack(tiles[k:k + columns]) for k in range(0, len(tiles), columns)])


def overlay_sheet(images: Path, out: Path, model: str, tile: int = 300, threads: int | None = None) -> Path:
    from skyseg.runtime.backends.base import open_backend
    from skyseg.runtime.frame import FrameError
    from skyseg.runtime.process.segmenter import Segmenter
    from skyseg.runtime.sources.uri import open_source

    annotator = Annotator(boxes=False, text=False)
    tiles = []
    with open_backend(model, backend="ort", threads=threads) as backend:
        segmenter = Segmenter(backend)
        for frame in open_source(str(images)):
            if isinstance(frame, FrameError):
                raise InputError(f"cannot read {frame.path}: {frame.message}")
            record = segmenter.record(frame)
            if record.result is None or record.rgb8 is None:
                raise InputError(f"cannot segment {frame.path}: {record.error.message if record.error else ''}")
            res, rgb = record.result, record.rgb8  # the frame as displayed: always H×W×3
            drawn = annotator.draw(rgb, res)
            contours, _ = cv2.findContours(res.sky_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(drawn, contours, -1, (0, 255, 0), max(1, round(max(rgb.shape[:2]) / tile)))
            name = Path(frame.path).name.split(".")[0]
            tiles += [fit_tile(rgb, tile, name), fit_tile(drawn, tile, f"sky {100 * res.sky_fraction:.0f}%")]
    if not tiles:
        raise InputError(f"no frames found in {images}")
    write_image_atomic(out, grid(tiles, 4))
    log.info("wrote %s (%d frames)", out, len(tiles) // 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.runtime.quality.overlay_sheet", description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, help="folder of frames")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--model", default=None, help="ONNX model (default: the bundled one)")
    parser.add_argument("--tile", type=int, default=300, help="tile size in pixels (default 300)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    from skyseg.runtime.bundled_model import bundled_model_path

    try:
        overlay_sheet(args.images, args.output, args.model or str(bundled_model_path()), args.tile, args.threads)
    except SkysegError as err:
        log.error("%s", err)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
