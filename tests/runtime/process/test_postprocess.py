"""Post-processing: NMS semantics, mask assembly against a naive reference, result filtering, contract errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from skyseg.runtime.errors import ModelContractError
from skyseg.runtime.process.letterbox import letterbox_geometry
from skyseg.runtime.process.nms import batched_nms, nms
from skyseg.runtime.process.postprocess import boxes_to_frame, postprocess, select_detections
from skyseg.runtime.result import SegResult


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS with a full IoU matrix."""
    iou = _iou_matrix(boxes, boxes)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    suppressed: set[int] = set()
    keep = []
    for i in order:
        if i in suppressed:
            continue
        keep.append(i)
        suppressed |= {j for j in order if iou[i, j] > thr and j != i}
    return keep


def _random_boxes(rng: np.random.Generator, n: int, size: float = 300.0) -> np.ndarray:
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(5, 120, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


@pytest.mark.parametrize("matrix", [True, False], ids=["iou-matrix", "per-box-loop"])
@pytest.mark.parametrize("seed,thr", [(0, 0.7), (1, 0.45), (2, 0.1), (3, 0.9)])
def test_nms_matches_reference(seed: int, thr: float, matrix: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from skyseg.runtime.process import nms as nms_module

    if not matrix:
        monkeypatch.setattr(nms_module, "MATRIX_LIMIT", 0)
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 200)
    scores = rng.uniform(0, 1, 200).astype(np.float32)
    assert nms(boxes, scores, thr).tolist() == _reference_nms(boxes, scores, thr)


def test_nms_max_det_and_class_awareness() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    assert nms(boxes, scores, 0.7).tolist() == [0, 2]
    assert nms(boxes, scores, 0.7, max_det=1).tolist() == [0]
    assert nms(boxes[:0], scores[:0], 0.7).tolist() == []
    # the same two overlapping boxes survive when they belong to different classes
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.7).tolist() == [0, 1, 2]


def _outputs(rng: np.random.Generator, input_hw=(320, 320), n_dets: int = 12, anchors: int = 2100):
    """Synthetic model outputs: smooth protos, a few confident detections, background below conf."""
    ih, iw = input_hw
    mh, mw = ih // 4, iw // 4
    yy, xx = np.meshgrid(np.linspace(-1, 1, mh), np.linspace(-1, 1, mw), indexing="ij")
    protos = np.stack([np.tanh(a * xx + b * yy + c) for a, b, c in rng.normal(0, 2, (32, 3))]).astype(np.float32)
    out0 = np.zeros((1, 37, anchors), dtype=np.float32)
    out0[0, 0] = rng.uniform(0, iw, anchors)
    out0[0, 1] = rng.uniform(0, ih, anchors)
    out0[0, 2:4] = rng.uniform(4, 40, (2, anchors))
    out0[0, 4] = rng.uniform(0, 0.2, anchors)
    out0[0, 5:] = rng.normal(0, 1, (32, anchors))
    for j in rng.choice(anchors, n_dets, replace=False):
        w, h = rng.uniform(0.2, 0.8) * iw, rng.uniform(0.2, 0.8) * ih
        out0[0, :5, j] = (rng.uniform(w / 2, iw - w / 2), rng.uniform(h / 2, ih - h / 2), w, h, rng.uniform(0.3, 1))
    return out0, protos[None]


