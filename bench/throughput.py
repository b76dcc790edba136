"""`skyseg bench`: honest per-stage latency of the runtime pipeline on one model.

At batch 1 on the runtime's backends the frames go through the run loop itself (`runtime.pipeline.Pipeline` with the
segmenter `skyseg run` makes, GPU pre/post included; bench/loop_timing.py): decode (source), preprocess, inference,
postprocess (sky mask included) as the segmenter records them, and write (the full-frame mask PNG encoded in memory,
as the mask sink does before its file write — the disk itself is left out so the number is about us). Batches, which
the run loop never makes, and the train side's PyTorch backend are timed stage by stage around the same calls.

Two source modes:
- default: synthetic 1280×720 night frames from `skyseg.synth.render_scene`, decoded before timing starts;
- `source=URI` (a folder of all-sky frames, a video, ...): a reader thread decodes into a bounded queue while
  the main thread infers, so images/s is what a night folder really achieves; "wait" is the time the main
  thread starved.

PyTorch paths (`--backend torch`, `--compare-ultralytics`) are train-side: the CLI passes them in as factories,
so this module never imports torch.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Protocol, Tuple

import cv2
import numpy as np

from skyseg.bench.frame_feed import FrameFeed as _FrameFeed
from skyseg.bench.report import TOTAL, BenchReport, Comparison, StageStats, end_to_end_samples, summarise
from skyseg.runtime.errors import InputError, ModelContractError, SkysegError
from skyseg.runtime.process.preprocess import preprocess
from skyseg.bench.sysinfo import CpuLoadMeter, machine_summary, peak_rss_mib

log = logging.getLogger(__name__)

DEFAULT_FRAME_WH = (1280, 720)


class InferenceBackend(Protocol):
    """What the bench needs from a backend (runtime ORT/TRT, or the train-side PyTorch one)."""

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class BenchConfig:
    """One `skyseg bench` run."""

    model: str
    backend: str = "ort"  # ort | trt | torch
    imgsz: tuple[int, int] | None = None  # (h, w); only for dynamic-shape models and the torch backend
    batch: int = 1
    frames: int = 50
    warmup: int = 5
    source: str | None = None  # None: synthetic pre-decoded frames
    threads: int | None = None
    compare_ultralytics: bool = False
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    label: str = ""
    frame_wh: tuple[int, int] = DEFAULT_FRAME_WH
    pin: bool = False  # pin the process to the first `threads` CPUs

    def __post_init__(self) -> None:
        if self.batch < 1 or self.frames < 1 or self.warmup < 0:
            raise InputError(f"bench needs batch ≥ 1, frames ≥ 1, warmup ≥ 0; got batch={self.batch}, "
                             f"frames={self.frames}, warmup={self.warmup}")
        if self.backend not in ("ort", "trt", "openvino", "torch"):
            raise InputError(f"unknown backend '{self.backend}'; choose ort, trt, openvino or torch")


BackendFactory = Callable[[BenchConfig], AbstractContextManager]
# One frame (RGB) through the other implementation -> {stage: ms} incl. "total".
PredictOne = Callable[[np.ndarray], Dict[str, float]]
# (config, input (h, w), warm-up frames) -> (predict_one, note); loading and warm-up happen here, untimed.
CompareRunner = Callable[[BenchConfig, Tuple[int, int], List[np.ndarray]], Tuple[PredictOne, str]]


@dataclass
class _Sampled:
    samples: dict[str, list[float]] = field(default_factory=dict)
    instances: list[int] = field(default_factory=list)
    frame_hw: tuple[int, int] | None = None

    def add(self, stage: str, ms: float) -> None:
        self.samples.setdefault(stage, []).append(ms)


def default_backend_factory(config: BenchConfig) -> AbstractContextManager:
    """The runtime's own backends (ONNX Runtime / TensorRT) — no silent fallback between them."""
    from skyseg.runtime.backends.base import open_backend

    return open_backend(config.model, backend=config.backend, threads=config.threads)


def input_shape(backend: Any) -> tuple[Any, ...]:
    """The declared input shape [B, 3, H, W] (dims may be None/str when dynamic)."""
    spec = backend.inputs[0]
    return tuple(spec.shape)


def resolve_input(shape: tuple[Any, ...], config: BenchConfig) -> tuple[int, tuple[int, int]]:
    """(batch, (h, w)) to feed: the model's static dims, the requested ones for dynamic dims, or an InputError."""
    def static(d: Any) -> bool:
        return isinstance(d, (int, np.integer)) and d > 0

    b, _, h, w = shape
    if static(h) and static(w):
        if config.imgsz is not None and tuple(config.imgsz) != (int(h), int(w)):
            raise InputError(f"--imgsz {config.imgsz[0]} {config.imgsz[1]} does not match the model's static input "
                             f"{h}×{w}; leave out --imgsz or export the model at that size")
        hw = (int(h), int(w))
    else:
        hw = tuple(config.imgsz) if config.imgsz is not None else (640, 640)
    if static(b) and int(b) != config.batch:
        raise InputError(f"--batch {config.batch} does not match the model's static batch {b}; export with "
                         f"--batch {config.batch} or --dynamic")
    return config.batch, (int(hw[0]), int(hw[1]))


