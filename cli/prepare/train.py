"""`skyseg train`: train the improved YOLO11-seg with Ultralytics (offline, CPU or CUDA)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="YOLO-seg dataset YAML")
    parser.add_argument("--model", default="yolo11n-sky-seg.yaml",
                        help="packaged config name (yolo11n-sky-seg.yaml, yolo11s-sky-seg.yaml), a YAML path or a .pt")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--device", default="cpu", help="'cpu' or a CUDA index such as 0")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="data-loader worker processes (also on CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU training: torch threads (default: all cores)")
    parser.add_argument("--project", type=Path, default=None, help="output folder (Ultralytics' runs/segment)")
    parser.add_argument("--name", default=None, help="run name inside --project (reused if it exists)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=100, help="epochs without improvement before stopping")
    parser.add_argument("--fraction", type=float, default=1.0, help="fraction of the training set to use")
    parser.add_argument("--time", type=float, default=None,
                        help="training budget in hours; overrides --epochs (Ultralytics fits the schedule to it)")
    parser.add_argument("--cache", action="store_true", help="cache decoded, resized images in RAM")
    parser.add_argument("--optimizer", default=None, help="Ultralytics optimizer (AdamW, SGD, …; default auto)")
    parser.add_argument("--lr0", type=float, default=None, help="initial learning rate (fine-tuning: e.g. 0.0005)")
    parser.add_argument("--warmup-epochs", type=float, default=None, help="warm-up epochs (default 3; 0 to fine-tune)")
    parser.add_argument("--close-mosaic", type=int, default=None,
                        help="turn mosaic augmentation off for the last N epochs (default 10)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip training plots")


def run(args: argparse.Namespace) -> int:
    if logging.getLogger().getEffectiveLevel() <= logging.INFO and "ultralytics" not in sys.modules:
        os.environ.setdefault("YOLO_VERBOSE", "True")  # show Ultralytics' epoch progress (skyseg -q hides it)
    from skyseg.models.training.train import TrainConfig, train

    config = TrainConfig(data=args.data, model=args.model, epochs=args.epochs, imgsz=args.imgsz, device=args.device,
                         batch=args.batch, workers=args.workers, project=args.project, name=args.name,
                         seed=args.seed, patience=args.patience, fraction=args.fraction, plots=args.plots,
                         time=args.time, cache=args.cache, threads=args.threads, optimizer=args.optimizer,
                         lr0=args.lr0, warmup_epochs=args.warmup_epochs, close_mosaic=args.close_mosaic)
    best = train(config)
    log.info("done: %s", best)
    return 0
