"""Model outputs → `SegResult`: the ONE mask decoding shared by the runtime, export verification and calibration.

Follows Ultralytics' segment predictor (confidence filter, best class per box, class-aware NMS, IoU > iou
suppresses, max_det, instances with empty masks dropped) so that sky masks agree with
`ultralytics.YOLO(onnx).predict` on the same frames, but assembles masks once per frame (see mask_decode).
"""
from __future__ import annotations

import numpy as np

from skyseg.runtime.errors import ModelContractError
from skyseg.runtime.process.letterbox import LetterboxInfo
from skyseg.runtime.process.mask_decode import MaskDecoder
from skyseg.runtime.process.nms import MAX_NMS, batched_nms
from skyseg.runtime.result import DEFAULT_NAMES, SegResult


def _split_channels(output0: np.ndarray, output1: np.ndarray) -> tuple[int, int]:
    """(nc, nm) from the output shapes, or a ModelContractError naming what was found."""
    if output0.ndim != 3 or output1.ndim != 4 or output0.shape[0] != 1 or output1.shape[0] != 1:
        raise ModelContractError(
            f"postprocess expects output0 [1, 4+nc+32, A] and output1 [1, 32, H/4, W/4], "
            f"found {list(output0.shape)} and {list(output1.shape)}"
        )
    nm = output1.shape[1]
    nc = output0.shape[1] - 4 - nm
    if nc < 1:
        raise ModelContractError(
            f"output0 has {output0.shape[1]} channels but output1 has {nm} protos: expected 4 + nc + {nm} "
            f"channels with nc ≥ 1, found nc = {nc}"
        )
    return nc, nm


def select_detections(
    output0: np.ndarray, nc: int, conf: float, iou: float, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Confidence filter + class-aware NMS on output0 [1, C, A]: (xyxy input px, scores, class ids, coeffs)."""
    pred = output0[0]
    cls = pred[4 : 4 + nc]
    best = cls[0] if nc == 1 else cls.max(axis=0)
    cand = np.flatnonzero(best > conf)
    if cand.size > MAX_NMS:
        cand = cand[np.argsort(-best[cand], kind="stable")[:MAX_NMS]]
    rows = pred[:, cand].T.astype(np.float32, copy=False)  # [K, C], only candidates transposed
    scores = best[cand].astype(np.float32)
    class_ids = np.zeros(len(cand), dtype=np.int64) if nc == 1 else cls[:, cand].argmax(axis=0).astype(np.int64)
    xy, wh = rows[:, 0:2], rows[:, 2:4]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    keep = batched_nms(boxes, scores, class_ids, iou, max_det)
    return boxes[keep], scores[keep], class_ids[keep], np.ascontiguousarray(rows[keep, 4 + nc :])


def boxes_to_frame(boxes_in: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Input-pixel xyxy boxes → frame pixels, clipped to the frame."""
    out = info.to_source(boxes_in)
    h, w = info.src_hw
    np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])  # basic slices are views, so the clip lands in `out`
    np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
    return out


def postprocess(
    output0: np.ndarray,
    output1: np.ndarray,
    info: LetterboxInfo,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    names: dict[int, str] | None = None,
) -> SegResult:
    """Decode one frame's outputs into a SegResult with the full-resolution sky mask already computed."""
    if not (0.0 <= conf <= 1.0 and 0.0 <= iou <= 1.0):
        raise ValueError(f"conf and iou must be within 0–1, got conf={conf} iou={iou}")
    nc, _ = _split_channels(output0, output1)
    boxes_in, scores, class_ids, coeffs = select_detections(output0, nc, conf, iou, max_det)
    decoder = MaskDecoder(np.ascontiguousarray(output1[0], dtype=np.float32), info)
    union, nonempty = decoder.union_logits(coeffs, boxes_in)
    if not nonempty.all():  # Ultralytics drops instances whose cropped mask is empty; they add nothing to the union
        boxes_in, scores, class_ids, coeffs = boxes_in[nonempty], scores[nonempty], class_ids[nonempty], coeffs[nonempty]
    return SegResult(
        boxes=boxes_to_frame(boxes_in, info),
        scores=scores,
        class_ids=class_ids,
        frame_hw=info.src_hw,
        names=dict(names) if names is not None else dict(DEFAULT_NAMES),
        coeffs=coeffs,
        boxes_input=boxes_in,
        decoder=decoder,
        _sky=decoder.to_frame(union),
    )
