"""Training entry: Ultralytics' trainer on a skyseg model, offline, with skyseg's modules registered."""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from skyseg.runtime.errors import InputError, SkysegError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """What `skyseg train` passes to Ultralytics (its argument names, so they can be looked up in its docs)."""

    data: Path
    model: str = "yolo11n-sky-seg.yaml"
    epochs: int = 100
    imgsz: int = 640
    device: str = "cpu"
    batch: int = 16
    workers: int = 2
    project: Path | None = None
    name: str | None = None
    seed: int = 0
    patience: int = 100
    fraction: float = 1.0
    plots: bool = True
    time: float | None = None  # hours; Ultralytics then fits the epochs and LR schedule to this budget
    cache: bool = False  # keep decoded, resized images in RAM
    threads: int | None = None  # CPU training: torch threads (default: every core)
    # fine-tuning knobs (None: Ultralytics' defaults — optimizer 'auto', 3 warm-up epochs, mosaic off for the last 10)
    optimizer: str | None = None
    lr0: float | None = None
    warmup_epochs: float | None = None
    close_mosaic: int | None = None


@contextlib.contextmanager
def _amp_check_without_download() -> Iterator[None]:
    """Ultralytics' AMP check downloads yolo26n.pt on CUDA; for this call its trainer gets a check that only
    logs and keeps AMP on (skyseg never downloads). The original is restored afterwards."""
    from ultralytics.engine import trainer as trainer_module

    original = trainer_module.check_amp

    def check_amp_offline(model: object) -> bool:
        log.info("AMP check skipped (it would download a reference model); AMP stays on for CUDA training")
        return True

    trainer_module.check_amp = check_amp_offline
    try:
        yield
    finally:
        trainer_module.check_amp = original


def _cpu_resources(config: TrainConfig) -> Callable[[Any], None]:
    """A trainer callback undoing two Ultralytics CPU defaults that halve a small machine: torch threads set to
    cpu_count − 1 (one thread on 2 cores) and data-loader workers forced to 0 (augmentation then runs in the
    training thread). It runs after both, in the trainer's constructor."""

    def restore(trainer: Any) -> None:
        if trainer.device.type != "cpu":
            return
        import torch

        threads = config.threads or os.cpu_count() or 1
        torch.set_num_threads(threads)
        trainer.args.workers = config.workers
        log.info("CPU training with %d torch thread(s) and %d data-loader worker(s)", threads, config.workers)

    return restore


def train(config: TrainConfig) -> Path:
    """Train and return the path of the best checkpoint (`.../weights/best.pt`)."""
    if not Path(config.data).is_file():
        raise InputError(f"dataset YAML {str(config.data)!r} does not exist; give a YOLO-seg data.yaml "
                         f"(e.g. one written by `skyseg synth`)")
    if not 0.0 < config.fraction <= 1.0:
        raise InputError(f"--fraction must be in (0, 1], got {config.fraction}")
    from skyseg.models.training.loading import load_model

    model = load_model(config.model)  # registers skyseg modules: the trainer re-parses the YAML in this process
    overrides = dict(
        data=str(Path(config.data).resolve()), epochs=config.epochs, imgsz=config.imgsz, device=config.device,
        batch=config.batch, workers=config.workers, seed=config.seed, patience=config.patience,
        fraction=config.fraction, plots=config.plots,
        amp=config.device != "cpu",  # AMP only matters on CUDA; its download-based check is replaced below
        exist_ok=config.name is not None, cache="ram" if config.cache else False,
    )
    for key in ("time", "optimizer", "lr0", "warmup_epochs", "close_mosaic"):
        if getattr(config, key) is not None:
            overrides[key] = getattr(config, key)
    if config.project is not None:
        overrides["project"] = str(Path(config.project).resolve())
    if config.name is not None:
        overrides["name"] = config.name
    log.info("training %s on %s for %d epoch(s) at %d px on %s", config.model, config.data, config.epochs,
             config.imgsz, config.device)
    model.add_callback("on_pretrain_routine_start", _cpu_resources(config))
    with _amp_check_without_download():
        model.train(**overrides)
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    if not best.is_file():
        raise SkysegError(f"training finished without a checkpoint in {trainer.wdir}; check the log above")
    log.info("best checkpoint: %s", best)
    return best
