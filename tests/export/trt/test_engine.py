"""TensorRT builds (FP16, INT8 from Q/DQ) and engine inference against ONNX Runtime.

These need the `tensorrt` package and a CUDA GPU; elsewhere they are skipped with that reason.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (JetPack python3-libnvinfer or `pip install tensorrt`)")
pytest.importorskip("cuda", reason="the TensorRT backend needs the CUDA Python bindings (`pip install cuda-python`)")

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu, pytest.mark.slow]

from skyseg.export.inspect_model import inspect_file  # noqa: E402
from skyseg.export.onnx_export import ExportConfig, export_onnx  # noqa: E402
from skyseg.export.trt.build import BuildConfig, parse_trt_version  # noqa: E402
from skyseg.export.trt.engine import build_engine  # noqa: E402
from skyseg.runtime.quality.mask_metrics import mask_iou  # noqa: E402
from skyseg.export.verify_frames import folder_frames, synthetic_frames  # noqa: E402
from skyseg.runtime.backends.base import open_backend  # noqa: E402
from skyseg.runtime.backends.engine_file import read_engine_file, sidecar_path  # noqa: E402
from skyseg.runtime.process.postprocess import postprocess  # noqa: E402
from skyseg.runtime.process.preprocess import preprocess  # noqa: E402

IMGSZ = (256, 256)
MAJOR = parse_trt_version(trt.__version__)[0]


@pytest.fixture(scope="module")
def fp32_onnx(skyseg_pt, tmp_path_factory):
    return export_onnx(ExportConfig(skyseg_pt, tmp_path_factory.mktemp("trt") / "m.onnx", imgsz=IMGSZ, synth_frames=1)).path


def _agreement(engine_path, onnx_path, frames) -> float:
    ious = []
    with open_backend(engine_path, "trt") as trt_be, open_backend(onnx_path, "ort") as ort_be:
        for f in frames:
            x, info = preprocess(f.pixels, IMGSZ)
            a, b = trt_be.infer(x), ort_be.infer(x)
            ious.append(mask_iou(postprocess(a["output0"], a["output1"], info).sky_mask,
                                 postprocess(b["output0"], b["output1"], info).sky_mask))
    return min(ious)


def _frames(realsky_dir):
    return synthetic_frames(4) + folder_frames(realsky_dir)


def test_fp16_engine_matches_onnx_runtime(fp32_onnx, skyseg_pt, tmp_path, realsky_dir):
    source = fp32_onnx
    if MAJOR >= 11:  # no FP16 flag: build an FP16 ONNX
        source = export_onnx(ExportConfig(skyseg_pt, tmp_path / "h.onnx", imgsz=IMGSZ, half=True, verify=False)).path
    res = build_engine(BuildConfig(onnx=source, output=tmp_path / "m.engine", precision="fp16",
                                   timing_cache=tmp_path / "t.cache"))
    eng = read_engine_file(res.path)
    assert not eng.has_header and eng.plan.startswith(b"ftrt")  # raw plan, loads in trtexec/DeepStream
    side = json.loads(sidecar_path(res.path).read_text())
    assert side["tensorrt_version"] == trt.__version__ and side["precision"] == "fp16"
    assert (tmp_path / "t.cache").stat().st_size > 0
    report = inspect_file(res.path)
    assert report["layer_summary"]["layers"] > 0 and "fp16" in report["layer_summary"]["precisions"]
    assert _agreement(res.path, fp32_onnx, _frames(realsky_dir)) >= 0.99


def test_int8_engine_from_qdq_onnx(fp32_onnx, tmp_path, realsky_dir):
    from skyseg.calib.quantize import QuantizeConfig, quantize_model
    from skyseg.calib.selection import SynthCalibConfig, synth_calibration_set

    calib = tmp_path / "calib"
    synth_calibration_set(SynthCalibConfig(calib, n=16, size=(320, 240)))
    qdq = quantize_model(QuantizeConfig(model=fp32_onnx, calib_dir=calib, output=tmp_path / "q.onnx",
                                        sensitivity=False)).output
    res = build_engine(BuildConfig(onnx=qdq, output=tmp_path / "q.engine", precision="int8", ultralytics_header=True))
    assert res.plan.engine_precision == "int8" and res.plan.strongly_typed == (MAJOR >= 10)
    eng = read_engine_file(res.path)
    assert eng.has_header and eng.metadata["task"] == "segment"
    assert _agreement(res.path, qdq, _frames(realsky_dir)) >= 0.99


def test_engine_runs_with_ultralytics(fp32_onnx, tmp_path):
    import skyseg.models  # noqa: F401
    from ultralytics import YOLO

    precision = "fp16" if MAJOR < 11 else "fp32"
    res = build_engine(BuildConfig(onnx=fp32_onnx, output=tmp_path / "u.engine", precision=precision,
                                   ultralytics_header=True))
    frame = synthetic_frames(1)[0].pixels
    [out] = YOLO(str(res.path), task="segment").predict(np.ascontiguousarray(frame[..., ::-1]), verbose=False)
    assert out.orig_shape == frame.shape[:2]
