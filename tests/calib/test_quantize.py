"""Q/DQ structure of the quantized graph, the head kept float, and the score-collapse regression."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from skyseg.calib import graph
from skyseg.calib.report import AccuracyConfig, accuracy_report
from skyseg.cli.main import main


@pytest.fixture(scope="module")
def naive_model(int8_model: Path, ranges: Path, seg_model: Path, synth_calib: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skyseg.calib.quantize import QuantizeConfig, quantize_model

    out = tmp_path_factory.mktemp("naive") / "m.naive.onnx"
    quantize_model(QuantizeConfig(seg_model, synth_calib, out, method="minmax", keep_head_float=False,
                                  sensitivity=False, calib_cache=ranges))
    return out


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in model.graph.node for o in n.output}


def test_head_found_from_graph_not_hard_coded(seg_model: Path) -> None:
    fp32 = onnx.load(str(seg_model))
    blocks = graph.blocks(fp32)
    assert graph.find_head_index(fp32) == max(blocks) == 23  # stock yolo11n-seg: the head is the last block
    floats = set(graph.head_float_nodes(fp32))
    names = {n.name: n.op_type for n in fp32.graph.node}
    decode = [n for n, op in names.items() if n.startswith("/model.23/") and op in ("Concat", "Softmax")]
    assert decode and set(decode) <= floats
    assert "/model.23/Sigmoid" in floats and "/model.23/dfl/conv/Conv" in floats
    # the head's 3×3 conv modules (most of its work) stay quantizable
    assert "/model.23/cv2.0/cv2.0.0/conv/Conv" not in floats
    assert not any(n.startswith("/model.22/") for n in floats)


def test_every_quantized_conv_is_fed_by_dequantize(seg_model: Path, int8_model: Path) -> None:
    fp32, q = onnx.load(str(seg_model)), onnx.load(str(int8_model))
    stem = graph.stem_float_nodes(fp32)
    assert stem == ["/model.0/conv/Conv", "/model.0/act/Sigmoid", "/model.0/act/Mul"]
    excluded = graph.head_float_nodes(fp32) + stem
    prod = _producers(q)
    stem_conv = next(n for n in q.graph.node if n.name == stem[0])
    assert stem_conv.input[0] == "images"  # the image itself is never quantized
    assert graph.scan_float_nodes(fp32) == []  # stock yolo11n-seg has no SS2D
    convs = [n for n in q.graph.node if n.op_type == "Conv"]
    quantized = [n for n in convs if n.name not in excluded]
    assert len(quantized) >= 80  # the whole backbone, neck and head conv modules
    for node in quantized:
        for i in node.input[:2]:
            assert prod[i].op_type == "DequantizeLinear", f"{node.name} input {i} is not dequantized"
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    for node in quantized:  # per-channel symmetric INT8 weights, as Q→DQ on the float weights (TensorRT's form)
        dq = prod[node.input[1]]
        qw = prod[dq.input[0]]
        assert qw.op_type == "QuantizeLinear" and inits[qw.input[0]].dtype == np.float32
        w, scale = inits[qw.input[0]], inits[qw.input[1]]
        axis = next(a.i for a in qw.attribute if a.name == "axis")
        assert scale.shape == (w.shape[axis],) and inits[qw.input[2]].dtype == np.int8
        if len(node.input) > 2:  # biases stay float: TensorRT rejects an INT32 DequantizeLinear
            assert node.input[2] in inits and inits[node.input[2]].dtype == np.float32
    for node in q.graph.node:  # signed INT8 everywhere, zero point 0, never a DQ reading a constant
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any(), node.name
        if node.op_type == "DequantizeLinear":
            assert node.input[0] not in inits, node.name


def test_no_qdq_in_excluded_head_ops(seg_model: Path, int8_model: Path) -> None:
    fp32, q = onnx.load(str(seg_model)), onnx.load(str(int8_model))
    excluded = graph.head_float_nodes(fp32)
    summary = graph.summarize_qdq(q, excluded)
    assert summary.ok and not summary.quantized_excluded
    prod = _producers(q)
    decode = [n for n in q.graph.node if n.name in excluded and n.op_type not in graph.WEIGHTED_OPS]
    assert len(decode) > 20
    for node in decode:
        assert all(prod[i].op_type not in ("QuantizeLinear", "DequantizeLinear") for i in node.input if i in prod)
    out0 = prod["output0"]
    assert out0.op_type == "Concat" and out0.name in excluded


def test_naive_head_quantization_is_flagged_by_report(seg_model: Path, int8_model: Path,
                                                      naive_model: Path) -> None:
    summary = graph.summarize_qdq(onnx.load(str(naive_model)), graph.head_float_nodes(onnx.load(str(seg_model))))
    assert "/model.23/Concat_1" in summary.quantized_excluded  # box pixels and scores under one scale
    bad = accuracy_report(AccuracyConfig(seg_model, naive_model, synth_frames=3, synth_size=(320, 240)))
    good = accuracy_report(AccuracyConfig(seg_model, int8_model, synth_frames=3, synth_size=(320, 240)))
    assert bad["verdict"] == "flagged"
    assert any(f.startswith("score_collapse") for f in bad["flags"]), bad["flags"]
    assert bad["datasets"]["synthetic"]["overall"]["max_score_ratio_median"] < 0.5
    assert not any(f.startswith("score_collapse") for f in good["flags"]), good["flags"]
    ratio = good["datasets"]["synthetic"]["overall"]["max_score_ratio_median"]
    assert 0.8 < ratio < 1.25
    assert good["datasets"]["synthetic"]["overall"]["instances_fp32"] > 0  # the comparison is not vacuous


def test_exclude_pattern_keeps_a_block_float(int8_model: Path, ranges: Path, seg_model: Path, synth_calib: Path,
                                             tmp_path: Path) -> None:
    from skyseg.calib.quantize import QuantizeConfig, quantize_model

    out = tmp_path / "m.ex.onnx"
    res = quantize_model(QuantizeConfig(seg_model, synth_calib, out, method="minmax", exclude=("/model.2/*",),
                                        sensitivity=False, calib_cache=ranges))
    q = onnx.load(str(out))
    prod = _producers(q)
    block2 = [n for n in q.graph.node if n.op_type == "Conv" and n.name.startswith("/model.2/")]
    assert block2 and all(n.input[1] not in prod for n in block2)  # float weights straight from initializers
    assert all(n in res.excluded_nodes for n in (b.name for b in block2))
    meta = {p.key: p.value for p in q.metadata_props}
    assert meta["precision"] == "int8-qdq" and len(meta["calibration_manifest_sha256"]) == 64
    assert meta["names"] == "{0: 'sky'}"  # Ultralytics metadata survives quantization


def test_unknown_exclude_pattern_is_an_error(seg_model: Path, synth_calib: Path, tmp_path: Path) -> None:
    rc = main(["quantize", str(seg_model), "--calib", str(synth_calib), "-o", str(tmp_path / "x.onnx"),
               "--exclude", "/model.99/*", "--no-sensitivity"])
    assert rc == 2 and not (tmp_path / "x.onnx").exists()


def test_chunked_minmax_calibration_equals_one_pass(seg_model: Path, synth_calib: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from onnxruntime.quantization.calibrate import load_tensors_data

    from skyseg.calib import ort_qdq
    from skyseg.calib.calib_set import CalibrationSet

    entries = CalibrationSet.load(synth_calib).entries[:6]
    settings = ort_qdq.QdqSettings(method="minmax")
    ranges = {}
    for chunk in (100, 3):  # one collect call vs. two (3 + 3 frames), merged by the calibrator
        monkeypatch.setattr(ort_qdq, "CALIB_CHUNK", chunk)
        cache = tmp_path / f"r{chunk}.json"
        ort_qdq.calibrate(seg_model, entries, "images", (256, 256), settings, cache, tmp_path)
        ranges[chunk] = load_tensors_data(cache).data
    assert ranges[3].keys() == ranges[100].keys() and len(ranges[3]) > 100
    for name, whole in ranges[100].items():
        np.testing.assert_allclose(ranges[3][name].range_value, whole.range_value, rtol=1e-6, err_msg=name)


@pytest.fixture(scope="module")
def skyseg_fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh yolo11n-sky-seg (SS2D at P5) exported at 128, without the export's own verification."""
    from skyseg.export.fresh_weights import build_fresh_checkpoint
    from skyseg.export.onnx_export import ExportConfig, export_onnx

    root = tmp_path_factory.mktemp("skyseg-q")
    pt = build_fresh_checkpoint(root / "sky.pt", cfg="yolo11n-sky-seg.yaml", imgsz=128, active_fraction=0.02)
    return export_onnx(ExportConfig(pt, root / "sky.onnx", imgsz=(128, 128), verify=False)).path


