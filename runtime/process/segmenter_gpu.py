"""`GpuSegmenter`: the TensorRT path where a frame crosses to the GPU once, as uint8.

The frame is stretched on the host only when deeper than 8 bits (the one shared stretch), uploaded, letterboxed
by the GPU letterbox kernel (gpu_preprocess) straight into the engine's input buffer, run, and the sky mask is assembled from the protos
where they are (GpuMaskAssembler). Only output0 (boxes/scores/coefficients, for NMS on the CPU) and the final
masks come back. Timings synchronise the stream at stage boundaries so that pre/infer/post are honest.

Needs TensorRT, the CUDA Python bindings and CuPy; with results equal to `Segmenter` within the kernels'
documented tolerances (letterbox within 1/255, sky-mask IoU ≥ 0.999 against the NumPy decoder).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from skyseg.runtime.process.mask_decode import MaskDecoder
from skyseg.runtime.process.postprocess import boxes_to_frame, select_detections
from skyseg.runtime.process.preprocess import to_rgb8
from skyseg.runtime.result import SegResult
from skyseg.runtime.process.segmenter import Segmenter


class GpuSegmenter(Segmenter):
    """Segmenter for a TrtBackend with GPU letterbox and GPU mask assembly (same API as Segmenter)."""

    def __init__(self, backend: Any, conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> None:
        super().__init__(backend, conf, iou, max_det)
        from skyseg.runtime.process.gpu_masks import GpuMaskAssembler
        from skyseg.runtime.process.gpu_preprocess import GpuPreprocessor

        self.stream = backend.cupy_stream()
        self.views = backend.device_arrays(1)
        self.pre = GpuPreprocessor(self.input_hw, stream=self.stream)
        self.masks = GpuMaskAssembler(stream=self.stream)
        self.nc = len(self.names)

    def _run(self, pixels: np.ndarray) -> tuple[SegResult, np.ndarray]:
        t0 = time.perf_counter()
        rgb8 = to_rgb8(pixels)
        _, info = self.pre(rgb8, out=self.views[self.backend.inputs[0].name])
        self.stream.synchronize()
        t1 = time.perf_counter()
        self.backend.run_device()
        out0 = self.views["output0"].get(stream=self.stream)  # [1, 4+nc+32, A]: small, NMS runs on the CPU
        t2 = time.perf_counter()
        boxes_in, scores, class_ids, coeffs = select_detections(out0, self.nc, self.conf, self.iou, self.max_det)
        protos = self.views["output1"][0]
        union, nonempty = self.masks.union_logits(protos, coeffs, boxes_in, info)
        sky = self.masks.to_frame(union, info, tuple(protos.shape)).view(bool).get(stream=self.stream)
        keep = nonempty.get(stream=self.stream)
        protos_host = protos.get(stream=self.stream)  # for lazy instance masks / polygons on the host
        self.stream.synchronize()
        if not keep.all():
            boxes_in, scores, class_ids, coeffs = boxes_in[keep], scores[keep], class_ids[keep], coeffs[keep]
        res = SegResult(
            boxes=boxes_to_frame(boxes_in, info), scores=scores, class_ids=class_ids, frame_hw=info.src_hw,
            names=dict(self.names), coeffs=coeffs, boxes_input=boxes_in, decoder=MaskDecoder(protos_host, info),
            _sky=sky,
        )
        t3 = time.perf_counter()
        res.timings.update(pre=(t1 - t0) * 1e3, infer=(t2 - t1) * 1e3, post=(t3 - t2) * 1e3)
        return res, rgb8
