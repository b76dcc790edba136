"""OpenVINO backend: the bundled ONNX on OpenVINO's CPU plug-in paints the same pixels as ONNX Runtime."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.errors import InputError, ModelContractError
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.sources.uri import open_source

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="OpenVINO is not installed (pip install 'skyseg[openvino]')")


def test_bundled_model_same_outputs_and_masks_as_onnx_runtime(realsky_dir: Path) -> None:
    model = bundled_model_path()
    with open_source("test://sky?n=4&w=640&h=480&seed=21") as src:
        frames = list(src)
    with open_source(str(realsky_dir)) as src:
        frames += list(src)[:3]
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    results = {}
    for name in ("ort", "openvino"):
        with open_backend(model, backend=name, threads=1) as backend:
            assert backend.info.nc == 1 and backend.info.names == {0: "sky"}  # metadata read from the ONNX
            seg = Segmenter(backend)
            results[name] = (backend.infer(x), [seg.segment_frame(f).sky_mask for f in frames])
    (ort_out, ort_masks), (ov_out, ov_masks) = results["ort"], results["openvino"]
    assert set(ort_out) == set(ov_out)
    for key in ort_out:
        scale = float(np.abs(ort_out[key]).max())
        assert np.abs(ort_out[key] - ov_out[key]).max() <= 1e-4 * max(scale, 1.0), key  # f32 forced, not bf16
    for a, b in zip(ort_masks, ov_masks):
        union = (a | b).sum()
        assert union == 0 or (a & b).sum() / union >= 0.999


def test_openvino_refuses_engines_and_garbage(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(InputError, match="OpenVINO cannot run the TensorRT engine"):
        open_backend(engine, backend="openvino")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ModelContractError, match="OpenVINO cannot read"):
        with open_backend(junk, backend="openvino"):
            pass


def test_openvino_refuses_int8_qdq_models(tmp_path: Path) -> None:
    """Q/DQ models give other masks on OpenVINO than on ONNX Runtime: refused with one sentence, never run."""
    import onnx
    from onnx import TensorProto, helper

    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.02])
    zero = helper.make_tensor("z", TensorProto.UINT8, [], [0])
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["images", "s", "z"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["output0"])],
        "qdq", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 32, 32])], [scale, zero])
    path = tmp_path / "m.int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelContractError, match="INT8 Q/DQ model.*--backend ort"):
        with open_backend(path, backend="openvino"):
            pass
