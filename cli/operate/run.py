"""`skyseg run SOURCE`: segment a camera, video, image folder or FITS night into masks, tables and video."""
from __future__ import annotations

import argparse
import logging
import os

# The run loop does small matrix products per frame (mask coefficients × protos); OpenBLAS's default thread
# pool spin-waits and fights the inference threads on small CPUs (measured 10–30× slower under load). Must be
# set before NumPy loads; the user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

from skyseg.cli.arg_types import megabytes, positive_int, positive_seconds, probability, share  # noqa: E402
from skyseg.runtime.pipeline import RunConfig  # noqa: E402


PARTIAL_EXIT = 5  # every frame was processed or recorded, but some could not be read: README "Exit codes"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="camera/video/image URI: csi://0, /dev/video0, rtsp://..., clip.mp4, "
                        "a folder, a glob ('night/*.fits'), test://ball, or a GStreamer pipeline ending in appsink")
    parser.add_argument("--model", help="model file (.onnx, or .engine/.plan for TensorRT, or a PyTorch .pt exported "
                        "once and cached where the train side is installed); default: the bundled skyseg-n.onnx")
    parser.add_argument("--backend", choices=("auto", "trt", "ort", "openvino"), default="auto",
                        help="inference backend (auto: TensorRT for engines; for ONNX the faster of ONNX Runtime and OpenVINO "
                        "here, timed once and cached as MODEL.onnx.backend.json — see `skyseg inspect MODEL.onnx`)")
    parser.add_argument("--conf", type=probability, default=0.25, help="confidence threshold (default 0.25)")
    parser.add_argument("--iou", type=probability, default=0.7, help="NMS IoU threshold (default 0.7)")
    parser.add_argument("--max-det", type=positive_int, default=300, help="most instances per frame (default 300)")
    parser.add_argument("--imgsz", help="ignored: the input size comes from the model")
    parser.add_argument("--threads", type=positive_int, help="ONNX Runtime intra-op threads (default: ORT's choice)")
    parser.add_argument("--save-dir", help="save everything here: annotated video/images, masks/, results.csv")
    parser.add_argument("--output", action="append", default=[], metavar="SINK",
                        help="display://0, file://out.mp4 (.mkv/.webm/.avi), a folder for annotated images, or "
                        "mqtt://HOST[:PORT]/BASE_TOPIC[?discovery=homeassistant] for per-frame values; repeatable")
    parser.add_argument("--masks", nargs="?", const="", metavar="DIR",
                        help="write full-size 8-bit mask PNGs (255 = sky) to DIR (default SAVE_DIR/masks or ./masks)")
    parser.add_argument("--table", help="results table: results.csv, .jsonl or .xlsx")
    parser.add_argument("--static-mask", nargs="?", const="", metavar="PNG",
                        help="write the per-night static sky mask (default SAVE_DIR/static_mask.png or "
                        "./static_mask.png)")
    parser.add_argument("--static-share", type=share, default=0.9,
                        help="static mask: share of frames a pixel must be sky in (default 0.9)")
    parser.add_argument("--headless", action="store_true", help="never open a display window")
    parser.add_argument("--prior", choices=("auto", "on", "off"), default="auto",
                        help="per-installation horizon prior: learn the night's sky map from the first frames and "
                             "combine it with each frame (auto: on for folders and watch folders, off for videos "
                             "and cameras); the table's `mask` column says which mask was written")
    parser.add_argument("--prior-frames", type=positive_int, default=8,
                        help="frames counted before the prior is applied (default 8)")
    parser.add_argument("--watch", action="store_true", help="SOURCE is a folder: process new frames as they appear")
    parser.add_argument("--gpu-prepost", choices=("auto", "on", "off"), default="auto",
                        help="TensorRT: letterbox and mask assembly on the GPU (auto: when CuPy is installed)")
    parser.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    parser.add_argument("--progress", type=positive_seconds, default=5.0, metavar="S", help="progress line every S seconds")
    parser.add_argument("--min-free", type=megabytes, default=100.0, metavar="MB",
                        help="low disk: below MB free, stop annotated video/images; below MB/2 stop masks too; the "
                             "table never stops (default 100, 0 = off)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Flags → one frozen RunConfig (defaults resolved here so the library gets concrete paths)."""
    save = Path(args.save_dir) if args.save_dir else None
    if args.imgsz:
        log.warning("--imgsz %s ignored: the input size comes from the model", args.imgsz)
    if args.model:
        from skyseg.runtime.checkpoint_export import resolve_model  # a PyTorch best.pt: its cached ONNX export

        model = resolve_model(args.model, args.save_dir)
    else:
        from skyseg.runtime.bundled_model import bundled_model_path

        model = str(bundled_model_path())
    masks = None
    if args.masks is not None:
        masks = args.masks or str(save / "masks" if save else Path("masks"))
    static = None
    if args.static_mask is not None:
        static = args.static_mask or str(save / "static_mask.png" if save else Path("static_mask.png"))
    return RunConfig(
        source=args.source,
        model=model,
        backend=args.backend,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        threads=args.threads,
        outputs=tuple(args.output),
        save_dir=args.save_dir,
        masks=masks,
        table=args.table,
        static_mask=static,
        static_share=args.static_share,
        headless=args.headless,
        watch=args.watch,
        prior=args.prior,
        prior_frames=args.prior_frames,
        max_frames=args.max_frames,
        progress_s=args.progress,
        gpu_prepost=args.gpu_prepost,
        min_free_mb=args.min_free,
    )


def run(args: argparse.Namespace) -> int:
    from skyseg.runtime.errors import SkysegError
    from skyseg.runtime.pipeline import run as run_pipeline

    summary = run_pipeline(config_from_args(args))
    if summary.frames == 0 and summary.errors > 0:
        raise SkysegError(f"none of the {summary.errors} input frame(s) could be read; see the warnings above")
    if summary.stopped_by == "SIGINT":
        return 130
    if summary.errors and summary.stopped_by is None:  # a service stopped by SIGTERM ends normally (0)
        log.error("finished, but %d of %d frame(s) failed (their rows in the results table say why)",
                  summary.errors, summary.errors + summary.frames)
        return PARTIAL_EXIT
    return 0
