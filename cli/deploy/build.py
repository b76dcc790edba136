"""`skyseg build MODEL.onnx -o MODEL.engine --precision ...`: TensorRT engine + sidecar (thin CLI)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", type=Path, help="ONNX from `skyseg export` (FP32/FP16) or `skyseg quantize` (Q/DQ)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write MODEL.engine")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8", "best"), default="fp16",
                        help="engine precision (default fp16); int8 wants a Q/DQ ONNX or --calib DIR")
    parser.add_argument("--workspace", type=float, default=None, metavar="GiB", help="builder workspace limit in GiB")
    parser.add_argument("--timing-cache", type=Path, default=None, metavar="FILE",
                        help="read/update a TensorRT timing cache (faster rebuilds)")
    parser.add_argument("--dla-core", type=int, default=None, metavar="N", help="build for DLA core N (Jetson, TRT <= 10)")
    parser.add_argument("--gpu-fallback", action="store_true", help="with --dla-core: run unsupported layers on the GPU")
    parser.add_argument("--opt-level", type=int, choices=range(6), default=None, metavar="0-5",
                        help="builder optimization level (TensorRT default 3)")
    parser.add_argument("--min-batch", type=int, default=None, help="dynamic-batch profile: minimum batch")
    parser.add_argument("--opt-batch", type=int, default=None, help="dynamic-batch profile: batch to optimize for")
    parser.add_argument("--max-batch", type=int, default=None, help="dynamic-batch profile: maximum batch")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--raw", dest="ultralytics_header", action="store_false", default=False,
                        help="write the raw plan (default; loads in trtexec, DeepStream, C++)")
    layout.add_argument("--ultralytics-header", dest="ultralytics_header", action="store_true",
                        help="prepend Ultralytics' metadata header (Ultralytics loads it; trtexec/DeepStream cannot)")
    parser.add_argument("--calib", type=Path, default=None, metavar="DIR",
                        help="legacy implicit INT8 (TensorRT <= 10): folder of calibration frames")
    parser.add_argument("--calib-cache", type=Path, default=None, metavar="FILE", help="legacy INT8 calibration cache")
    parser.add_argument("--calib-method", choices=("entropy", "minmax"), default="entropy",
                        help="legacy INT8 calibrator (default entropy)")


def run(args: argparse.Namespace) -> int:
    from skyseg.export.trt.build import BuildConfig
    from skyseg.export.trt.engine import build_engine

    cfg = BuildConfig(
        onnx=args.onnx, output=args.output, precision=args.precision, workspace_gib=args.workspace,
        timing_cache=args.timing_cache, dla_core=args.dla_core, gpu_fallback=args.gpu_fallback,
        opt_level=args.opt_level, min_batch=args.min_batch, opt_batch=args.opt_batch, max_batch=args.max_batch,
        ultralytics_header=args.ultralytics_header, calib_dir=args.calib, calib_cache=args.calib_cache,
        calib_method=args.calib_method,
    )
    result = build_engine(cfg)
    out = sys.stdout
    out.write(f"built {result.path} ({result.plan.engine_precision}) in {result.seconds:.1f} s, "
              f"{result.size_bytes / 1e6:.2f} MB; sidecar {result.path.name}.json\n")
    out.write(f"equivalent trtexec command:\n  {result.trtexec}\n")
    for note in result.plan.notes:
        out.write(f"note: {note}\n")
    return 0
