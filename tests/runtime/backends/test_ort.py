"""Backend interface on ONNX Runtime: contract checks, input validation, metadata, backend choice errors."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from skyseg.runtime.backends.base import check_contract, open_backend, parse_metadata, TensorSpec
from skyseg.runtime.backends.ort import choose_providers
from skyseg.runtime.errors import InputError, MissingDependencyError, ModelContractError



def _const_model(path: Path, in_shape, out_shapes: dict[str, list[int]], in_name="images", meta=None) -> Path:
    """A graph whose outputs are constants of the given shapes (plus 0 × the input, so the input is used)."""
    nodes, inits = [helper.make_node("ReduceSum", [in_name], ["s"], keepdims=0)], []
    inits.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    nodes.append(helper.make_node("Mul", ["s", "zero"], ["z"]))
    outs = []
    for name, shape in out_shapes.items():
        inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, meta or {"names": "{0: 'sky'}", "imgsz": "[64, 64]", "stride": "32", "task": "segment"})
    onnx.save(model, str(path))
    return path


GOOD = {"output0": [1, 37, 84], "output1": [1, 32, 16, 16]}


def test_open_and_infer_stock_model(core_models) -> None:
    model = core_models.stock_onnx(320)
    with open_backend(model, backend="ort", threads=1) as be:
        assert be.kind == "onnxruntime" and be.providers == ["CPUExecutionProvider"]
        assert be.input_hw == (320, 320) and be.info.names == {0: "sky"} and be.info.task == "segment"
        assert be.info.stride == 32 and be.metadata["imgsz"] == [320, 320]
        assert [s.name for s in be.outputs] == ["output0", "output1"]
        out = be.infer(np.full((1, 3, 320, 320), 0.5, np.float32))
        assert out["output0"].shape == (1, 37, 2100) and out["output1"].shape == (1, 32, 80, 80)
        assert np.isfinite(out["output0"]).all()


@pytest.mark.parametrize(
    "images,needle",
    [
        (np.zeros((1, 3, 64, 64), np.float64), "got ndarray float64 [1, 3, 64, 64]"),
        (np.zeros((1, 3, 32, 64), np.float32), "must be images float32 [1, 3, 64, 64], got shape [1, 3, 32, 64]"),
        (np.zeros((3, 64, 64), np.float32), "got ndarray float32 [3, 64, 64]"),
        ([[0.0]], "got list"),
    ],
)
def test_infer_validates_input(tmp_path: Path, images, needle: str) -> None:
    model = _const_model(tmp_path / "m.onnx", [1, 3, 64, 64], GOOD)
    with open_backend(model, backend="ort") as be:
        with pytest.raises(ModelContractError) as err:
            be.infer(images)
        assert needle in str(err.value)
        assert be.infer(np.zeros((1, 3, 64, 64), np.float32))["output1"].shape == (1, 32, 16, 16)


@pytest.mark.parametrize(
    "in_name,in_shape,outs,meta,needle",
    [
        ("input", [1, 3, 64, 64], GOOD, None, "expected one input named 'images' float32 [B, 3, H, W], found input float32 [1, 3, 64, 64]"),
        ("images", [1, 1, 64, 64], GOOD, None, "found images float32 [1, 1, 64, 64]"),
        ("images", [1, 3, 64, 64], {"output0": [1, 37, 84]}, None, "found output0 float32 [1, 37, 84]"),
        ("images", [1, 3, 64, 64], {"output0": [1, 37, 84], "output1": [1, 32, 32, 32]}, None, "output1 must be [B, 32, 16, 16] for a 64×64 input, found output1 float32 [1, 32, 32, 32]"),
        ("images", [1, 3, 64, 64], {"output0": [1, 30, 84], "output1": [1, 32, 16, 16]}, None, "output0 must have 4 + nc + 32 channels with nc ≥ 1, found output0 float32 [1, 30, 84]"),
        ("images", [1, 3, 64, 64], {"output0": [1, 38, 84], "output1": [1, 32, 16, 16]}, {"names": "{0: 'sky'}"}, "metadata names {0: 'sky'} list 1 classes, so output0 should be [B, 37, A], found output0 float32 [1, 38, 84] (nc = 2)"),
        ("images", [1, 3, 64, 64], {"output0": [1, 84, 37], "output1": [1, 32, 16, 16]}, None, "output0 must hold 84 anchors for a 64×64 input (strides 8, 16, 32), found output0 float32 [1, 84, 37] (output0 looks transposed: [B, A, C] instead of [B, C, A])"),
        ("images", [1, 3, 64, 64], {"output0": [1, 37, 80], "output1": [1, 32, 16, 16]}, None, "output0 must hold 84 anchors for a 64×64 input"),
        ("images", [1, 3, 64, 64], {"output0": [1, 116, 84], "output1": [1, 32, 16, 16]}, {"names": str({i: f"c{i}" for i in range(80)})}, "a 80-class model (c0, c1, c2, c3, c4, …) with no class named 'sky'"),
    ],
)
def test_bad_models_raise_clear_contract_errors(tmp_path: Path, in_name, in_shape, outs, meta, needle) -> None:
    model = _const_model(tmp_path / "bad.onnx", in_shape, outs, in_name=in_name, meta=meta)
    with pytest.raises(ModelContractError) as err:
        with open_backend(model, backend="ort"):
            pass
    assert needle in str(err.value)
    assert "bad.onnx" in str(err.value)


def test_dynamic_input_takes_size_from_metadata() -> None:
    spec_in = [TensorSpec("images", np.dtype(np.float32), ("batch", 3, "h", "w"))]
    spec_out = [TensorSpec("output0", np.dtype(np.float32), ("batch", 37, "a")), TensorSpec("output1", np.dtype(np.float32), ("batch", 32, "h4", "w4"))]
    info = check_contract(spec_in, spec_out, {"imgsz": [384, 640], "names": {0: "sky"}}, "m.onnx")
    assert info.imgsz == (384, 640) and info.batch == 1
    with pytest.raises(ModelContractError, match="input size is dynamic .* and the metadata has no imgsz"):
        check_contract(spec_in, spec_out, {}, "m.onnx")


def test_parse_metadata_literals() -> None:
    raw = {"names": "{0: 'sky'}", "imgsz": "[640, 640]", "stride": "32", "date": "2026-11-26T06:54:44", "description": "Ultralytics YOLO11n-seg model "}
    meta = parse_metadata(raw)
    assert meta["names"] == {0: "sky"} and meta["imgsz"] == [640, 640] and meta["stride"] == 32
    assert meta["date"] == "2026-11-26T06:54:44" and meta["description"] == "Ultralytics YOLO11n-seg model "


def test_backend_choice_errors(tmp_path: Path) -> None:
    onnx_path = _const_model(tmp_path / "m.onnx", [1, 3, 64, 64], GOOD)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"ftrt" + b"\0" * 16)
    with pytest.raises(InputError, match="does not exist"):
        open_backend(tmp_path / "missing.onnx")
    with pytest.raises(InputError, match="the TensorRT backend runs engine files"):
        open_backend(onnx_path, backend="trt")
    with pytest.raises(InputError, match="ONNX Runtime cannot run the TensorRT engine m.engine"):
        open_backend(engine, backend="ort")
    with pytest.raises(InputError, match="unknown backend 'cuda'"):
        open_backend(onnx_path, backend="cuda")
    if importlib.util.find_spec("tensorrt") is None:
        for choice in ("auto", "trt"):  # an engine with no TensorRT: an error, never a silent ONNX fallback
            with pytest.raises(MissingDependencyError, match="needs TensorRT, but the `tensorrt` Python package is not installed"):
                open_backend(engine, backend=choice)


def test_explicit_provider_unavailable_is_an_error(tmp_path: Path) -> None:
    model = _const_model(tmp_path / "m.onnx", [1, 3, 64, 64], GOOD)
    assert choose_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(None, ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(MissingDependencyError, match="CUDAExecutionProvider requested but this onnxruntime build offers only"):
            with open_backend(model, backend="ort", providers=["CUDAExecutionProvider"]):
                pass


def test_infer_before_open_is_an_error(tmp_path: Path) -> None:
    be = open_backend(_const_model(tmp_path / "m.onnx", [1, 3, 64, 64], GOOD))
    with pytest.raises(RuntimeError, match="backend is not open"):
        be.infer(np.zeros((1, 3, 64, 64), np.float32))


def test_the_one_session_builder_takes_paths_and_bytes_and_refuses_in_one_sentence() -> None:
    from skyseg.runtime.backends.ort import ort_session
    from skyseg.runtime.bundled_model import bundled_model_path
    from skyseg.runtime.errors import ModelContractError

    path = bundled_model_path()
    by_path, by_bytes = ort_session(path, 1), ort_session(path.read_bytes(), 1, quiet=True)
    x = np.zeros((1, 3, 320, 320), np.float32)
    assert np.array_equal(by_path.run(["output0"], {"images": x})[0], by_bytes.run(["output0"], {"images": x})[0])
    assert by_path.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ModelContractError, match="ONNX Runtime cannot load the model bytes"):
        ort_session(b"\x08\x07 not a model", 1, quiet=True)
