"""`skyseg evaluate DATASET…`: sky-mask IoU of a model against labelled frames (masks or YOLO-seg polygons)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in `skyseg run`: the post-processing's small matmuls

from skyseg.runtime.errors import InputError, VerificationError
from skyseg.cli.arg_types import positive_int, probability

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", type=Path, metavar="DATASET",
                        help="dataset folders: images/<split>/ with masks/<split>/*.png or labels/<split>/*.txt")
    parser.add_argument("--model", help="model file (.onnx or .engine); default: the bundled model")
    parser.add_argument("--backend", choices=("auto", "trt", "ort", "openvino"), default="auto", help="inference backend")
    parser.add_argument("--split", default="all", help="which split folder to use (default: all of them)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="at most this many frames per dataset")
    parser.add_argument("--conf", type=probability, default=0.25, help="score threshold (default 0.25)")
    parser.add_argument("--iou", type=probability, default=0.7, help="NMS IoU threshold (default 0.7)")
    parser.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--min-iou", type=probability, default=None,
                        help="exit 3 when a dataset's mean IoU is below this (a quality gate for CI)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="also write per-frame JSON")
    parser.add_argument("--clouds", action="store_true",
                        help="score cloud maps against DATASET/clouds/*.json region labels instead of sky masks "
                             "(leave-one-camera-out; datasets/realsky/clouds/README.md)")
    parser.add_argument("--sheet", type=Path, default=None, metavar="OUT.png",
                        help="also write a contact sheet: right sky blue, false sky red, missed sky yellow")


def run(args: argparse.Namespace) -> int:
    from skyseg.runtime.atomic_file import write_bytes_atomic
    from skyseg.runtime.backends.base import open_backend
    from skyseg.runtime.bundled_model import bundled_model_path
    from skyseg.runtime.quality.evaluate import evaluate_dataset, markdown, to_json
    from skyseg.runtime.process.segmenter import Segmenter

    if args.min_iou is not None and not 0.0 <= args.min_iou <= 1.0:
        raise InputError(f"--min-iou must be within 0–1, got {args.min_iou}")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {args.max_frames}")
    from skyseg.runtime.checkpoint_export import resolve_model  # a PyTorch best.pt: its cached ONNX export

    model = resolve_model(args.model) if args.model else str(bundled_model_path())
    if args.clouds:
        from skyseg.runtime.quality.cloud_score import evaluate_clouds

        with open_backend(model, backend=args.backend, threads=args.threads) as backend:
            text, data = evaluate_clouds(Segmenter(backend, conf=args.conf, iou=args.iou), args.datasets)
        sys.stdout.write(text)
        if args.json:
            write_bytes_atomic(args.json, data.encode())
        return 0
    with open_backend(model, backend=args.backend, threads=args.threads) as backend:
        segmenter = Segmenter(backend, conf=args.conf, iou=args.iou)
        tiles: list | None = [] if args.sheet else None
        scores = [evaluate_dataset(segmenter, root, args.split, args.max_frames, tiles) for root in args.datasets]
    sys.stdout.write(markdown(scores, model))
    if args.json:
        write_bytes_atomic(args.json, to_json(scores, model).encode())
        log.info("wrote %s", args.json)
    if args.sheet and tiles:
        from skyseg.runtime.atomic_file import write_image_atomic
        from skyseg.runtime.quality.overlay_sheet import grid

        write_image_atomic(args.sheet, grid(tiles, 3))
        log.info("wrote %s (%d frames; blue right sky, red false sky, yellow missed sky)", args.sheet, len(tiles))
    low = [s for s in scores if args.min_iou is not None and s.mean_iou < args.min_iou]
    if low:
        raise VerificationError(f"mean sky-mask IoU {low[0].mean_iou:.4f} on {low[0].root} is below --min-iou "
                                f"{args.min_iou}.")
    return 0
