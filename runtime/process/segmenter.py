"""`Segmenter`: frame pixels → SegResult with per-stage timings. The ten-line embedding API:

    from skyseg.runtime.backends.base import open_backend
    from skyseg.runtime.frame import Frame
    from skyseg.runtime.process.segmenter import Segmenter
    from skyseg.runtime.sources.uri import open_source

    with open_backend("skyseg-n.onnx") as backend, open_source("night/*.fits") as source:
        seg = Segmenter(backend, conf=0.25)
        for item in source:  # Frame, or FrameError for an unreadable input
            if isinstance(item, Frame):
                print(item.path, seg.segment_frame(item).sky_fraction)
"""
from __future__ import annotations

import time

import numpy as np

from skyseg.runtime.backends.base import Backend
from skyseg.runtime.frame import Frame
from skyseg.runtime.process.letterbox import letterbox, to_tensor
from skyseg.runtime.process.postprocess import postprocess
from skyseg.runtime.process.preprocess import gray_to_rgb, to_display8
from skyseg.runtime.result import SegResult


class Segmenter:
    """Runs preprocess → backend → postprocess for one frame at a time on an open backend."""

    def __init__(self, backend: Backend, conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> None:
        if not (0.0 <= conf <= 1.0 and 0.0 <= iou <= 1.0) or max_det < 1:
            raise ValueError(f"need 0 ≤ conf, iou ≤ 1 and max_det ≥ 1, got conf={conf} iou={iou} max_det={max_det}")
        self.backend = backend
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.input_hw = backend.input_hw
        self.names = backend.info.names
        self._input = np.empty((1, 3, *self.input_hw), dtype=np.float32)  # reused: one allocation per run
        self._last8: np.ndarray | None = None  # the last frame as stretched 8-bit (gray stays gray)

    def segment(self, pixels: np.ndarray) -> SegResult:
        """Segment one frame (RGB or gray; uint8, uint16 or float). Timings in ms under 'pre', 'infer', 'post'."""
        t0 = time.perf_counter()
        img8 = to_display8(pixels)  # = skyseg.runtime.process.preprocess.preprocess, keeping the 8-bit frame for sinks
        padded, info = letterbox(img8, self.input_hw)
        images = to_tensor(padded, out=self._input)
        t1 = time.perf_counter()
        out = self.backend.infer(images)
        t2 = time.perf_counter()
        res = postprocess(out["output0"], out["output1"], info, self.conf, self.iou, self.max_det, self.names)
        t3 = time.perf_counter()
        res.timings.update(pre=(t1 - t0) * 1e3, infer=(t2 - t1) * 1e3, post=(t3 - t2) * 1e3)
        self._last8 = img8
        return res

    @property
    def last_rgb8(self) -> np.ndarray | None:
        """The last frame as H×W×3 8-bit RGB (what annotators draw on), expanded from gray on first use."""
        if self._last8 is not None and self._last8.ndim == 2:
            self._last8 = gray_to_rgb(self._last8)
        return self._last8

    def segment_frame(self, frame: Frame) -> SegResult:
        """Segment a source Frame; the result carries the frame's identity (index, source, path, time)."""
        res = self.segment(frame.pixels)
        res.index, res.source_id, res.path, res.timestamp = frame.index, frame.source_id, frame.path, frame.timestamp
        return res
