"""`skyseg run SOURCE`: segment a camera, video, image folder or FITS night into masks, tables and video."""
from __future__ import annotations

import argparse
import logging
import os

# The run loop does small matrix products per frame (mask coefficients × protos); OpenBLAS's default thread
# pool spin-waits and fights the inference threads on small CPUs (measured 10–30× slower under load). Must be
# set before NumPy loads; the user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path

from skyseg.cli.run_args import add_run_args, run_config_from_args
from skyseg.runtime.run.config import RunConfig


PARTIAL_EXIT = 5  # every frame was processed or recorded, but some could not be read: README "Exit codes"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="camera/video/image URI: csi://0, /dev/video0, rtsp://..., clip.mp4, "
                        "a folder, a glob ('night/*.fits'), test://ball, or a GStreamer pipeline ending in appsink")
    add_run_args(parser)
    parser.add_argument("--imgsz", help="ignored: the input size comes from the model")
    parser.add_argument("--save-dir", help="save everything here: annotated video/images, masks/, results.csv")
    parser.add_argument("--masks", nargs="?", const="", metavar="DIR",
                        help="write full-size 8-bit mask PNGs (255 = sky) to DIR (default SAVE_DIR/masks or ./masks)")
    parser.add_argument("--table", help="results table: results.csv, .jsonl or .xlsx")
    parser.add_argument("--static-mask", nargs="?", const="", metavar="PNG",
                        help="write the per-night static sky mask (default SAVE_DIR/static_mask.png or "
                        "./static_mask.png)")
    parser.add_argument("--headless", action="store_true", help="never open a display window")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Flags → one frozen RunConfig (defaults resolved here so the library gets concrete paths)."""
    save = Path(args.save_dir) if args.save_dir else None
    if args.imgsz:
        log.warning("--imgsz %s ignored: the input size comes from the model", args.imgsz)
    masks = None
    if args.masks is not None:
        masks = args.masks or str(save / "masks" if save else Path("masks"))
    static = None
    if args.static_mask is not None:
        static = args.static_mask or str(save / "static_mask.png" if save else Path("static_mask.png"))
    return run_config_from_args(args, save_dir=args.save_dir, masks=masks, table=args.table, static_mask=static,
                                headless=args.headless)


def run(args: argparse.Namespace) -> int:
    from skyseg.runtime.errors import InputError
    from skyseg.runtime.pipeline import run as run_pipeline

    summary = run_pipeline(config_from_args(args))
    if summary.frames == 0 and summary.errors > 0:  # bad input: exit 2, as README "Exit codes" says
        raise InputError(f"none of the {summary.errors} input frame(s) could be read; see the warnings above")
    if summary.stopped_by == "SIGINT":
        return 130
    if summary.errors and summary.stopped_by is None:  # a service stopped by SIGTERM ends normally (0)
        log.error("finished, but %d of %d frame(s) failed (their rows in the results table say why)",
                  summary.errors, summary.errors + summary.frames)
        return PARTIAL_EXIT
    return 0
