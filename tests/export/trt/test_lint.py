"""TensorRT lint on deliberately bad graphs built with onnx.helper, and on a clean one."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from skyseg.export.trt.lint import lint_onnx
from skyseg.export.trt.ops import TARGETS

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17, domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=imports)


def _conv_model(shape=(1, 3, 8, 8), out_shape=(1, 4, 8, 8)):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["images", "w"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    relu = helper.make_node("Relu", ["y"], ["out"])
    return _model([node, relu], [helper.make_tensor_value_info("images", F, list(shape))],
                  [helper.make_tensor_value_info("out", F, list(out_shape))], [w])


def test_clean_static_graph_has_no_findings():
    report = lint_onnx(_conv_model())
    assert report.ok and report.findings == ()
    assert "no findings" in report.format_table()


def test_dynamic_dim_is_an_error_when_static_was_asked():
    m = _conv_model(shape=("batch", 3, 8, 8), out_shape=("batch", 4, 8, 8))
    report = lint_onnx(m, expect_static=True)
    assert not report.ok
    assert {(f.code, f.node) for f in report.errors} == {("dynamic-dim", "images"), ("dynamic-dim", "out")}
    relaxed = lint_onnx(m, expect_static=False)
    assert relaxed.ok and {f.severity for f in relaxed.findings} == {"info"}


def test_loop_is_flagged_even_inside_a_graph_that_parses():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", F, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", F, [1])],
        initializer=[numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    trip = numpy_helper.from_array(np.array(3, np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    loop = helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body, name="the_loop")
    m = _model([loop], [helper.make_tensor_value_info("x", F, [1])], [helper.make_tensor_value_info("y", F, [1])],
               [trip, cond])
    onnx.checker.check_model(m)
    report = lint_onnx(m)
    flagged = [f for f in report.errors if f.code == "control-flow"]
    assert [f.node for f in flagged] == ["the_loop"]
    assert "Loop" in flagged[0].message


@pytest.mark.parametrize(
    ("op", "attrs", "missing"),
    [
        ("Unique", {}, {"8.5", "8.6", "10.3", "10", "11"}),  # N in every table
        ("LayerNormalization", {"axis": -1}, {"8.5"}),  # 8.5 says N (JetPack 5.1), 8.6 added it
        ("Gelu", {}, {"8.5", "8.6"}),  # opset-20 op, supported from TensorRT 10
        ("STFT", {}, {"8.5", "8.6", "10.3"}),  # added in 10.5, after JetPack 6's 10.3
        ("Det", {}, {"8.5", "8.6", "10.3", "10", "11"}),
    ],
)
def test_unsupported_ops_name_the_tensorrt_versions(op, attrs, missing):
    inputs = ["x", "scale"] if op == "LayerNormalization" else ["x"]
    inits = [numpy_helper.from_array(np.ones(4, np.float32), "scale")] if op == "LayerNormalization" else []
    node = helper.make_node(op, inputs, ["y"], name="n", **attrs)
    m = _model([node], [helper.make_tensor_value_info("x", F, [4, 4])], [helper.make_tensor_value_info("y", F, None)],
               inits, opset=20)
    report = lint_onnx(m, expect_static=False)
    found = [f for f in report.findings if f.code == "unsupported-op"]
    assert set(found[0].targets if found else ()) == missing
    opset_errors = {t for f in report.errors if f.code == "opset" for t in f.targets}
    assert opset_errors == {"8.5", "8.6"}  # opset 20 > 17


def test_custom_domain_resize_mode_and_zero_point():
    x = helper.make_tensor_value_info("x", F, [1, 3, 8, 8])
    nodes = [
        helper.make_node("MyPlugin", ["x"], ["a"], domain="com.example", name="plugin"),
        helper.make_node("Resize", ["a", "", "scales"], ["b"], mode="cubic", name="resize"),
        helper.make_node("QuantizeLinear", ["b", "s", "zp"], ["q"], name="q"),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], name="dq"),
    ]
    inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(3, np.int8), "zp")]
    m = _model(nodes, [x], [helper.make_tensor_value_info("y", F, [1, 3, 16, 16])], inits, domains=["com.example"])
    report = lint_onnx(m)
    codes = {(f.code, f.node) for f in report.errors}
    assert ("custom-domain", "plugin") in codes
    assert ("resize-attr", "resize") in codes
    assert {("qdq-zero-point", "q"), ("qdq-zero-point", "dq")} <= codes


def test_uint8_qdq_is_rejected():
    x = helper.make_tensor_value_info("x", F, [1, 3])
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], name="dq")]
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.uint8), "zp")]
    m = _model(nodes, [x], [helper.make_tensor_value_info("y", F, [1, 3])], inits)
    report = lint_onnx(m)
    assert {(f.code, f.node) for f in report.errors} == {("qdq-uint8", "q"), ("qdq-uint8", "dq")}


def test_int64_graph_output_only_fails_tensorrt_8():
    node = helper.make_node("Shape", ["x"], ["y"])
    m = _model([node], [helper.make_tensor_value_info("x", F, [1, 3])], [helper.make_tensor_value_info("y", TensorProto.INT64, [2])])
    report = lint_onnx(m)
    [finding] = [f for f in report.errors if f.code == "int64-io"]
    assert finding.targets == ("8.5", "8.6")


def test_non_constant_slice_axes_fail_only_on_8_x():
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Slice", ["x", "st", "en", "shape"], ["y"], name="s")]
    inits = [numpy_helper.from_array(np.array([0, 0], np.int64), "st"), numpy_helper.from_array(np.array([1, 1], np.int64), "en")]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 2])], [helper.make_tensor_value_info("y", F, [1, 1])], inits)
    report = lint_onnx(m)
    [finding] = [f for f in report.errors if f.code == "non-constant-input"]
    assert finding.targets == ("8.5", "8.6") and finding.node == "s"


def test_tables_are_consistent():
    assert TARGETS["8.5"].ops < TARGETS["8.6"].ops < TARGETS["10.3"].ops < TARGETS["10"].ops <= TARGETS["11"].ops
    assert "LayerNormalization" not in TARGETS["8.5"].ops and "LayerNormalization" in TARGETS["8.6"].ops
    assert {"Conv", "Resize", "Sigmoid", "Concat", "Split", "Softmax", "MatMul"} <= TARGETS["8.6"].ops
    assert not TARGETS["11"].implicit_int8 and TARGETS["10"].implicit_int8
    with pytest.raises(ValueError, match="unknown TensorRT target"):
        lint_onnx(_conv_model(), targets=("7",))


def test_verification_frames_folder_errors(tmp_path):
    from skyseg.export.verify_frames import folder_frames
    from skyseg.runtime.errors import InputError

    with pytest.raises(InputError, match="is not a folder"):
        folder_frames(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="holds no FITS or image files"):
        folder_frames(tmp_path)


def test_opset_19_fails_only_tensorrt_8():
    m = _conv_model()
    m.opset_import[0].version = 19
    assert {t for f in lint_onnx(m).errors for t in f.targets} == {"8.5", "8.6"}
    assert lint_onnx(m, targets=("10.3", "10", "11")).ok
