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


def _qdq_model(path: Path, code_type: int) -> Path:
    import onnx
    from onnx import helper

    scale = helper.make_tensor("s", onnx.TensorProto.FLOAT, [], [0.02])
    zero = helper.make_tensor("z", code_type, [], [0 if code_type == onnx.TensorProto.INT8 else 128])
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["images", "s", "z"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["output0"])],
        "qdq", [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", onnx.TensorProto.FLOAT, [1, 3, 32, 32])], [scale, zero])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_openvino_refuses_signed_int8_activations_only(tmp_path: Path) -> None:
    """Signed INT8 activation codes (the TensorRT Q/DQ form) give wrong masks on OpenVINO: refused with one
    sentence. uint8 codes with zero point 128 (the ONNX Runtime CPU form) pass on to the model contract check."""
    import onnx

    signed = _qdq_model(tmp_path / "m.int8.onnx", onnx.TensorProto.INT8)
    with pytest.raises(ModelContractError, match="signed INT8 activations.*--ort-cpu"):
        with open_backend(signed, backend="openvino"):
            pass
    unsigned = _qdq_model(tmp_path / "m.int8.cpu.onnx", onnx.TensorProto.UINT8)
    with pytest.raises(ModelContractError, match="expected outputs output0") as err:
        with open_backend(unsigned, backend="openvino"):
            pass
    assert "signed INT8" not in str(err.value)


def test_uint8_qdq_model_on_openvino_paints_onnx_runtimes_masks(tmp_path: Path, realsky_dir: Path) -> None:
    """The bundled model quantized with uint8 activations: OpenVINO and ONNX Runtime run the same INT8 model and
    their sky masks agree on real frames (the signed-INT8 form fell to IoU 0 on some of these)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    with open_source(str(realsky_dir)) as src:
        frames = list(src)[:4]

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            from skyseg.runtime.process.preprocess import preprocess

            self.items = iter([{"images": preprocess(f.pixels, (320, 320))[0]} for f in frames])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    int8 = tmp_path / "sky.int8.cpu.onnx"
    quantize_static(str(bundled_model_path()), str(int8), Frames(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=["Conv"])  # like skyseg quantize: the SS2D scan stays float
    masks = {}
    for name in ("ort", "openvino"):
        with open_backend(int8, backend=name, threads=1) as backend:
            seg = Segmenter(backend)
            masks[name] = [seg.segment_frame(f).sky_mask for f in frames]
    for a, b in zip(masks["ort"], masks["openvino"]):
        union = (a | b).sum()
        assert union > 0 and (a & b).sum() / union >= 0.97
