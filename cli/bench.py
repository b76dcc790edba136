"""`skyseg bench MODEL`: per-stage latency (p50/p90/p99), FPS, peak RSS and the conditions they were measured in.

The other benchmarks are modes of the same command, each a module of skyseg.bench with its own flags:
`skyseg bench models` (train vs deploy vs stock YOLO11-seg latency), `skyseg bench calib` (INT8 calibration
strategies), `skyseg bench e2e` (the whole frame-to-mask path against Ultralytics' predict) and `skyseg bench
compare` (every skyseg backend and INT8 form against Ultralytics' own paths on the same weights, in one table).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from skyseg.bench.throughput import BenchConfig, run_bench
from skyseg.bench.report import plot_reports, preload_plotting
from skyseg.runtime.atomic_file import write_json_atomic
from skyseg.runtime.errors import InputError
from skyseg.cli.arg_types import add_imgsz_arg, parse_imgsz, positive_int, probability

log = logging.getLogger(__name__)

MODES = {"models": "skyseg.bench.models", "calib": "skyseg.bench.calib", "e2e": "skyseg.bench.e2e",
         "soak": "skyseg.bench.soak", "serve": "skyseg.bench.serve_cost", "compare": "skyseg.bench.compare"}

_BACKEND_BY_SUFFIX = {".onnx": "ort", ".engine": "trt", ".plan": "trt", ".pt": "torch"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file: .onnx (ONNX Runtime), .engine/.plan (TensorRT) or .pt (PyTorch)")
    parser.add_argument("--backend", choices=("ort", "trt", "openvino", "torch"), default=None,
                        help="inference backend (default: from the model's file type)")
    add_imgsz_arg(parser, help="input size S or H W (only for dynamic-shape models and .pt; static models use theirs)")
    parser.add_argument("--batch", type=positive_int, default=1, help="frames per inference call (default 1)")
    parser.add_argument("--frames", type=positive_int, default=50, help="timed frames after warm-up (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up iterations (default 5)")
    parser.add_argument("--source", default=None,
                        help="frames to use (folder, video, any `skyseg run` source); decoding overlaps inference. "
                             "Default: synthetic 1280×720 night frames decoded before timing")
    parser.add_argument("--threads", type=positive_int, default=None, help="inference threads (default: backend default)")
    parser.add_argument("--pin", action="store_true", help="pin the process to the first --threads CPUs")
    parser.add_argument("--conf", type=probability, default=0.25, help="score threshold (default 0.25)")
    parser.add_argument("--iou", type=probability, default=0.7, help="NMS IoU threshold (default 0.7)")
    parser.add_argument("--compare-ultralytics", action="store_true",
                        help="also time ultralytics.YOLO(MODEL).predict on the same frames and print the ratio")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write the report as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="OUT.png", help="write a per-stage latency plot")


def run(args: argparse.Namespace) -> int:
    backend = args.backend or _BACKEND_BY_SUFFIX.get(Path(args.model).suffix.lower())
    if backend is None:
        raise InputError(f"cannot tell the backend for {args.model}; pass --backend ort|trt|openvino|torch")
    if not Path(args.model).is_file():
        raise InputError(f"model {args.model} does not exist")
    config = BenchConfig(model=args.model, backend=backend, imgsz=parse_imgsz(args.imgsz), batch=args.batch,
                         frames=args.frames, warmup=args.warmup, source=args.source, threads=args.threads,
                         compare_ultralytics=args.compare_ultralytics, conf=args.conf, iou=args.iou, pin=args.pin)
    if args.plot:
        preload_plotting()  # before any GStreamer source loads the system FreeType (see preload_plotting)
    factory = None
    if backend == "torch":  # train-side, imported only when asked for
        from skyseg.export.torch_backend import open_torch_backend

        def factory(cfg: BenchConfig):  # a context manager
            return open_torch_backend(cfg.model, threads=cfg.threads)
    compare = None
    if args.compare_ultralytics:
        from skyseg.bench.ultralytics_ref import measure_ultralytics as compare
    report = run_bench(config, backend_factory=factory, compare_runner=compare)
    sys.stdout.write(report.markdown())
    if args.json:
        write_json_atomic(args.json, report.to_json())
        log.info("wrote %s", args.json)
    if args.plot:
        plot_reports([report], args.plot)
        log.info("wrote %s", args.plot)
    return 0