def _reference_sky(out0, out1, info, conf=0.25, iou=0.7):
    """The continuous answer, naively: per instance, sample its logits at every frame pixel's position in the
    proto grid (bilinear, via explicit remap coordinates), crop to its box in input coordinates, threshold, union."""
    pred = out0[0].T
    pred = pred[pred[:, 4] > conf]
    xyxy = np.concatenate([pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2], 1)
    keep = _reference_nms(xyxy, pred[:, 4], iou)
    h, w = info.src_hw
    u = (np.arange(w, dtype=np.float32) + 0.5) * info.scale + info.pad_left  # input-pixel coordinates
    v = (np.arange(h, dtype=np.float32) + 0.5) * info.scale + info.pad_top
    sx = out1.shape[3] / info.dst_hw[1]
    sy = out1.shape[2] / info.dst_hw[0]
    map_x = np.broadcast_to(u * sx - 0.5, (h, w)).astype(np.float32)
    map_y = np.broadcast_to((v * sy - 0.5)[:, None], (h, w)).astype(np.float32)
    union = np.zeros((h, w), dtype=bool)
    for i in keep:
        logit = np.tensordot(pred[i, 5:], out1[0], axes=1).astype(np.float32)
        sampled = cv2.remap(logit, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        x1, y1, x2, y2 = xyxy[i]
        inside = ((u >= x1) & (u < x2))[None, :] & ((v >= y1) & (v < y2))[:, None]
        union |= (sampled > 0) & inside
    return union, xyxy[keep], pred[keep, 4]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("frame_hw,input_hw", [((720, 1280), (320, 320)), ((720, 1280), (640, 640)), ((1040, 1392), (320, 320)), ((480, 480), (320, 320)), ((1520, 2028), (640, 640))])
def test_postprocess_matches_naive_reference(frame_hw, input_hw) -> None:
    rng = np.random.default_rng(sum(frame_hw))
    out0, out1 = _outputs(rng, input_hw, anchors=sum((input_hw[0] // s) ** 2 for s in (8, 16, 32)))
    info = letterbox_geometry(frame_hw, input_hw)
    res = postprocess(out0, out1, info)
    ref_mask, ref_boxes, ref_scores = _reference_sky(out0, out1, info)
    assert res.sky_mask.shape == frame_hw
    assert 0.05 < res.sky_fraction < 0.98  # the case is not trivial
    assert _iou(res.sky_mask, ref_mask) >= 0.99
    # every kept instance is one the reference keeps, with the same score, box mapped to frame pixels
    assert len(res) >= 1 and len(res) <= len(ref_scores)
    for box, score in zip(res.boxes, res.scores):
        j = int(np.argmin(np.abs(ref_scores - score)))
        np.testing.assert_allclose(box, boxes_to_frame(ref_boxes[j : j + 1], info)[0], atol=1e-3)
    assert res.boxes[:, [0, 2]].max() <= frame_hw[1] and res.boxes[:, [1, 3]].max() <= frame_hw[0]


def test_no_detections_gives_empty_result() -> None:
    rng = np.random.default_rng(5)
    out0, out1 = _outputs(rng, n_dets=0)
    info = letterbox_geometry((480, 640), (320, 320))
    res = postprocess(out0, out1, info)
    assert len(res) == 0 and res.boxes.shape == (0, 4) and res.sky_fraction == 0.0
    assert res.sky_mask.shape == (480, 640) and res.instance_masks.shape == (0, 80, 80)


def test_result_filtering_recomputes_sky_mask() -> None:
    rng = np.random.default_rng(7)
    out0, out1 = _outputs(rng, n_dets=12)
    info = letterbox_geometry((720, 1280), (320, 320))
    res = postprocess(out0, out1, info, conf=0.25)
    assert len(res) >= 3
    inst = res.instance_masks
    assert inst.shape == (len(res), 80, 80) and inst.reshape(len(res), -1).any(1).all()
    best = res[res.scores >= np.sort(res.scores)[-2]]
    assert len(best) == 2 and np.all(best.scores >= np.sort(res.scores)[-2])
    # the filtered union is inside the full union and equals a fresh decode of just those instances
    assert not (best.sky_mask & ~res.sky_mask).any()
    again = best.decoder.sky_mask(best.coeffs, best.boxes_input)
    assert np.array_equal(best.sky_mask, again)
    assert np.array_equal(res[np.ones(len(res), bool)].sky_mask, res.sky_mask)
    one = res[0]
    assert len(one) == 1 and one.scores[0] == res.scores[0]
    polys = best.polygons()
    assert len(polys) == 2 and all(len(p) >= 1 for p in polys)
    for contours in polys:
        for c in contours:
            assert c.shape[1] == 2 and c[:, 0].max() <= 1280 and c[:, 1].max() <= 720
    assert len(res.sky_polygons()) >= 1


def test_conf_and_max_det_limit_instances() -> None:
    rng = np.random.default_rng(9)
    out0, out1 = _outputs(rng, n_dets=20)
    info = letterbox_geometry((480, 640), (320, 320))
    boxes, scores, _, _ = select_detections(out0, 1, 0.25, 0.7, 300)
    assert len(boxes) >= 5
    assert len(postprocess(out0, out1, info, max_det=3)) <= 3
    high = postprocess(out0, out1, info, conf=0.9)
    assert np.all(high.scores > 0.9)


@pytest.mark.parametrize(
    "shape0,shape1,needle",
    [
        ((1, 37, 2100), (1, 40, 80, 80), "output0 has 37 channels but output1 has 40 protos"),
        ((1, 36, 2100), (1, 32, 80, 80), "found nc = 0"),
        ((37, 2100), (1, 32, 80, 80), "found [37, 2100] and [1, 32, 80, 80]"),
    ],
)
def test_bad_output_shapes_raise_contract_error(shape0, shape1, needle) -> None:
    info = letterbox_geometry((480, 640), (320, 320))
    with pytest.raises(ModelContractError) as err:
        postprocess(np.zeros(shape0, np.float32), np.zeros(shape1, np.float32), info)
    assert needle in str(err.value)


def test_result_validates_shapes() -> None:
    with pytest.raises(ValueError, match=r"boxes must be \[N, 4\] with N=2"):
        SegResult(boxes=np.zeros((3, 4)), scores=np.zeros(2), class_ids=np.zeros(2), frame_hw=(10, 10))
    with pytest.raises(ValueError, match="sky mask must be"):
        SegResult(boxes=np.zeros((0, 4)), scores=np.zeros(0), class_ids=np.zeros(0), frame_hw=(10, 10), _sky=np.zeros((5, 5), bool))
    bare = SegResult(boxes=np.zeros((0, 4)), scores=[], class_ids=[], frame_hw=(4, 6))
    assert bare.sky_mask.shape == (4, 6) and bare.sky_fraction == 0.0 and len(bare) == 0
