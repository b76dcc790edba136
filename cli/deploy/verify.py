"""`skyseg verify MODEL… --images DIR`: every backend on the same frames; exit 3 when one disagrees."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from skyseg.cli.arg_types import add_imgsz_arg, parse_imgsz
from skyseg.runtime.errors import CheckSkippedError, InputError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="models to compare: .pt (PyTorch deploy form), .onnx (FP32 or Q/DQ INT8), .engine")
    parser.add_argument("--images", required=True, help="folder of frames (FITS, PNG, JPEG, TIFF; 8- or 16-bit)")
    parser.add_argument("--reference", default=None, metavar="WEIGHTS.pt",
                        help="reference model (default: the first MODEL)")
    parser.add_argument("--min-iou", type=float, default=0.99,
                        help="fail a backend whose mean sky-mask IoU vs the reference is below this (default 0.99)")
    parser.add_argument("--min-iou-int8", type=float, default=0.98,
                        help="the same for INT8 models and engines (default 0.98, the INT8 accuracy target)")
    parser.add_argument("--max-frames", type=int, default=20, help="use at most this many frames (default 20)")
    add_imgsz_arg(parser, help="input size S or H W for a .pt reference (default: the first static ONNX's size)")
    parser.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    parser.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    parser.add_argument("--threads", type=int, default=None, help="inference threads per backend")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write the report as JSON")
    parser.add_argument("--allow-skip", action="store_true",
                        help="exit 0 when a backend cannot run here (e.g. an engine without TensorRT); by default "
                             "that exits 4, since a check that did not run is not a pass")


def run(args: argparse.Namespace) -> int:
    from skyseg.export.cross_verify import VerifyConfig, cross_verify
    from skyseg.runtime.atomic_file import write_json_atomic

    imgsz = parse_imgsz(args.imgsz)
    for flag, value in (("--min-iou", args.min_iou), ("--min-iou-int8", args.min_iou_int8)):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{flag} must be within 0–1, got {value}")
    config = VerifyConfig(models=tuple(args.models), images=args.images, reference=args.reference,
                          min_iou=args.min_iou, min_iou_int8=args.min_iou_int8, max_frames=args.max_frames,
                          conf=args.conf, iou=args.iou, threads=args.threads, imgsz=imgsz)
    report = cross_verify(config)
    sys.stdout.write(report.markdown())
    if args.json:
        write_json_atomic(args.json, report.to_json())
        log.info("wrote %s", args.json)
    report.raise_for_failures()
    skipped = [b for b in report.backends if b.status == "skipped"]
    if skipped and not args.allow_skip:
        names = ", ".join(f"{b.label} ({Path(b.model).name})" for b in skipped)
        raise CheckSkippedError(f"{len(skipped)} backend(s) could not run here and were not verified: {names}; "
                                "run on a machine that has them, or pass --allow-skip to accept")
    return 0
