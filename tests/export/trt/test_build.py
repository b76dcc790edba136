"""`skyseg build` decisions per TensorRT version, the trtexec line, profiles, and the sidecar — no TensorRT needed."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from skyseg.export.onnx_info import OnnxInfo, TensorInfo
from skyseg.export.trt.build import (
    BuildConfig,
    parse_trt_version,
    plan_build,
    profile_shapes,
    sidecar_document,
    trtexec_command,
)
from skyseg.runtime.errors import InputError


def _info(precision: str = "fp32", shape=(1, 3, 384, 640)) -> OnnxInfo:
    ops = {"Conv": 90, "Sigmoid": 80}
    types = {"fp32": 118}
    if precision == "int8-qdq":
        ops.update(QuantizeLinear=70, DequantizeLinear=160)
    if precision == "fp16":
        types = {"fp16": 118, "fp32": 2}
    return OnnxInfo(Path("m.onnx"), 17, (TensorInfo("images", "float32", tuple(shape)),),
                    (TensorInfo("output0", "float32", (1, 37, 5040)), TensorInfo("output1", "float32", (1, 32, 96, 160))),
                    {"imgsz": [384, 640]}, ops, types)


def _cfg(**kw) -> BuildConfig:
    return BuildConfig(onnx=Path("m.onnx"), output=Path("m.engine"), **kw)


@pytest.mark.parametrize(
    ("trt", "onnx_prec", "precision", "strongly", "flags", "calibrator", "engine"),
    [
        ((10, 3), "fp32", "fp16", False, ("FP16",), False, "fp16"),
        ((8, 6), "fp32", "fp16", False, ("FP16",), False, "fp16"),
        ((10, 3), "int8-qdq", "int8", True, (), False, "int8"),  # strongly typed Q/DQ
        ((10, 3), "int8-qdq", "best", False, ("INT8", "FP16"), False, "int8+fp16"),
        ((8, 6), "int8-qdq", "int8", False, ("INT8",), False, "int8"),  # 8.6 has no strongly typed networks
        ((11, 0), "int8-qdq", "int8", True, (), False, "int8"),
        ((11, 0), "fp16", "fp16", True, (), False, "fp16"),  # FP16 from the ONNX, no flag
        ((11, 1), "fp16", "best", True, (), False, "fp16"),
        ((10, 3), "fp32", "fp32", False, (), False, "fp32"),
    ],
)
def test_flags_per_version(trt, onnx_prec, precision, strongly, flags, calibrator, engine):
    plan = plan_build(_cfg(precision=precision), trt, _info(onnx_prec))
    assert (plan.strongly_typed, plan.builder_flags, plan.calibrator, plan.engine_precision) == (
        strongly, flags, calibrator, engine)


def test_legacy_calibrator_path_on_10_and_8():
    for trt in ((8, 6), (10, 3)):
        plan = plan_build(_cfg(precision="int8", calib_dir=Path("frames")), trt, _info("fp32"))
        assert plan.calibrator and plan.builder_flags == ("INT8",) and not plan.strongly_typed
    plan = plan_build(_cfg(precision="best", calib_dir=Path("f")), (10, 3), _info())
    assert plan.builder_flags == ("FP16", "INT8") and any("deprecated" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("trt", "onnx_prec", "kw", "match"),
    [
        ((11, 0), "fp32", {"precision": "fp16"}, "no FP16 builder flag.*skyseg export --half"),
        ((11, 0), "fp32", {"precision": "int8"}, "only from a Q/DQ ONNX.*skyseg quantize"),
        ((11, 0), "fp32", {"precision": "best"}, "would build FP32"),
        ((11, 0), "fp32", {"precision": "int8", "calib_dir": Path("f")}, "no calibrators"),
        ((10, 3), "fp32", {"precision": "int8"}, "needs INT8 scales"),  # never INT8 without scales
        ((10, 3), "int8-qdq", {"precision": "int8", "calib_dir": Path("f")}, "already has Q/DQ"),
        ((10, 3), "int8-qdq", {"precision": "fp16"}, "is a Q/DQ"),
        ((11, 0), "fp16", {"precision": "fp16", "dla_core": 0}, r"TensorRT 11\.0\.0 has no DLA support"),
        ((11, 3), "fp16", {"precision": "fp16", "dla_core": 0}, r"DLA returned in 11\.4\.1"),
        ((10, 3), "fp32", {"precision": "fp32", "dla_core": 0}, "no FP32 mode"),
        ((10, 3), "fp32", {"precision": "fp16", "gpu_fallback": True}, "only makes sense with --dla-core"),
        ((10, 3), "fp32", {"precision": "fp16", "opt_level": 7}, "0-5"),
        ((10, 3), "fp32", {"precision": "fp16", "max_batch": 4}, "need a dynamic-batch ONNX"),
        ((10, 3), "fp32", {"precision": "int4"}, "not one of"),
    ],
)
def test_impossible_requests_are_errors_not_downgrades(trt, onnx_prec, kw, match):
    with pytest.raises(InputError, match=match):
        plan_build(_cfg(**kw), trt, _info(onnx_prec))


def test_dla_on_tensorrt_11_4_1_is_allowed_with_its_conditions():
    plan = plan_build(_cfg(precision="fp16", dla_core=0, gpu_fallback=True), (11, 4, 1), _info(precision="fp16"))
    assert "GPU_FALLBACK" in plan.builder_flags
    assert any("11.4.1+ on Jetson AGX Orin with JetPack 7.2.2+" in n for n in plan.notes)


def test_dla_with_gpu_fallback():
    plan = plan_build(_cfg(precision="fp16", dla_core=1, gpu_fallback=True), (10, 3), _info())
    assert plan.builder_flags == ("FP16", "GPU_FALLBACK")
    cmd = trtexec_command(_cfg(precision="fp16", dla_core=1, gpu_fallback=True), plan)
    assert "--useDLACore=1" in cmd and "--allowGPUFallback" in cmd


def test_profile_shapes_for_dynamic_batch_and_size():
    assert profile_shapes((1, 3, 384, 640), (384, 640), None, None, None) is None
    assert profile_shapes(("batch", 3, 384, 640), (384, 640), 1, 2, 4) == ((1, 3, 384, 640), (2, 3, 384, 640), (4, 3, 384, 640))
    assert profile_shapes(("b", 3, "h", "w"), (384, 640), None, None, None) == ((1, 3, 384, 640),) * 3
    with pytest.raises(InputError, match="min <= opt <= max"):
        profile_shapes(("b", 3, 64, 64), (64, 64), 4, 2, 8)


def test_trtexec_line_matches_the_plan():
    cfg = _cfg(precision="best", workspace_gib=2, timing_cache=Path("t.cache"), opt_level=5, min_batch=1, opt_batch=2,
               max_batch=4)
    plan = plan_build(cfg, (10, 3), _info("int8-qdq", shape=("batch", 3, 384, 640)))
    args = shlex.split(trtexec_command(cfg, plan))
    assert args == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.engine", "--fp16", "--int8",
                    "--memPoolSize=workspace:2048", "--timingCacheFile=t.cache", "--builderOptimizationLevel=5",
                    "--minShapes=images:1x3x384x640", "--optShapes=images:2x3x384x640", "--maxShapes=images:4x3x384x640"]
    strongly = plan_build(_cfg(precision="int8"), (10, 3), _info("int8-qdq"))
    assert "--stronglyTyped" in trtexec_command(_cfg(precision="int8"), strongly)


def test_sidecar_document_records_the_build():
    cfg = _cfg(precision="fp16")
    plan = plan_build(cfg, (10, 3), _info())
    doc = sidecar_document({"task": "segment"}, plan, cfg, trt_version="10.3.0", gpu_name="Orin", compute_capability="8.7",
                           build_seconds=12.345, onnx_sha256="ab")
    assert doc["metadata"] == {"task": "segment"} and doc["tensorrt_version"] == "10.3.0"
    assert doc["gpu_name"] == "Orin" and doc["compute_capability"] == "8.7" and doc["precision"] == "fp16"
    assert doc["build_flags"] == ["FP16"] and doc["build_seconds"] == 12.35 and doc["trtexec"].startswith("trtexec ")


def test_parse_version():
    assert parse_trt_version("10.3.0.30") == (10, 3, 0) and parse_trt_version("8.6.2") == (8, 6, 2)
    with pytest.raises(ValueError):
        parse_trt_version("dev")
