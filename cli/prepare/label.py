"""`skyseg label FRAMES... -o OUT_DIR [--polygons P.json]`: a checked sky mask for one fixed camera.

Median stack of a night's frames → threshold, image-circle fit and clean-up → hand include/exclude polygons →
OUT_DIR/mask.png (255 = sky), overlay.png to look at, stack.png and label.json (what was done). See label/README.md.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _threshold(text: str) -> float | str:
    if text in ("otsu", "none"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a grey level 0–255, 'otsu' or 'none', got {text!r}") from None
    if not 0.0 <= value <= 255.0:
        raise argparse.ArgumentTypeError(f"a grey level must be within 0–255, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("frames", nargs="*", metavar="FRAMES",
                        help="frame files, a folder or a glob of one camera's frames (FITS, 16-bit PNG/TIFF, JPEG); "
                             "default: the frames the --polygons file lists")
    parser.add_argument("-o", "--out-dir", type=Path, required=True, help="folder for mask.png, overlay.png, label.json")
    parser.add_argument("--polygons", type=Path, default=None, metavar="P.json",
                        help="hand polygons {\"include\": [[[x, y], ...]], \"exclude\": [...]} and optional parameters")
    parser.add_argument("--threshold", type=_threshold, default=None,
                        help="stretched grey level above which a pixel is sky, 'otsu' or 'none' (default: the "
                             "polygons file's, else otsu)")
    parser.add_argument("--blur", type=_non_negative_int, default=None, help="median filter size before the threshold")
    parser.add_argument("--circle-threshold", type=float, default=None,
                        help="grey level of the lit area whose outline the image circle is fitted to")
    parser.add_argument("--margin", type=float, default=None, help="pixels taken off the fitted circle's radius")
    parser.add_argument("--no-circle", action="store_true",
                        help="no image circle (a sensor that crops the fisheye circle away)")


def run(args: argparse.Namespace) -> int:
    from skyseg.label.make_mask import LabelConfig, make_label

    config = LabelConfig(frames=tuple(args.frames), out_dir=args.out_dir, polygons=args.polygons,
                         threshold=args.threshold, blur=args.blur, circle_threshold=args.circle_threshold,
                         margin=args.margin, no_circle=args.no_circle)
    result = make_label(config)
    sys.stdout.write(f"{args.out_dir / 'mask.png'}: sky {100 * result.sky_fraction:.1f}% of "
                     f"{result.mask.shape[1]}x{result.mask.shape[0]} px; look at {args.out_dir / 'overlay.png'}\n")
    return 0
