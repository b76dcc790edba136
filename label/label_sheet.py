"""A contact sheet of a labelled dataset: each frame (stretched) beside its ground-truth mask overlay.

`python -m skyseg.label.label_sheet DATASET -o OUT.png` reads `images/<split>/` and `masks/<split>/<stem>.png`
(what `skyseg evaluate` reads) and tiles frame | overlay pairs, labelled with the name and the sky fraction:
the picture docs/realsky_labels.png is made with.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from skyseg.runtime.atomic_file import write_image_atomic
from skyseg.runtime.errors import InputError, SkysegError
from skyseg.runtime.quality.evaluate import dataset_frames, read_truth
from skyseg.runtime.quality.overlay_sheet import fit_tile, grid
from skyseg.label.stack import read_grey8

log = logging.getLogger(__name__)


def label_sheet(root: Path, out: Path, tile: int = 300, columns: int = 4) -> Path:
    """Write the contact sheet of `root`'s frames and masks to `out`; returns `out`."""
    tiles = []
    for image, truth in dataset_frames(root):
        grey = read_grey8(image)
        mask = read_truth(truth, grey.shape)
        if truth.suffix.lower() != ".png":
            raise InputError(f"{truth} is not a mask PNG; the label sheet shows mask files only")
        frame = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        drawn = frame.astype(np.float32)
        drawn[mask] = 0.6 * drawn[mask] + 0.4 * np.float32((255, 120, 0))
        drawn = drawn.astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(drawn, contours, -1, (0, 230, 255), max(1, round(max(grey.shape) / tile)))
        name = image.name.split(".")[0]
        tiles += [fit_tile(frame, tile, name), fit_tile(drawn, tile, f"sky {100 * mask.mean():.1f}%")]
    write_image_atomic(out, grid(tiles, columns), rgb=False)
    log.info("wrote %s (%d frames)", out, len(tiles) // 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.label.label_sheet", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="dataset folder (images/<split>/, masks/<split>/)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--tile", type=int, default=300, help="tile size in pixels (default 300)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    try:
        label_sheet(args.dataset, args.output, args.tile)
    except SkysegError as err:
        log.error("%s", err)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
