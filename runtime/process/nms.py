"""Greedy non-maximum suppression in NumPy, with Ultralytics' semantics (class-aware by a coordinate offset)."""
from __future__ import annotations

import numpy as np

MAX_WH = 7680  # Ultralytics' per-class offset: boxes of different classes never overlap
MAX_NMS = 30000  # boxes considered at most, highest scores first


def box_iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box [4] with many [M, 4]."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, np.finfo(np.float32).eps)


MATRIX_LIMIT = 2048  # up to this many candidates, one IoU matrix beats one NumPy call per kept box


def box_iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Pairwise IoU [K, K] of xyxy boxes."""
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    iw = np.clip(np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]), 0, None)
    ih = np.clip(np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]), 0, None)
    inter = iw * ih
    area = (x2 - x1) * (y2 - y1)
    return inter / np.maximum(area[:, None] + area[None, :] - inter, np.finfo(np.float32).eps)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float, max_det: int | None = None) -> np.ndarray:
    """Indices of kept boxes, highest score first; a box is dropped when IoU > iou_thres with a kept one."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    limit = len(order) if max_det is None else max_det
    if len(order) <= MATRIX_LIMIT:
        over = box_iou_matrix(boxes[order]) > iou_thres  # in score order
        suppressed = np.zeros(len(order), dtype=bool)
        for rank in range(len(order)):
            if suppressed[rank]:
                continue
            keep.append(int(order[rank]))
            if len(keep) >= limit:
                break
            suppressed |= over[rank]
        return np.asarray(keep, dtype=np.int64)
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        order = rest[box_iou_one(boxes[i], boxes[rest]) <= iou_thres]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_thres: float, max_det: int | None = None
) -> np.ndarray:
    """Class-aware NMS: boxes of different classes are shifted apart so they never suppress each other."""
    shifted = boxes + (class_ids.astype(boxes.dtype) * MAX_WH)[:, None]
    return nms(shifted, scores, iou_thres, max_det)
