"""`Segmenter`: a frame → its complete `FrameRecord` (display pixels, SegResult with per-stage timings and the
frame's identity), on an open backend. The run loop that feeds it is `skyseg.runtime.pipeline.Pipeline`.

    import skyseg

    with skyseg.open_backend("skyseg-n.onnx") as backend, skyseg.open_source("night/*.fits") as source:
        seg = skyseg.Segmenter(backend, conf=0.25)
        for item in source:  # Frame, or FrameError for an unreadable input
            record = seg.record(item)
            print(record.path, record.result.sky_fraction if record.ok else record.error.message)
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from skyseg.runtime.backends.base import Backend
from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError, FrameRecord
from skyseg.runtime.process.letterbox import letterbox, to_tensor
from skyseg.runtime.process.postprocess import postprocess
from skyseg.runtime.process.preprocess import gray_to_rgb, to_display8
from skyseg.runtime.result import SegResult


log = logging.getLogger(__name__)


class Segmenter:
    """Runs preprocess → backend → postprocess for one frame at a time on an open backend (thread-safe: calls from
    several threads, e.g. a live source and an upload sharing one model, take turns)."""

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
        self._lock = threading.Lock()  # guards the reused input buffer

    def segment(self, pixels: np.ndarray) -> SegResult:
        """Segment one frame (RGB or gray; uint8, uint16 or float). Timings in ms under 'pre', 'infer', 'post'."""
        with self._lock:
            return self._run(pixels)[0]

    def segment_frame(self, frame: Frame) -> SegResult:
        """Segment a source Frame; the result carries the frame's identity (index, source, path, time)."""
        with self._lock:
            res = self._run(frame.pixels)[0]
        return _identify(res, frame)

    def record(self, item: Frame | FrameError) -> FrameRecord:
        """The complete record of one source item: the result with the frame's identity and the frame as displayed
        (8-bit RGB); an unreadable input, or a frame of unusable shape or dtype, becomes an error record."""
        if isinstance(item, FrameError):
            log.warning("frame %d (%s): %s", item.index, item.path or item.source_id, item.message)
            return FrameRecord(error=item)
        try:
            with self._lock:
                res, img8 = self._run(item.pixels)
        except (ValueError, InputError) as err:  # an unusable frame (odd shape/dtype) is a row, not the end
            log.warning("frame %d (%s): %s", item.index, item.path or item.source_id, err)
            return FrameRecord(error=FrameError(item.index, item.source_id, item.path, str(err), item.timestamp))
        rgb8 = gray_to_rgb(img8) if img8.ndim == 2 else img8
        return FrameRecord(frame=item, result=_identify(res, item), rgb8=rgb8)

    def _run(self, pixels: np.ndarray) -> tuple[SegResult, np.ndarray]:
        """The result and the frame as stretched 8-bit (gray stays gray); the caller holds the lock."""
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
        return res, img8


def _identify(res: SegResult, frame: Frame) -> SegResult:
    res.index, res.source_id, res.path, res.timestamp = frame.index, frame.source_id, frame.path, frame.timestamp
    return res
