"""Ultralytics' own export on skyseg weights: `YOLO("skyseg-n.pt").export(format="onnx")` works and equals ours."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "weights"


def test_ultralytics_onnx_export_equals_the_bundled_onnx(tmp_path: Path) -> None:
    """Regression: Ultralytics' fuse() knows none of skyseg's blocks, so export traced OREPA's kernel generation and
    stopped ("convolution for kernel of unknown shape"); the checkpoint's SkySegmentationModel.fuse() reparameterizes
    them exactly."""
    import onnxruntime as ort
    from ultralytics import YOLO

    pt = shutil.copy(WEIGHTS / "skyseg-n.pt", tmp_path / "skyseg-n.pt")
    exported = Path(YOLO(str(pt)).export(format="onnx", imgsz=320, verbose=False))
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    theirs = ort.InferenceSession(str(exported)).run(["output0", "output1"], {"images": x})
    ours = ort.InferenceSession(str(WEIGHTS / "skyseg-n.onnx")).run(["output0", "output1"], {"images": x})
    assert [t.shape for t in theirs] == [(1, 37, 2100), (1, 32, 80, 80)]
    np.testing.assert_allclose(theirs[0], ours[0], atol=1e-3)  # boxes in pixels up to ~500, scores 0–1
    np.testing.assert_allclose(theirs[1], ours[1], atol=1e-4)


def test_importing_skyseg_leaves_ultralytics_fuse_alone() -> None:
    """skyseg's blocks patch nothing in Ultralytics: its BaseModel.fuse is its own and still fuses stock models."""
    from ultralytics.nn import tasks

    stock_fuse = tasks.BaseModel.fuse
    for block_module in ("c3k2_rep", "orepa", "repconv", "segment_rep", "ss2d"):  # every skyseg block module
        importlib.import_module(f"skyseg.models.{block_module}")
    from skyseg.models.segmentation_model import SkySegmentationModel

    assert tasks.BaseModel.fuse is stock_fuse and tasks.SegmentationModel.fuse is stock_fuse
    assert SkySegmentationModel.fuse is not stock_fuse
    model = tasks.SegmentationModel("yolo11n-seg.yaml", nc=1, verbose=False).eval()
    bns = sum(type(m).__name__ == "BatchNorm2d" for m in model.modules())
    model.fuse(verbose=False)
    assert bns > 0 and sum(type(m).__name__ == "BatchNorm2d" for m in model.modules()) == 0


def test_a_checkpoint_of_an_older_skyseg_loads_as_a_sky_model(tmp_path: Path) -> None:
    """An older checkpoint pickles Ultralytics' SegmentationModel: `load_model` gives it skyseg's class, weights
    untouched, and its fuse() then collapses OREPA/RepVGG/SS2D exactly (no train-time block is left)."""
    import torch
    from ultralytics.nn.tasks import SegmentationModel

    from skyseg.models import load_model
    from skyseg.models.segmentation_model import SkySegmentationModel

    ckpt = torch.load(WEIGHTS / "skyseg-n.pt", map_location="cpu", weights_only=False)
    assert type(ckpt["model"]) is SkySegmentationModel  # what the bundled checkpoint pickles
    ckpt["model"].__class__ = SegmentationModel  # as an older skyseg wrote it
    torch.save(ckpt, tmp_path / "old.pt")
    net = load_model(tmp_path / "old.pt").model.float().eval()
    assert type(net) is SkySegmentationModel
    x = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = net(x)[0]
        after = net.fuse(verbose=False)(x)[0]
    blocks = [m for m in net.modules() if type(m).__name__ in ("OREPA", "RepVGGConv")]
    assert blocks and all(m.deploy for m in blocks)
    assert sum(type(m).__name__ == "BatchNorm2d" for m in net.modules()) < 10  # Ultralytics' "is fused" test
    torch.testing.assert_close(after, before, atol=2e-3, rtol=1e-4)


@pytest.mark.skipif(__import__("importlib").util.find_spec("openvino") is None,
                    reason="OpenVINO is not installed (pip install 'skyseg[openvino]')")
def test_ultralytics_openvino_export_equals_the_bundled_onnx(tmp_path: Path) -> None:
    """Regression: OpenVINO's converter has no rule for aten::exp2 (the scan's eager fast path)."""
    import onnxruntime as ort
    import openvino as ov
    from ultralytics import YOLO

    pt = shutil.copy(WEIGHTS / "skyseg-n.pt", tmp_path / "skyseg-n.pt")
    folder = Path(YOLO(str(pt)).export(format="openvino", imgsz=320, verbose=False))
    compiled = ov.Core().compile_model(str(next(folder.glob("*.xml"))), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    result = compiled(x)
    theirs = [result[port] for port in compiled.outputs]
    ours = ort.InferenceSession(str(WEIGHTS / "skyseg-n.onnx")).run(["output0", "output1"], {"images": x})
    np.testing.assert_allclose(theirs[0], ours[0], atol=2e-3)
    np.testing.assert_allclose(theirs[1], ours[1], atol=1e-4)
