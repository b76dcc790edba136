"""`skyseg demo [--out DIR]`: export, verify, quantize, a GStreamer clip run and a bench — end to end on a CPU."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skyseg.cli.arg_types import add_imgsz_arg, parse_imgsz, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (default demo-out)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="checkpoint to demo (default: the bundled models/weights/skyseg-n.pt)")
    parser.add_argument("--frames", type=positive_int, default=48, help="frames in the generated night-sky clip (default 48)")
    add_imgsz_arg(parser, default=320, help="model input size S or H W")
    parser.add_argument("--clip-size", type=int, nargs=2, default=[640, 360], metavar=("W", "H"),
                        help="size of the generated clip (default 640 360)")
    parser.add_argument("--calib-frames", type=positive_int, default=40, help="synthetic calibration frames (default 40)")
    parser.add_argument("--int8-budget", type=float, default=0.02,
                        help="allowed hold-out sky-mask IoU drop of INT8 vs FP32 (default 0.02)")
    parser.add_argument("--sensitivity-s", type=float, default=60.0,
                        help="time limit of the INT8 mixed-precision search in seconds (default 60)")
    parser.add_argument("--bench-frames", type=positive_int, default=20, help="timed frames per bench run (default 20)")
    parser.add_argument("--bench-threads", type=positive_int, default=1, help="inference threads in the bench (default 1)")
    parser.add_argument("--run-model", choices=("int8", "fp32"), default="int8",
                        help="model the clip runs through (default int8, the embedded default)")


def run(args: argparse.Namespace) -> int:
    from skyseg.demo.demo import DemoConfig, run_demo

    imgsz = parse_imgsz(args.imgsz)
    config = DemoConfig(out=args.out, weights=args.weights, frames=args.frames,
                        imgsz=imgsz, clip_wh=(args.clip_size[0], args.clip_size[1]),
                        calib_frames=args.calib_frames, sensitivity_s=args.sensitivity_s,
                        int8_budget=args.int8_budget, bench_frames=args.bench_frames,
                        bench_threads=args.bench_threads, run_model=args.run_model)
    summary = run_demo(config)
    sys.stdout.write(summary.markdown())
    return 0
