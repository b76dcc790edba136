"""`skyseg export --target jetpack5`: LayerNormalization decomposed, opset 16, what TensorRT 8.5 (JetPack 5.1) parses,
and the same answers as the opset-17 graph and the PyTorch model on the real frames."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from skyseg.export.jetpack5 import JETPACK5_OPSET, decompose_layer_norm, relabel_opset, to_jetpack5
from skyseg.export.trt.lint import lint_onnx
from skyseg.runtime.errors import InputError, ModelContractError

REPO = Path(__file__).resolve().parents[2]
BUNDLED_ONNX = REPO / "models" / "weights" / "skyseg-n.onnx"
BUNDLED_PT = REPO / "models" / "weights" / "skyseg-n.pt"


def _ln_model(shape, axis, bias=True, stats=False) -> onnx.ModelProto:
    norm_shape = shape[axis:]
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.normal(1, 0.2, norm_shape).astype(np.float32), "scale")]
    inputs = ["x", "scale"]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.2, norm_shape).astype(np.float32), "bias"))
        inputs.append("bias")
    outputs = ["y", "mean", "inv_std"] if stats else ["y"]
    node = helper.make_node("LayerNormalization", inputs, outputs, name="ln", axis=axis, epsilon=1e-5)
    stat_shape = list(shape[:axis]) + [1] * len(norm_shape)
    shapes = {"y": list(shape), "mean": stat_shape, "inv_std": stat_shape}
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in outputs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


@pytest.mark.parametrize(("shape", "axis", "bias", "stats"), [
    ((2, 5, 8), -1, True, False), ((2, 5, 8), 1, False, False), ((3, 4, 6), -2, True, True),
])
def test_decomposition_computes_layer_normalization(shape, axis, bias, stats):
    model = _ln_model(shape, axis, bias, stats)
    x = np.random.default_rng(0).normal(3, 2, shape).astype(np.float32)
    want = _run(model, x)
    converted = to_jetpack5(onnx.load_from_string(model.SerializeToString()))
    assert {n.op_type for n in converted.graph.node} <= {"ReduceMean", "Sub", "Pow", "Add", "Sqrt", "Div", "Mul"}
    assert converted.opset_import[0].version == JETPACK5_OPSET
    for got, ref in zip(_run(converted, x), want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_an_opset_17_op_left_in_the_graph_keeps_the_opset():
    model = _ln_model((2, 4), -1)
    with pytest.raises(ModelContractError, match="LayerNormalization .* cannot be labelled opset 16"):
        relabel_opset(model, JETPACK5_OPSET)
    assert decompose_layer_norm(model) == 1 and decompose_layer_norm(model) == 0


def test_half_is_refused_before_any_work(tmp_path):
    from skyseg.export.jetpack5 import export_jetpack5
    from skyseg.export.onnx_export import ExportConfig

    with pytest.raises(InputError, match="no --half"):
        export_jetpack5(ExportConfig(BUNDLED_PT, tmp_path / "m.onnx", imgsz=(320, 320), half=True))
    assert list(tmp_path.iterdir()) == []


def test_lint_for_8_5_rejects_the_opset_17_export_and_passes_the_jetpack5_one(realsky_dir):
    from skyseg.export.verify_frames import folder_frames
    from skyseg.runtime.process.postprocess import postprocess
    from skyseg.runtime.process.preprocess import preprocess
    from skyseg.runtime.quality.mask_metrics import mask_iou

    plain = onnx.load(str(BUNDLED_ONNX))
    rejected = lint_onnx(plain, targets=("8.5",))
    assert [f.code for f in rejected.errors] == ["unsupported-op", "unsupported-op"]
    assert all("LayerNormalization" in f.message for f in rejected.errors)
    converted = to_jetpack5(onnx.load(str(BUNDLED_ONNX)))
    assert lint_onnx(converted, targets=("8.5", "8.6", "10.3", "10", "11")).findings == ()
    sessions = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]) for m in (plain, converted)]
    frames = folder_frames(realsky_dir, limit=100)
    assert len(frames) >= 9
    for frame in frames:
        x, info = preprocess(frame.pixels, (320, 320))
        masks = [postprocess(*s.run(["output0", "output1"], {"images": x}), info).sky_mask for s in sessions]
        assert mask_iou(*masks) >= 0.99, frame.name


@pytest.mark.slow
def test_cli_export_for_jetpack5_verifies_against_pytorch_on_the_real_frames(tmp_path, realsky_dir):
    from skyseg.cli.main import main
    from skyseg.export.deploy_model import load_deploy_model
    from skyseg.export.metadata import read_onnx_metadata
    from skyseg.export.verify import verify_onnx
    from skyseg.export.verify_frames import folder_frames

    out = tmp_path / "jp5.onnx"
    buf = io.StringIO()
    patch = pytest.MonkeyPatch()
    patch.setattr(sys, "stdout", buf)
    try:
        rc = main(["export", str(BUNDLED_PT), "-o", str(out), "--imgsz", "320", "--target", "jetpack5",
                   "--verify-images", str(realsky_dir), "--synth-frames", "1"])
    finally:
        patch.undo()
    text = buf.getvalue()
    assert rc == 0 and "verification: PASSED" in text and "TRT 8.5 (JetPack 5.1)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jp5.onnx"]  # no temp files left
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 16
    assert "LayerNormalization" not in {n.op_type for n in model.graph.node}
    meta = read_onnx_metadata(model)
    assert meta["skyseg_target"] == "jetpack5" and meta["args"]["opset"] == 16
    # every real frame (the export itself verifies the first six), against the PyTorch model
    report = verify_onnx(out, load_deploy_model(BUNDLED_PT).module, folder_frames(realsky_dir, limit=100), (320, 320),
                         lint_targets=("8.5",))
    assert report.ok, report.failures
    assert len(report.frames) >= 9 and report.min_iou() >= 0.99
