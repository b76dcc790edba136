"""`skyseg bench` at batch 1: the run loop itself, timed through its hooks.

The frames go through `skyseg.runtime.pipeline.Pipeline` with the segmenter `skyseg run` makes for the backend (on
TensorRT with CuPy, the GPU letterbox and mask assembly), so the numbers are those of the loop `run` executes:
- decode and wait: from the frame feed (a reader thread for a source URI; pre-decoded synthetic frames otherwise);
- preprocess, inference, postprocess: the record's own stage timings, postprocess plus the full-size sky mask;
- write: the mask PNG encoded in memory as the mask sink does before its file write (the disk is left out);
- total: from asking the feed for a frame to the end of the last sink.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from skyseg.bench.report import TOTAL
from skyseg.runtime.errors import SkysegError
from skyseg.runtime.frame import Frame, FrameRecord
from skyseg.runtime.pipeline import Hooks, Pipeline, RunConfig, make_segmenter
from skyseg.runtime.sinks.base import Sink


class _MaskPng(Sink):
    """The mask sink's work without its file: the full-size sky mask, then its PNG in memory (each timed)."""

    def __init__(self) -> None:
        self.last: Tuple[float, float] = (0.0, 0.0)

    def write(self, record: FrameRecord) -> None:
        if record.result is None:
            return
        t0 = time.perf_counter()
        mask = np.where(record.result.sky_mask, np.uint8(255), np.uint8(0))
        t1 = time.perf_counter()
        ok, _ = cv2.imencode(".png", mask)
        if not ok:
            raise SkysegError("encoding the sky mask as PNG failed (cv2.imencode returned False)")
        self.last = ((t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3)

    def close(self) -> None:
        """Nothing was written."""


@dataclass
class LoopTiming:
    """What the timed frames gave: samples per stage, instance counts, the frame size, the frames done and the
    seconds inside our loop (without the interleaved comparison)."""

    samples: Dict[str, List[float]]
    instances: List[int]
    frame_hw: Optional[Tuple[int, int]]
    frames: int
    ours_s: float
    other: Dict[str, List[float]]


class _Probe:
    """The feed as the pipeline's source, and the probe that books each record's stages."""

    def __init__(self, feed: Any, overlapped: bool, masks: _MaskPng) -> None:
        self.feed = feed
        self.overlapped = overlapped
        self.masks = masks
        self.sampling = False
        self.predict_one: Optional[Callable[[np.ndarray], Dict[str, float]]] = None
        self.timing = LoopTiming({}, [], None, 0, 0.0, {})
        self.warm: List[np.ndarray] = []
        self._pending: Tuple[float, Optional[float], float] = (0.0, None, 0.0)
        self._index = 0

    def frames(self, n: int) -> Iterator[Frame]:
        taken = self.feed.take(n)
        while True:
            t0 = time.perf_counter()
            try:
                pixels, decode_ms, wait_ms = next(taken)
            except StopIteration:
                return
            self._pending = (t0, decode_ms, wait_ms)
            self._index += 1
            yield Frame(pixels, self._index - 1, "bench", time.time())

    def __call__(self, record: FrameRecord) -> None:
        t_end = time.perf_counter()
        t0, decode_ms, wait_ms = self._pending
        if record.result is None:
            raise SkysegError(f"the bench frame could not be segmented: {record.error.message if record.error else ''}")
        if not self.sampling:
            self.warm.append(record.frame.pixels if record.frame is not None else None)
            return
        timing, (mask_ms, write_ms) = self.timing, self.masks.last
        stages = record.result.timings
        add = timing.samples.setdefault
        if decode_ms is not None:
            add("decode", []).append(decode_ms)
        if self.overlapped:
            add("wait", []).append(wait_ms)
        add("preprocess", []).append(stages.get("pre", 0.0))
        add("inference", []).append(stages.get("infer", 0.0))
        add("postprocess", []).append(stages.get("post", 0.0) + mask_ms)
        add("write", []).append(write_ms)
        add(TOTAL, []).append((t_end - t0) * 1e3)
        timing.instances.append(len(record.result))
        timing.frame_hw = timing.frame_hw or tuple(record.result.frame_hw)
        timing.frames += 1
        timing.ours_s += t_end - t0
        if self.predict_one is not None and record.frame is not None:  # after our total: not counted in it
            for stage, ms in self.predict_one(record.frame.pixels).items():
                timing.other.setdefault(stage, []).append(ms)


def open_loop(backend: Any, config: Any, feed: Any) -> Tuple[Pipeline, _Probe]:
    """The run loop on `backend` for a BenchConfig, fed by `feed` (not yet run)."""
    run_config = RunConfig(source="bench", model=str(config.model), conf=config.conf, iou=config.iou,
                           max_det=config.max_det, threads=config.threads, headless=True, prior="off", min_free_mb=0)
    masks = _MaskPng()
    probe = _Probe(feed, config.source is not None, masks)
    pipeline = Pipeline(run_config, make_segmenter(backend, run_config), Hooks(sinks=[masks], probe=probe), source=[])
    return pipeline.open(), probe