def _quantized_scan_outputs(q: onnx.ModelProto, scan: set[str]) -> int:
    """QuantizeLinear nodes that read an output of a scan node."""
    prod = _producers(q)
    return sum(1 for n in q.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in prod
               and prod[n.input[0]].name in scan)


def test_ss2d_scan_and_norms_stay_float(skyseg_fp32: Path, synth_calib: Path, tmp_path: Path) -> None:
    from skyseg.calib.quantize import QuantizeConfig, quantize_model

    fp32 = onnx.load(str(skyseg_fp32))
    scan = set(graph.scan_float_nodes(fp32))
    ops = {n.op_type for n in fp32.graph.node if n.name in scan}
    assert {"Exp", "Mul", "Add", "ReduceSum", "MatMul", "LayerNormalization"} <= ops and "Conv" not in ops
    convs = {n.name for n in fp32.graph.node if n.op_type == "Conv" and "/ss2d/" in n.name}
    assert convs == {f"/model.10/m/m.0/ss2d/{m}/Conv" for m in ("in_proj", "dwconv", "out_proj")}
    consumers: dict[str, list[str]] = {}
    for n in fp32.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    feeding_convs = sum(1 for n in fp32.graph.node if n.name in scan and "Conv" in consumers.get(n.output[0], []))

    counts = {}
    for keep in (True, False):
        out = tmp_path / f"scan_{keep}.onnx"
        res = quantize_model(QuantizeConfig(skyseg_fp32, synth_calib, out, method="minmax", sensitivity=False,
                                            keep_scan_float=keep))
        q = onnx.load(str(out))
        counts[keep] = _quantized_scan_outputs(q, scan)
        assert res.quantized_convs >= 80  # the SS2D convs and everything else stay INT8 either way
        if keep:
            kept = {n.name for n in q.graph.node if n.op_type == "Conv" and "/ss2d/" in n.name
                    and _producers(q)[n.input[1]].op_type == "DequantizeLinear"}
            assert kept == convs
    assert counts[True] <= feeding_convs  # only the gate product that feeds out_proj is quantized
    assert counts[False] > 20  # without the rule, the scan's steps are rounded to INT8


