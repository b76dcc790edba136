"""Test helper (not a test module): small Ultralytics ONNX models for the runtime-core tests.

* `stock_onnx`: stock `yolo11n-seg.yaml` with nc=1 built from YAML (never a hub download), random weights,
  exported by Ultralytics: the real graph, for plumbing and speed. Random weights give near-constant outputs
  (the features vanish through the untrained layers), so it says nothing about masks.
* `oracle_onnx`: a tiny hand-built graph with the same contract whose protos follow the image (pooled brightness
  and position through a 1×1 conv and tanh) and whose output0 holds fixed boxes, scores and coefficients
  (overlapping boxes for NMS, scores on both sides of conf). Its masks have real, image-dependent edges, which
  makes the Ultralytics-oracle comparison meaningful.
Files are cached per size in a temp folder and written atomically.
Used through the `core_models` fixture (tests/conftest.py).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / f"skyseg-core-test-models-{os.getuid()}"


def stock_yolo(work: Path):  # -> ultralytics.YOLO
    """Ultralytics' stock yolo11n-seg with one class, "sky", built from its YAML in `work` (never a hub download)
    with torch seeded to 0; exports land in `work`."""
    import skyseg.models  # noqa: F401  (offline Ultralytics first)
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    cfg = yaml_model_load("yolo11n-seg.yaml")
    cfg.update(nc=1, scale="n")
    cfg.pop("yaml_file", None)
    (work / "yolo11n-seg.yaml").write_text(yaml.safe_dump(cfg))
    torch.manual_seed(0)
    model = YOLO(str(work / "yolo11n-seg.yaml"))
    model.model.names = {0: "sky"}
    return model


def _build(imgsz: int, out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="export-", dir=out.parent))
    model = stock_yolo(work)
    exported = Path(model.export(format="onnx", imgsz=imgsz, simplify=False, opset=17, verbose=False))
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    exported.replace(tmp)
    tmp.replace(out)
    shutil.rmtree(work, ignore_errors=True)


def _anchors(imgsz: int) -> int:
    return sum((imgsz // s) ** 2 for s in (8, 16, 32))


def _oracle_graph(imgsz: int, seed: int = 0):  # -> onnx.ModelProto
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    s, m, a = imgsz, imgsz // 4, _anchors(imgsz)
    # fixed detections: (cx, cy, w, h, score, coefficient vector)
    base = rng.normal(0, 1, 32)
    rows = []
    for _ in range(8):  # large, sky-like instances sharing most of their coefficients
        w, h = rng.uniform(0.3, 0.9) * s, rng.uniform(0.25, 0.7) * s
        cx, cy = rng.uniform(w / 2, s - w / 2), rng.uniform(h / 2, s - h / 2)
        score = rng.uniform(0.3, 0.95)
        coef = base + rng.normal(0, 0.4, 32)
        rows.append((cx, cy, w, h, score, coef))
        for _ in range(2):  # near-duplicates with lower scores: NMS must remove these
            jitter = rng.normal(0, 0.02 * s, 4)
            rows.append((cx + jitter[0], cy + jitter[1], w + jitter[2], h + jitter[3], score * 0.9, coef))
    for _ in range(24):  # small instances, scores on both sides of conf 0.25
        w, h = rng.uniform(0.05, 0.2) * s, rng.uniform(0.05, 0.2) * s
        rows.append((rng.uniform(w, s - w), rng.uniform(h, s - h), w, h, rng.uniform(0.05, 0.6), rng.normal(0, 1, 32)))
    out0 = np.zeros((1, 4 + 1 + 32, a), dtype=np.float32)
    out0[0, 0:2] = rng.uniform(0, s, (2, a))
    out0[0, 2:4] = rng.uniform(4, 32, (2, a))
    out0[0, 4] = rng.uniform(0.0, 0.05, a)  # background anchors, below conf
    out0[0, 5:] = rng.normal(0, 1, (32, a))
    slots = rng.choice(a, len(rows), replace=False)
    for j, (cx, cy, w, h, score, coef) in zip(slots, rows):
        out0[0, :5, j] = (cx, cy, w, h, score)
        out0[0, 5:, j] = coef
    yy, xx = np.meshgrid(np.linspace(-1, 1, m), np.linspace(-1, 1, m), indexing="ij")
    ramps = np.stack([xx, yy])[None].astype(np.float32)
    conv_w = (rng.normal(0, 1, (32, 3, 1, 1)) * np.array([6.0, 1.5, 1.5])[None, :, None, None]).astype(np.float32)
    conv_b = rng.normal(-1.0, 1.0, 32).astype(np.float32)
    inits = [
        numpy_helper.from_array(out0, "det"),
        numpy_helper.from_array(ramps, "ramps"),
        numpy_helper.from_array(conv_w, "proto_w"),
        numpy_helper.from_array(conv_b, "proto_b"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["gray"], axes=[1], keepdims=1),
        helper.make_node("AveragePool", ["gray"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Concat", ["pooled", "ramps"], ["feats"], axis=1),
        helper.make_node("Conv", ["feats", "proto_w", "proto_b"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["output1"]),
        helper.make_node("ReduceMean", ["pooled"], ["level"], keepdims=0),
        helper.make_node("Mul", ["level", "zero"], ["nothing"]),
        helper.make_node("Add", ["det", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "skyseg-oracle",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, s, s])],
        [
            helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 37, a]),
            helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, 32, m, m]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "description": "skyseg test oracle", "author": "skyseg tests", "version": "8.4.190", "stride": "32",
        "task": "segment", "batch": "1", "imgsz": f"[{s}, {s}]", "names": "{0: 'sky'}", "channels": "3",
        "end2end": "False", "args": "{'batch': 1, 'dynamic': False, 'nms': None}",
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def oracle_onnx(imgsz: int = 320) -> Path:
    """Path to the cached hand-built oracle ONNX (image-dependent protos, fixed detections)."""
    import onnx

    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"oracle-seg-{imgsz}.onnx"
    if not out.is_file():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        onnx.save(_oracle_graph(imgsz), str(tmp))
        tmp.replace(out)
    return out


def stock_onnx(imgsz: int = 320) -> Path:
    """Path to the cached perturbed yolo11n-seg (nc=1) ONNX at imgsz×imgsz, exporting it on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"yolo11n-seg-sky-{imgsz}.onnx"
    if not out.is_file():
        _build(imgsz, out)
    return out