def _split_outputs(outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    try:
        return outputs["output0"], outputs["output1"]
    except KeyError as err:
        raise ModelContractError(f"backend returned outputs {sorted(outputs)}, expected output0 and output1") from err


def _iteration(backend: Any, feed: _FrameFeed, batch: int, hw: tuple[int, int], config: BenchConfig,
               sink: _Sampled | None) -> list[np.ndarray]:
    """One timed batch through every stage; returns its frames (empty when the source ran dry)."""
    t_start = time.perf_counter()
    got = list(feed.take(batch))
    if len(got) < batch:
        return []
    t0 = time.perf_counter()
    tensors, infos = [], []
    for pixels, _, _ in got:
        tensor, info = preprocess(pixels, hw)
        tensors.append(tensor)
        infos.append(info)
    images = tensors[0] if batch == 1 else np.concatenate(tensors, axis=0)
    t1 = time.perf_counter()
    output0, output1 = _split_outputs(backend.infer(images))
    t2 = time.perf_counter()
    from skyseg.runtime.process.postprocess import postprocess

    results = [postprocess(output0[i : i + 1], output1[i : i + 1], infos[i], conf=config.conf, iou=config.iou,
                           max_det=config.max_det) for i in range(batch)]
    masks = [res.sky_mask for res in results]
    t3 = time.perf_counter()
    for mask in masks:
        ok, _ = cv2.imencode(".png", mask.astype(np.uint8) * 255)
        if not ok:
            raise SkysegError("encoding the sky mask as PNG failed (cv2.imencode returned False)")
    t4 = time.perf_counter()
    if sink is not None:
        decode = [d for _, d, _ in got if d is not None]
        if decode:
            sink.add("decode", sum(decode))
        if feed.overlapped:
            sink.add("wait", sum(w for _, _, w in got))
        sink.add("preprocess", (t1 - t0) * 1e3)
        sink.add("inference", (t2 - t1) * 1e3)
        sink.add("postprocess", (t3 - t2) * 1e3)
        sink.add("write", (t4 - t3) * 1e3)
        sink.add(TOTAL, (t4 - t_start) * 1e3)
        sink.instances.extend(len(res) for res in results)
        sink.frame_hw = sink.frame_hw or tuple(got[0][0].shape[:2])
    return [px for px, _, _ in got]


@contextmanager
def _pinned(config: BenchConfig) -> Iterator[None]:
    """Pin the process to the first `threads` CPUs for the run (when asked), then restore its affinity."""
    if not config.pin or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    cpus = sorted(before)[: max(1, config.threads or 1)]
    os.sched_setaffinity(0, cpus)
    log.info("pinned to CPU(s) %s", cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run_bench(
    config: BenchConfig,
    backend_factory: BackendFactory | None = None,
    compare_runner: CompareRunner | None = None,
) -> BenchReport:
    """Warm up, time `config.frames` frames stage by stage, and return the report (optionally vs Ultralytics)."""
    if config.compare_ultralytics and compare_runner is None:
        raise InputError("compare_ultralytics needs a compare_runner (the CLI passes Ultralytics' predictor)")
    factory = backend_factory or default_backend_factory
    iterations = math.ceil(config.frames / config.batch)
    sampled = _Sampled()
    other = _Sampled()
    note = ""
    with _pinned(config), factory(config) as backend:
        batch, hw = resolve_input(input_shape(backend), config)
        precision = _precision_hint(config.model, getattr(backend, "metadata", {}) or {})
        log.info("bench %s: backend %s, input %d×3×%d×%d, %d warm-up + %d timed iteration(s)", config.model,
                 config.backend, batch, *hw, config.warmup, iterations)
        with _FrameFeed(config, batch) as feed:
            if batch == 1 and config.backend != "torch" and tuple(getattr(backend, "input_hw", ())) == hw:
                # one frame at a time is what `skyseg run` does: time its own loop (bench/loop_timing.py)
                done, ours_s, wall, meter, note, predict_one = _run_loop(backend, config, feed, hw, compare_runner,
                                                                         sampled, other)
            else:  # batches, or the train side's PyTorch backend: the stages by hand, as the loop runs them
                warm: list[np.ndarray] = []
                for _ in range(max(config.warmup, 1 if compare_runner else 0)):
                    frames = _iteration(backend, feed, batch, hw, config, None)
                    if not frames:
                        raise InputError(f"source {config.source} ended during warm-up ({config.warmup} iterations)")
                    warm.extend(frames)
                predict_one = None
                if config.compare_ultralytics and compare_runner is not None:
                    log.info("preparing Ultralytics' predictor; it runs interleaved with ours, frame by frame")
                    predict_one, note = compare_runner(config, hw, warm)
                with CpuLoadMeter() as meter:
                    t0 = time.perf_counter()
                    done, ours_s = 0, 0.0
                    for _ in range(iterations):
                        t_it = time.perf_counter()
                        frames = _iteration(backend, feed, batch, hw, config, sampled)
                        ours_s += time.perf_counter() - t_it
                        if not frames:
                            break
                        done += 1
                        for frame in frames if predict_one is not None else ():
                            for stage, ms in predict_one(frame).items():
                                other.add(stage, ms)
                    wall = time.perf_counter() - t0
            if done == 0:
                raise InputError(f"source {config.source} yielded no frames after warm-up")
            if done < iterations:
                log.warning("source ended after %d of %d timed iterations", done, iterations)
        machine = machine_summary()  # inside the pinned block: records the affinity we ran with
    rss = peak_rss_mib()
    frames_done = done * batch
    load = meter.result
    report = BenchReport(
        label=config.label or config.backend,
        model={"path": str(config.model), "backend": config.backend, "input_shape": [batch, 3, *hw],
               "precision": precision},
        source={"kind": "uri" if config.source else "synthetic",
                "description": config.source or f"synthetic {config.frame_wh[0]}×{config.frame_wh[1]} night frames, "
                                                 f"pre-decoded",
                "frame_hw": list(sampled.frame_hw or ()), "frames": frames_done, "warmup": config.warmup,
                "overlapped_decode": config.source is not None},
        stages=summarise(sampled.samples),
        batch=batch,
        fps=round(frames_done / (ours_s if predict_one is not None else wall), 3),
        wall_s=round(wall, 3),
        instances_mean=round(float(np.mean(sampled.instances)), 3),
        peak_rss_mib=round(rss, 1),
        conditions={"threads": {"backend": config.threads if config.threads else "default"},
                    "cpu_load": vars(load) if load else None, "machine": machine},
        end_to_end=StageStats.from_samples(end_to_end_samples(sampled.samples)),
    )
    if predict_one is not None:
        stages = summarise(other.samples)
        e2e = report.end_to_end.p50_ms if report.end_to_end else float("nan")
        fps = len(other.samples[TOTAL]) / max(sum(other.samples[TOTAL]) / 1e3, 1e-9)
        report.compare = Comparison(label="ultralytics", stages=stages, fps=round(fps, 3),
                                    ratio_p50=round(stages[TOTAL].p50_ms / e2e, 3), notes=note,
                                    cpu_load=report.conditions["cpu_load"])
    return report


def _run_loop(backend: Any, config: BenchConfig, feed: _FrameFeed, hw: tuple[int, int],
              compare_runner: CompareRunner | None, sampled: _Sampled, other: _Sampled) -> tuple[Any, ...]:
    """Warm up and time `config.frames` frames through the run loop; (done, ours_s, wall, meter, note, predict_one)."""
    from skyseg.bench.loop_timing import open_loop

    pipeline, probe = open_loop(backend, config, feed)
    note, predict_one = "", None
    with pipeline:
        warmup = max(config.warmup, 1 if compare_runner else 0)
        pipeline.run(probe.frames(warmup))
        if len(probe.warm) < warmup:
            raise InputError(f"source {config.source} ended during warm-up ({config.warmup} iterations)")
        if config.compare_ultralytics and compare_runner is not None:
            log.info("preparing Ultralytics' predictor; it runs interleaved with ours, frame by frame")
            predict_one, note = compare_runner(config, hw, [w for w in probe.warm if w is not None])
        probe.predict_one, probe.sampling = predict_one, True
        with CpuLoadMeter() as meter:
            t0 = time.perf_counter()
            pipeline.run(probe.frames(config.frames))
            wall = time.perf_counter() - t0
    timing = probe.timing
    sampled.samples, sampled.instances, sampled.frame_hw = timing.samples, timing.instances, timing.frame_hw
    other.samples = timing.other
    return timing.frames, timing.ours_s, wall, meter, note, predict_one


def _precision_hint(model: str, metadata: dict[str, Any]) -> str | None:
    """Precision from the backend's metadata (skyseg_precision) or an engine's sidecar JSON, when recorded."""
    from pathlib import Path

    if metadata.get("skyseg_precision"):
        return str(metadata["skyseg_precision"])
    path = Path(model)
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        import json

        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return None
        value = meta.get("precision") or meta.get("skyseg_precision")
        return str(value) if value else None
    return None
