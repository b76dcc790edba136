"""The ONNX Runtime CPU form (uint8 activations, zero point 128) is exact, and the CPU benchmark runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from skyseg.bench.calib import CpuBenchConfig, format_bench, run_cpu_bench
from skyseg.calib.ort_cpu import to_ort_cpu_form


def _run(model: onnx.ModelProto, x: np.ndarray, optimize: bool) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not optimize:  # reference Q/DQ semantics, no fused integer kernels
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(["output0", "output1"], {"images": x})


def test_cpu_form_is_exact_and_fuses(int8_model: Path) -> None:
    trt_form = onnx.load(str(int8_model))
    cpu_form = to_ort_cpu_form(trt_form, reduce_range=False)
    inits = {i.name: numpy_helper.to_array(i) for i in cpu_form.graph.initializer}
    q_zps = [inits[n.input[2]] for n in cpu_form.graph.node if n.op_type == "QuantizeLinear"]
    assert q_zps and all(z.dtype == np.uint8 and (z == 128).all() for z in q_zps)
    weight_dqs = [n for n in cpu_form.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                  and inits[n.input[0]].dtype == np.int8]
    assert len(weight_dqs) >= 80  # weight Q folded to INT8 initializers, still signed
    x = np.random.default_rng(0).random((1, 3, 256, 256)).astype(np.float32)
    ref = _run(trt_form, x, optimize=False)
    got = _run(cpu_form, x, optimize=False)
    for a, b in zip(ref, got):
        assert np.array_equal(a, b)  # the +128 shift and the weight folding are exact
    fused = _run(cpu_form, x, optimize=True)
    diff = np.abs(fused[0][0, 4] - ref[0][0, 4])  # fused integer kernels requantize with their own rounding
    assert diff.max() < 0.05 and np.median(diff) < 0.005


def test_reduce_range_halves_weight_codes(int8_model: Path) -> None:
    cpu7 = to_ort_cpu_form(onnx.load(str(int8_model)))  # default: 7-bit weights for CPUs without VNNI
    inits = {i.name: numpy_helper.to_array(i) for i in cpu7.graph.initializer}
    weights = [inits[n.input[0]] for n in cpu7.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8]
    assert len(weights) >= 80
    assert min(w.min() for w in weights) >= -64 and max(w.max() for w in weights) <= 63
    assert max(w.max() for w in weights) >= 60  # the range is used, not just clipped
    x = np.random.default_rng(1).random((1, 3, 256, 256)).astype(np.float32)
    ref = _run(onnx.load(str(int8_model)), x, optimize=False)
    got = _run(cpu7, x, optimize=True)
    assert np.abs(got[0][0, 4] - ref[0][0, 4]).mean() < 0.01  # close to the TensorRT form's scores


def test_cpu_bench_reports_latency_and_iou(seg_model: Path, int8_model: Path) -> None:
    res = run_cpu_bench(CpuBenchConfig(seg_model, int8_model, threads=1, imgsz=(256, 256), runs=3, warmup=1,
                                       synth_frames=2, realsky=None))
    assert set(res["latency"]) == {"fp32", "int8_ort_cpu", "int8_trt_form"}
    assert all(v["median_ms"] > 0 for v in res["latency"].values())
    assert res["accuracy_vs_fp32"]["synthetic"]["frames"] == 2
    assert res["other_cpu_load_cores"] is not None
    text = format_bench(res)
    assert "speed-up INT8 (ORT CPU form) vs FP32" in text and "sky-mask IoU vs FP32 on synthetic" in text


def test_quantize_writes_the_ort_cpu_form_on_request(int8_model):
    """`skyseg quantize --ort-cpu OUT` writes exactly `to_ort_cpu_form` of the TensorRT-form model it wrote."""
    import onnx

    from skyseg.calib.ort_cpu import to_ort_cpu_form

    written = onnx.load(str(int8_model.with_name("m.int8.cpu.onnx")))
    expected = to_ort_cpu_form(onnx.load(str(int8_model)))
    assert written.graph.SerializeToString() == expected.graph.SerializeToString()
    zero_points = {i.name: i.data_type for i in written.graph.initializer if i.name.endswith("_u8")}
    assert zero_points and set(zero_points.values()) == {onnx.TensorProto.UINT8}
