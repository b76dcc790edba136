"""Ultralytics' own predictor timed on the same model, frames and thread count as `skyseg bench`.

The comparison is only honest under the same conditions: same model file, same frames (converted to the BGR
uint8 Ultralytics expects before timing starts), same ONNX Runtime intra-op thread count (Ultralytics creates its
session with ORT's defaults, so we rebuild it with ours after its first call), same process and CPU affinity.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from skyseg.runtime.bench import BenchConfig
from skyseg.runtime.bench_report import TOTAL
from skyseg.runtime.errors import MissingDependencyError
from skyseg.runtime.preprocess import to_rgb8

log = logging.getLogger(__name__)


def _load(model: str) -> Any:
    try:
        import skyseg.models  # noqa: F401 - offline Ultralytics before its import
        from ultralytics import YOLO
    except ImportError as err:
        raise MissingDependencyError(
            f"--compare-ultralytics needs Ultralytics and PyTorch ({err}); install skyseg's train extra: "
            "pip install 'skyseg[train]'."
        ) from err
    if Path(model).suffix == ".pt":
        from skyseg.models import load_model

        return load_model(model)
    return YOLO(model, task="segment")


def _match_threads(yolo: Any, model: str, threads: int | None) -> str:
    """Give Ultralytics' inference the same thread count as ours; returns a note saying what was done."""
    if not threads:
        return "both with their default thread counts"
    if Path(model).suffix == ".pt":
        import torch

        torch.set_num_threads(int(threads))
        return f"torch threads {threads}"
    backend = getattr(getattr(getattr(yolo, "predictor", None), "model", None), "backend", None)
    session = getattr(backend, "session", None)
    if session is None:
        return "Ultralytics' ONNX session not found; it ran with ORT's default threads"
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    backend.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    return f"Ultralytics' ORT session rebuilt with intra-op threads {threads}"


def measure_ultralytics(
    config: BenchConfig, frames_rgb: list[np.ndarray], input_hw: tuple[int, int], count: int
) -> tuple[dict[str, list[float]], str]:
    """Time `YOLO(model).predict` per frame: Ultralytics' own pre/infer/post split plus the whole call."""
    yolo = _load(config.model)
    frames = [cv2.cvtColor(to_rgb8(f), cv2.COLOR_RGB2BGR) for f in frames_rgb]  # its input convention
    kwargs = dict(imgsz=list(input_hw), conf=config.conf, iou=config.iou, max_det=config.max_det, device="cpu",
                  verbose=False, save=False)
    yolo.predict(frames[0], **kwargs)  # builds the predictor (and its session)
    note = _match_threads(yolo, config.model, config.threads)
    for i in range(config.warmup):
        yolo.predict(frames[i % len(frames)], **kwargs)
    samples: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": [], TOTAL: []}
    for i in range(count):
        t0 = time.perf_counter()
        result = yolo.predict(frames[i % len(frames)], **kwargs)[0]
        samples[TOTAL].append((time.perf_counter() - t0) * 1e3)
        for stage in ("preprocess", "inference", "postprocess"):
            samples[stage].append(float(result.speed.get(stage, float("nan"))))
    log.info("Ultralytics predict: %s", note)
    return samples, f"({note}; its masks stay at input resolution, retina_masks=False)"
