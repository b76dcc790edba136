"""The OpenVINO form of an INT8 model: Q/DQ kept only where a convolution reads INT8; OpenVINO runs it close to
the INT8 model's own outputs; the signed (TensorRT) form is refused with one sentence."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from skyseg.calib.openvino_form import main, to_openvino_form
from skyseg.calib.ort_cpu import write_ort_cpu_form


def _ort(model: Path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # Q/DQ semantics as written
    return ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"]).run(["output0"], {"images": x})[0]


def test_only_pairs_a_convolution_reads_are_kept(int8_model: Path, tmp_path: Path) -> None:
    cpu = write_ort_cpu_form(int8_model, tmp_path / "m.int8.cpu.onnx")
    form, removed = to_openvino_form(onnx.load(str(cpu)))
    inits = {i.name for i in form.graph.initializer}
    readers: dict[str, list[str]] = {}
    for node in form.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.op_type)
    act_dqs = [n for n in form.graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits
               and not any(q.output[0] == n.input[0] and q.input[0] in inits for q in form.graph.node)]
    assert removed > 0 and act_dqs
    assert all("Conv" in readers.get(dq.output[0], []) for dq in act_dqs)
    onnx.checker.check_model(form)
    assert len(form.graph.node) < len(onnx.load(str(cpu)).graph.node)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO is not installed")
def test_openvino_runs_the_form_close_to_the_int8_model(int8_model: Path, tmp_path: Path) -> None:
    import openvino as ov

    cpu = write_ort_cpu_form(int8_model, tmp_path / "m.int8.cpu.onnx")
    target = tmp_path / "m.int8.ov.onnx"
    assert main([str(cpu), str(target)]) == 0
    x = np.random.default_rng(0).random((1, 3, 256, 256)).astype(np.float32)
    reference = _ort(cpu, x)[0, 4]  # the class score: what the sky mask is selected by
    compiled = ov.Core().compile_model(str(target), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                             "INFERENCE_NUM_THREADS": 1})
    got = compiled({0: x})[compiled.outputs[0]][0, 4]
    diff = np.abs(got - reference)
    assert np.median(diff) < 0.05 * max(1.0, float(np.abs(reference).max()))


def test_signed_int8_input_is_one_sentence(int8_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert main([str(int8_model), str(tmp_path / "x.onnx")]) == 2
    assert "signed INT8 activations (the TensorRT form)" in caplog.text and not (tmp_path / "x.onnx").exists()
    assert main([str(tmp_path / "missing.onnx"), str(tmp_path / "y.onnx")]) == 2


def test_quantize_writes_the_openvino_form_without_the_cpu_form(seg_model: Path, synth_calib: Path, ranges: Path,
                                                                  tmp_path: Path) -> None:
    """`skyseg quantize --openvino` alone: the form the two-step command makes, and no CPU form or temp file left."""
    from skyseg.cli.main import main as skyseg_main

    target = tmp_path / "m.int8.ov.onnx"
    rc = skyseg_main(["quantize", str(seg_model), "--calib", str(synth_calib), "-o", str(tmp_path / "m.int8.onnx"),
                      "--method", "minmax", "--no-sensitivity", "--calib-cache", str(ranges), "--openvino",
                      str(target)])
    assert rc == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["m.int8.onnx", "m.int8.ov.onnx"]
    two_step = tmp_path / "two" / "m.int8.ov.onnx"
    two_step.parent.mkdir()
    assert main([str(write_ort_cpu_form(tmp_path / "m.int8.onnx", tmp_path / "two" / "cpu.onnx")), str(two_step)]) == 0
    assert onnx.load(str(target)).graph == onnx.load(str(two_step)).graph
