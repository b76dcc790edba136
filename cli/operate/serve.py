"""`skyseg serve SOURCE`: `skyseg run` plus a live night dashboard in the browser (page + small API, one process)."""
from __future__ import annotations

import argparse
import os

# As in `skyseg run`: OpenBLAS's spinning thread pool fights the inference threads on small CPUs.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from skyseg.cli.arg_types import positive_seconds
from skyseg.cli.run_args import add_run_args, run_config_from_args
from skyseg.serve.config import DEFAULT_PORT, DEFAULT_SAVE_DIR, SERVE_PROGRESS_S, ServeConfig


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="any `skyseg run` source: a camera URI, video, folder, glob, FITS night, "
                        "test://sky, or a folder to watch with --watch")
    add_run_args(parser, progress_s=SERVE_PROGRESS_S)  # conf/iou: the starting values, changeable on the page
    parser.add_argument("--models-dir", metavar="DIR", help="folder of .onnx/.engine models (and .pt checkpoints, "
                        "exported when chosen) the page may switch to")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other address needs --token)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--token", default=os.environ.get("SKYSEG_SERVE_TOKEN") or None,
                        help="secret the page and every API call must carry (open /?token=SECRET; API clients send "
                        "'Authorization: Bearer SECRET'); required off loopback; default $SKYSEG_SERVE_TOKEN, which "
                        "keeps it out of the process list")
    parser.add_argument("--save-dir", default=DEFAULT_SAVE_DIR,
                        help=f"everything is saved here as `skyseg run --save-dir` does, uploads under uploads/ "
                        f"(default ./{DEFAULT_SAVE_DIR})")
    parser.add_argument("--loop", action="store_true", help="repeat a file, folder or test:// source (demos)")
    parser.add_argument("--max-fps", type=positive_seconds, metavar="N",
                        help="process at most N frames a second (replay a folder at a camera's pace)")
    parser.add_argument("--max-upload-mb", type=positive_seconds, default=64.0, metavar="MB",
                        help="largest image/video upload accepted (default 64 MB)")
    parser.add_argument("--max-model-mb", type=positive_seconds, default=512.0, metavar="MB",
                        help="largest .onnx model upload accepted (default 512 MB)")
    parser.add_argument("--push-hz", type=positive_seconds, default=2.0, metavar="N",
                        help="most live updates a second sent to each browser (default 2)")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    return ServeConfig(run=run_config_from_args(args, save_dir=args.save_dir), models_dir=args.models_dir,
                       host=args.host, port=args.port, token=args.token, loop=args.loop, max_fps=args.max_fps,
                       max_upload_mb=args.max_upload_mb, max_model_mb=args.max_model_mb, push_hz=args.push_hz)


def run(args: argparse.Namespace) -> int:
    from skyseg.runtime.errors import InputError
    from skyseg.serve.config import check_bind, check_outputs

    check_bind(args.host, args.token)  # before anything loads: one sentence, exit 2
    check_outputs(tuple(args.output))
    if args.models_dir and not os.path.isdir(args.models_dir):
        raise InputError(f"--models-dir {args.models_dir} is not a folder")
    from skyseg.serve.server import serve

    return serve(config_from_args(args))
