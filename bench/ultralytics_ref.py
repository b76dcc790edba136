"""Ultralytics' own predictor timed on the same model, frames and thread count as `skyseg bench`.

The comparison is only honest under the same conditions: same model file, same frames (converted to the BGR
uint8 Ultralytics expects before timing starts), same ONNX Runtime intra-op thread count (Ultralytics creates its
session with ORT's defaults, so we rebuild it with ours after its first call), same process and CPU affinity.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from skyseg.bench.throughput import BenchConfig
from skyseg.bench.report import TOTAL
from skyseg.runtime.errors import MissingDependencyError
from skyseg.runtime.process.preprocess import to_rgb8

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


def match_threads(yolo: Any, model: str, threads: int | None) -> str:
    """Give Ultralytics' inference the same thread count as ours; returns a note saying what was done."""
    if not threads:
        return "both with their default thread counts"
    if Path(model).suffix == ".pt":
        import torch

        torch.set_num_threads(int(threads))
        return f"torch threads {threads}"
    backend = getattr(getattr(getattr(yolo, "predictor", None), "model", None), "backend", None)
    if getattr(backend, "ov_compiled_model", None) is not None:  # its OpenVINO export: recompiled, its hints kept
        import openvino as ov

        xml = next(Path(model).glob("*.xml")) if Path(model).is_dir() else Path(model)
        backend.ov_compiled_model = ov.Core().compile_model(
            str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": int(threads)})
        return f"Ultralytics' OpenVINO model recompiled with {threads} inference threads (its own precision hint)"
    session = getattr(backend, "session", None)
    if session is None:
        return "Ultralytics' ONNX session not found; it ran with ORT's default threads"
    from skyseg.runtime.backends.ort import ort_session

    backend.session = ort_session(model, int(threads))
    return f"Ultralytics' ORT session rebuilt with intra-op threads {threads}"


def measure_ultralytics(
    config: BenchConfig, input_hw: tuple[int, int], warm_frames: list[np.ndarray]
) -> tuple[Callable[[np.ndarray], dict[str, float]], str]:
    """Load and warm up `YOLO(model).predict`; return a per-frame timer (its own pre/infer/post split plus the whole
    call, in ms) that the bench interleaves with ours, so load changes on a shared machine hit both alike."""
    yolo = _load(config.model)
    kwargs = dict(imgsz=list(input_hw), conf=config.conf, iou=config.iou, max_det=config.max_det, device="cpu",
                  verbose=False, save=False)

    def bgr(frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(to_rgb8(frame), cv2.COLOR_RGB2BGR)  # its input convention

    yolo.predict(bgr(warm_frames[0]), **kwargs)  # builds the predictor (and its session)
    note = match_threads(yolo, config.model, config.threads)
    for i in range(max(config.warmup, 1)):
        yolo.predict(bgr(warm_frames[i % len(warm_frames)]), **kwargs)
    log.info("Ultralytics predict: %s", note)

    def predict_one(frame: np.ndarray) -> dict[str, float]:
        image = bgr(frame)  # conversion is outside the timed call
        t0 = time.perf_counter()
        result = yolo.predict(image, **kwargs)[0]
        total = (time.perf_counter() - t0) * 1e3
        times = {stage: float(result.speed.get(stage, float("nan"))) for stage in ("preprocess", "inference",
                                                                                   "postprocess")}
        times[TOTAL] = total
        return times

    return predict_one, f"({note}; interleaved frame by frame with skyseg; its masks stay at input resolution, " \
                        "retina_masks=False)"


def sky_mask_predictor(model: str, imgsz: int | list[int], threads: int | None, conf: float = 0.25,
                       iou: float = 0.7) -> Callable[[np.ndarray], np.ndarray]:
    """`YOLO(model).predict` on one BGR frame → its full-size sky mask (retina_masks=True: instance masks at the
    frame's size, like skyseg's, then their union), at our thread count. `model`: a .pt, an ONNX or an OpenVINO
    export folder; a .pt letterboxes to the frame's aspect on its own (`imgsz` as one number)."""
    yolo = _load(model)
    kwargs = dict(imgsz=imgsz, conf=conf, iou=iou, device="cpu", verbose=False, save=False, retina_masks=True)

    def predict(bgr: np.ndarray) -> np.ndarray:
        result = yolo.predict(bgr, **kwargs)[0]
        if result.masks is None:
            return np.zeros(bgr.shape[:2], bool)
        return result.masks.data.any(0).cpu().numpy()

    warm = np.full((720, 1280, 3), 30, np.uint8)
    predict(warm)  # builds the predictor and its session
    log.info("Ultralytics %s: %s", Path(model).name, match_threads(yolo, model, threads))
    predict(warm)
    return predict
