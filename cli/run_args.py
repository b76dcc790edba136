"""The flags of a run, defined once: every command that runs frames (`run`, `serve`) offers them from here, and
`run_config_from_args` turns them into the one RunConfig the pipeline takes."""
from __future__ import annotations

import argparse
from typing import Any

from skyseg.cli.arg_types import megabytes, positive_int, positive_seconds, probability, share
from skyseg.runtime.run.config import RunConfig


def add_run_args(parser: argparse.ArgumentParser, progress_s: float = 5.0) -> None:
    """Model, thresholds, backend, extra outputs, the horizon prior, the low-disk guard and the source's limits."""
    parser.add_argument("--model", help="model file (.onnx, or .engine/.plan for TensorRT, or a PyTorch .pt exported "
                        "once and cached where the train side is installed); default: the bundled skyseg-n.onnx")
    parser.add_argument("--backend", choices=("auto", "trt", "ort", "openvino"), default="auto",
                        help="inference backend (auto: TensorRT for engines; for ONNX the faster of ONNX Runtime and "
                        "OpenVINO here, timed once and cached as MODEL.onnx.backend.json — see `skyseg inspect "
                        "MODEL.onnx`)")
    parser.add_argument("--conf", type=probability, default=0.25, help="confidence threshold (default 0.25)")
    parser.add_argument("--iou", type=probability, default=0.7, help="NMS IoU threshold (default 0.7)")
    parser.add_argument("--max-det", type=positive_int, default=300, help="most instances per frame (default 300)")
    parser.add_argument("--threads", type=positive_int, help="ONNX Runtime intra-op threads (default: ORT's choice)")
    parser.add_argument("--output", action="append", default=[], metavar="SINK",
                        help="display://0 (`skyseg run` only), file://out.mp4 (.mkv/.webm/.avi), a folder for "
                        "annotated images, or mqtt://HOST[:PORT]/BASE_TOPIC[?discovery=homeassistant] for retained "
                        "per-frame values (BASE/sky_fraction, BASE/instances, BASE/latency_ms, BASE/frame_time and a "
                        "JSON BASE/state); repeatable. The dashboard's uploads are never sent: they are not the sky "
                        "now")
    parser.add_argument("--static-share", type=share, default=0.9,
                        help="static mask: share of frames a pixel must be sky in (default 0.9)")
    parser.add_argument("--prior", choices=("auto", "on", "off"), default="auto",
                        help="per-installation horizon prior: learn the night's sky map from the first frames and "
                             "combine it with each frame (auto: on for folders and watch folders, off for videos "
                             "and cameras); the table's `mask` column says which mask was written")
    parser.add_argument("--prior-frames", type=positive_int, default=8,
                        help="frames counted before the prior is applied (default 8)")
    parser.add_argument("--clouds", action="store_true",
                        help="cloud cover inside the sky: table columns cloud_fraction and clear_fraction, cloud maps "
                             "(SAVE_DIR/clouds/<frame>_clouds.png, 255 = cloud), BASE/cloud_fraction on MQTT and the "
                             "dashboard's cloud view (docs/clouds.md)")
    parser.add_argument("--watch", action="store_true", help="SOURCE is a folder: process new frames as they appear; "
                        "a restart resumes from the results table (frames that arrived while it was down are done "
                        "then, none twice)")
    parser.add_argument("--watch-existing", action="store_true",
                        help="--watch: also process the frames already in the folder that have no row in the table")
    parser.add_argument("--recursive", action="store_true",
                        help="--watch: also take frames in sub-folders (one folder per night)")
    parser.add_argument("--gpu-prepost", choices=("auto", "on", "off"), default="auto",
                        help="TensorRT: letterbox and mask assembly on the GPU (auto: when CuPy is installed)")
    parser.add_argument("--max-frames", type=positive_int, help="stop the source after this many frames")
    parser.add_argument("--progress", type=positive_seconds, default=progress_s, metavar="S",
                        help=f"progress line every S seconds (default {progress_s:g})")
    parser.add_argument("--min-free", type=megabytes, default=100.0, metavar="MB",
                        help="low disk: below MB free, stop annotated video/images; below MB/2 stop masks too; the "
                             "table never stops (default 100, 0 = off)")


def model_from_args(args: argparse.Namespace) -> str:
    """--model, a PyTorch checkpoint resolved to its cached ONNX export, or the bundled model."""
    if args.model:
        from skyseg.runtime.checkpoint_export import resolve_model  # a PyTorch best.pt: its cached ONNX export

        return resolve_model(args.model, getattr(args, "save_dir", None))
    from skyseg.runtime.bundled_model import bundled_model_path

    return str(bundled_model_path())


def run_config_from_args(args: argparse.Namespace, **fields: Any) -> RunConfig:
    """The RunConfig of the flags `add_run_args` defined; `fields` sets the rest (save_dir, masks, table, ...)."""
    return RunConfig(
        source=args.source,
        model=model_from_args(args),
        backend=args.backend,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        threads=args.threads,
        outputs=tuple(args.output),
        static_share=args.static_share,
        watch=args.watch,
        watch_existing=args.watch_existing,
        recursive=args.recursive,
        prior=args.prior,
        prior_frames=args.prior_frames,
        max_frames=args.max_frames,
        progress_s=args.progress,
        gpu_prepost=args.gpu_prepost,
        min_free_mb=args.min_free,
        clouds=args.clouds,
        **fields,
    )
