"""A tiny segmentation model (freshly initialised, frame-dependent scores) exported at 160×160, shared per session."""
from __future__ import annotations

from pathlib import Path

import pytest

IMGSZ = 160


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(weights.pt, model.onnx): stock yolo11n-seg layout, nc=1, exported by Ultralytics' own exporter."""
    import skyseg.models  # noqa: F401 - offline Ultralytics
    from ultralytics import YOLO

    from skyseg.export.fresh_weights import build_fresh_checkpoint

    root = tmp_path_factory.mktemp("bench-model")
    pt = build_fresh_checkpoint(root / "tiny.pt", imgsz=IMGSZ)
    onnx_path = Path(YOLO(str(pt)).export(format="onnx", imgsz=IMGSZ, simplify=True, verbose=False))
    return pt, onnx_path
