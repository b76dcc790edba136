"""`skyseg synth OUT_DIR --n N --seed S ...`: generate a synthetic night-sky YOLO-seg dataset."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, help="output folder (created; must not already hold images)")
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (image i uses a seed from (seed, i))")
    parser.add_argument("--kind", choices=["allsky", "camera", "mixed", "allsky-hard"], default="mixed")
    parser.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=(640, 640))
    parser.add_argument("--bit-depth", type=int, choices=[8, 16], default=8)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--format", dest="image_format", choices=["png", "jpg"], default="png")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder that already has images")
    parser.add_argument("--real-sky", type=Path, default=None, metavar="TEXTURES.json",
                        help="real sky textures ([{path, disc: [cx, cy, r]} or {path, mask}]) pasted behind the "
                             "generated foreground of a share of the frames (see --real-sky-share)")
    parser.add_argument("--real-sky-share", type=float, default=0.4, help="share of frames with real sky (default 0.4)")


def run(args: argparse.Namespace) -> int:
    from skyseg.synth.dataset import SynthConfig, generate_dataset

    cfg = SynthConfig(
        out_dir=args.out_dir, n=args.n, seed=args.seed, kind=args.kind, size=(args.size[0], args.size[1]),
        bit_depth=args.bit_depth, workers=args.workers, val_fraction=args.val_fraction,
        image_format=args.image_format, overwrite=args.overwrite, real_sky=args.real_sky,
        real_sky_share=args.real_sky_share if args.real_sky is not None else 0.0,
    )
    start = time.perf_counter()
    data_yaml = generate_dataset(cfg)
    rate = cfg.n / max(time.perf_counter() - start, 1e-9)
    sys.stdout.write(f"{data_yaml}\n{cfg.n} images, {rate:.1f} images/s\n")
    return 0
