"""FP32 vs INT8 on the same frames, through the runtime's post-processing: sky-mask IoU, scores, boxes, counts.

Both models see tensors from the runtime's `preprocess` and both outputs are decoded by the runtime's
`postprocess`, so a difference here is a difference the runtime would show.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.process.letterbox import LetterboxInfo
from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.runtime.process.postprocess import postprocess

CONF = 0.25
IOU = 0.7


class OrtModel:
    """A CPU ONNX Runtime session with fixed thread counts; `model(tensor) -> (output0, output1)`."""

    def __init__(self, model: Path | str | bytes, threads: int = 1) -> None:
        from skyseg.runtime.backends.ort import ort_session

        self.session = ort_session(model, threads, quiet=True)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise ValueError(f"expected a static [B, 3, H, W] input, found {shape}")
        self.input_hw = (int(shape[2]), int(shape[3]))
        names = [o.name for o in self.session.get_outputs()]
        self.output_names = ["output0", "output1"] if {"output0", "output1"} <= set(names) else names[:2]

    def __call__(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out0, out1 = self.session.run(self.output_names, {self.input_name: tensor})
        return out0, out1


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU [len(a), len(b)] of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class FrameDiff:
    """How one frame's INT8 result differs from FP32 (and from ground truth when known)."""

    sky_iou: float
    instances_fp32: int
    instances_int8: int
    matched: int
    score_abs_diff: float | None  # mean |Δscore| over matched instances
    box_iou: float | None  # mean IoU of matched boxes
    max_score_fp32: float  # highest class score anywhere in output0 (before the confidence filter)
    max_score_int8: float
    gt_iou_fp32: float | None = None
    gt_iou_int8: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_frame(
    ref: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    info: LetterboxInfo,
    gt_mask: np.ndarray | None = None,
    conf: float = CONF,
    iou: float = IOU,
) -> FrameDiff:
    """Decode both outputs with the runtime's postprocess and compare them."""
    nm = ref[1].shape[1]
    nc = ref[0].shape[1] - 4 - nm
    r = postprocess(ref[0], ref[1], info, conf=conf, iou=iou)
    t = postprocess(test[0], test[1], info, conf=conf, iou=iou)
    sky_r, sky_t = r.sky_mask, t.sky_mask
    matched, sdiff, biou = 0, None, None
    if len(r) and len(t):
        ious = _box_iou(r.boxes, t.boxes)
        pairs = []
        while True:
            i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
            if ious[i, j] < 0.5:
                break
            pairs.append((i, j, float(ious[i, j])))
            ious[i, :], ious[:, j] = -1, -1
        if pairs:
            matched = len(pairs)
            sdiff = float(np.mean([abs(r.scores[i] - t.scores[j]) for i, j, _ in pairs]))
            biou = float(np.mean([v for _, _, v in pairs]))
    gt = None if gt_mask is None else gt_mask.astype(bool)
    return FrameDiff(
        sky_iou=mask_iou(sky_r, sky_t),
        instances_fp32=len(r),
        instances_int8=len(t),
        matched=matched,
        score_abs_diff=sdiff,
        box_iou=biou,
        max_score_fp32=float(ref[0][0, 4 : 4 + nc].max()),
        max_score_int8=float(test[0][0, 4 : 4 + nc].max()),
        gt_iou_fp32=None if gt is None else mask_iou(sky_r, gt),
        gt_iou_int8=None if gt is None else mask_iou(sky_t, gt),
    )


def output_error(ref: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> float:
    """A continuous distance between raw outputs (mean |Δ| of class scores + relative RMS of protos).

    Breaks ties in sensitivity ranking when sky masks agree exactly.
    """
    nm = ref[1].shape[1]
    nc = ref[0].shape[1] - 4 - nm
    score = float(np.abs(ref[0][0, 4 : 4 + nc] - test[0][0, 4 : 4 + nc]).mean())
    proto = float(np.sqrt(np.mean((ref[1] - test[1]) ** 2)) / (np.sqrt(np.mean(ref[1] ** 2)) + 1e-9))
    return score + proto