def test_the_hold_out_judges_every_real_frame_not_the_mean(seg_model: Path, int8_model: Path, naive_model: Path) -> None:
    """Real night frames join the hold-out, and a model is scored by its worst frame (below its mean), the FP32
    model against itself by 1.0; the naive INT8 model (head quantized) loses the sky on every frame."""
    from skyseg.calib.quantize import model_input, real_holdout
    from skyseg.calib.sensitivity import HoldoutEvaluator

    real = Path(__file__).resolve().parents[2] / "datasets" / "realsky" / "images" / "val"
    _, hw = model_input(onnx.load(str(seg_model)))
    held = real_holdout((real,), hw)
    assert sorted(h[0] for h in held) == sorted(p.name for p in real.iterdir())
    evaluator = HoldoutEvaluator(seg_model, [h[1] for h in held], [h[2] for h in held], names=[h[0] for h in held])
    assert evaluator.evaluate(seg_model)[0] == 1.0
    scores = {}
    for model in (int8_model, naive_model):
        worst, _ = evaluator.evaluate(model)
        ious = evaluator.last
        assert len(ious) == len(held) and worst == min(ious.values()) == evaluator.worst()[1]
        scores[model] = (worst, float(np.mean(list(ious.values()))))
    assert scores[int8_model][0] < scores[int8_model][1] < 1.0  # one frame is worse than the mean says
    assert scores[naive_model] == (0.0, 0.0)  # the quantized decode loses the sky on every frame


def test_the_default_real_hold_out_is_what_auto_does_not_check() -> None:
    """quantize tunes on real frames that --backend auto's INT8 gate never sees, so the gate stays independent."""
    from skyseg.calib.quantize import real_holdout
    from skyseg.runtime.backends.auto_measure import frame_files

    held = {name for name, _, _ in real_holdout(None, (96, 160))}
    checked = {p.name for p in frame_files()[0]}
    assert len(held) == 24 and len(checked) == 21 and not held & checked
