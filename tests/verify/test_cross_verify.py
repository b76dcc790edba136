"""`skyseg verify`: the same frames through several backends; broken backends are named and fail with exit 3."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from skyseg.cli.main import main
from skyseg.export.cross_verify import VerifyConfig, backend_label, cross_verify
from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.runtime.errors import InputError, VerificationError

HEADER = "| backend | model | status | input | sky IoU mean | sky IoU min | instances agree |"


def test_identical_models_agree_exactly(tiny_model: tuple[Path, Path], copy_model: Path, frames_dir: Path) -> None:
    report = cross_verify(VerifyConfig(models=(str(tiny_model[1]), str(copy_model)), images=str(frames_dir)))
    ref, other = report.backends
    assert (ref.status, other.status) == ("reference", "pass")
    assert other.frames == 8 and other.iou_mean == other.iou_min == 1.0 and other.instances_agree == 1.0
    assert other.max_diff == {"boxes_px": 0.0, "scores": 0.0, "coeffs": 0.0, "protos": 0.0}
    assert ref.instances_mean > 0  # the frames give the model something to segment
    report.raise_for_failures()  # no exception


def test_torch_reference_vs_onnx_runtime(tiny_model: tuple[Path, Path], frames_dir: Path) -> None:
    pt, onnx_path = tiny_model
    report = cross_verify(VerifyConfig(models=(str(onnx_path),), reference=str(pt), images=str(frames_dir)))
    ref, ort = report.backends
    assert (ref.label, ref.status, ref.input_hw) == ("torch-deploy", "reference", [160, 160])
    assert (ort.label, ort.status) == ("ort-fp32", "pass")
    assert ort.iou_mean >= 0.99
    # float32 summation order alone (torch's thread count when the fixture exported and folded the weights) moves
    # this random-weight model's boxes by up to 0.07 px: bound them at 1e-3 of the 160 px input
    assert ort.max_diff["boxes_px"] < 0.16 and ort.max_diff["scores"] < 1e-3 and ort.max_diff["protos"] < 1e-2


def test_perturbed_conv_fails_with_exit_3(tiny_model: tuple[Path, Path], perturbed_model: Path, frames_dir: Path,
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "verify.json"
    with caplog.at_level(logging.ERROR):
        rc = main(["verify", str(tiny_model[1]), str(perturbed_model), "--images", str(frames_dir),
                   "--json", str(out)])
    assert rc == 3
    table = capsys.readouterr().out
    assert HEADER in table
    assert "| ort-fp32 | perturbed.onnx | FAIL |" in table
    assert "1 backend(s) disagree with the reference tiny.onnx: ort-fp32 (perturbed.onnx: mean sky-mask IoU" in caplog.text
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1 and doc["min_iou"] == 0.99 and len(doc["frames"]) == 8
    broken = doc["backends"][1]
    assert broken["status"] == "FAIL" and broken["iou_mean"] < 0.99 and broken["max_diff"]["scores"] > 1e-3


def test_naively_quantized_head_is_caught(tiny_model: tuple[Path, Path], naive_int8_model: Path,
                                          frames_dir: Path) -> None:
    report = cross_verify(VerifyConfig(models=(str(tiny_model[1]), str(naive_int8_model)), images=str(frames_dir)))
    int8 = report.backends[1]
    assert int8.label == "ort-int8-qdq"
    assert int8.status == "FAIL" and int8.iou_mean < 0.99
    with pytest.raises(VerificationError, match=r"ort-int8-qdq \(naive.int8.onnx: mean sky-mask IoU"):
        report.raise_for_failures()


def test_int8_models_are_judged_by_the_int8_threshold(tiny_model: tuple[Path, Path], naive_int8_model: Path,
                                                      frames_dir: Path) -> None:
    models = (str(tiny_model[1]), str(naive_int8_model))
    lenient = cross_verify(VerifyConfig(models=models, images=str(frames_dir), min_iou=1.0, min_iou_int8=0.0))
    strict = cross_verify(VerifyConfig(models=models, images=str(frames_dir), min_iou=0.0, min_iou_int8=1.0))
    assert lenient.backends[1].status == "pass" and strict.backends[1].status == "FAIL"
    assert strict.backends[1].reason.startswith(f"mean sky-mask IoU {strict.backends[1].iou_mean:.4f} < 1.0 ")
    assert lenient.to_json()["min_iou_int8"] == 0.0 and "(INT8: ≥ 0.0)" in lenient.markdown()


def test_engine_precision_comes_from_its_sidecar(tmp_path: Path) -> None:
    from skyseg.export.cross_verify import is_int8

    for precision, expect in (("int8", True), ("best", True), ("fp16", False)):
        engine = tmp_path / f"{precision}.engine"
        engine.write_bytes(b"plan")
        (tmp_path / f"{precision}.engine.json").write_text(json.dumps({"precision": precision}))
        assert is_int8(str(engine), "trt") is expect
    assert not is_int8(str(tmp_path / "none.engine"), "trt")  # no sidecar: judged as a float engine


def test_labels_tell_the_two_int8_forms_apart(tiny_model: tuple[Path, Path], naive_int8_model: Path,
                                              tmp_path: Path) -> None:
    from skyseg.calib.ort_cpu import write_ort_cpu_form

    cpu = write_ort_cpu_form(naive_int8_model, tmp_path / "naive.int8.ort-cpu.onnx")
    assert [backend_label(str(p))[0] for p in (tiny_model[0], tiny_model[1], naive_int8_model, cpu)] == [
        "torch-deploy", "ort-fp32", "ort-int8-qdq", "ort-int8-cpu"]


@pytest.mark.skipif(__import__("importlib").util.find_spec("tensorrt") is not None,
                    reason="TensorRT is installed: the engine would be run, not skipped")
def test_engine_without_tensorrt_is_listed_as_skipped(tiny_model: tuple[Path, Path], frames_dir: Path,
                                                      tmp_path: Path) -> None:
    engine = tmp_path / "tiny.engine"
    engine.write_bytes(b"not a real plan")
    report = cross_verify(VerifyConfig(models=(str(tiny_model[1]), str(engine)), images=str(frames_dir)))
    skipped = report.backends[1]
    assert (skipped.label, skipped.status) == ("trt", "skipped")
    assert skipped.reason.startswith("skipped: the tensorrt Python package is not installed here")
    assert report.failed == []
    assert "- trt: skipped: the tensorrt Python package" in report.markdown()


@pytest.mark.skipif(__import__("importlib").util.find_spec("tensorrt") is not None,
                    reason="TensorRT is installed: the engine would be run, not skipped")
def test_cli_does_not_pass_a_skipped_engine(tiny_model: tuple[Path, Path], frames_dir: Path, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Regression: `verify` with an engine on a machine without TensorRT exited 0 (a false pass for CI)."""
    engine = tmp_path / "tiny.engine"
    engine.write_bytes(b"not a real plan")
    argv = ["verify", str(tiny_model[1]), str(engine), "--images", str(frames_dir), "--max-frames", "2"]
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 4
    assert "1 backend(s) could not run here and were not verified: trt (tiny.engine)" in caplog.text
    assert main(argv + ["--allow-skip"]) == 0


def test_real_16bit_fits_frames(tiny_model: tuple[Path, Path], copy_model: Path, realsky_dir: Path,
                               realsky_count: int) -> None:
    report = cross_verify(VerifyConfig(models=(str(tiny_model[1]), str(copy_model)), images=str(realsky_dir)))
    assert len(report.frames) == realsky_count and any(name.endswith(".fits.gz") for name in report.frames)
    assert report.backends[1].status == "pass" and report.backends[1].iou_min == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "absent.onnx", "--images", "."], "model absent.onnx does not exist"),
        (["verify", "{onnx}", "--images", "{missing}"], "is not a folder"),
        (["verify", "{onnx}", "--images", "{empty}"], "no readable frames in"),
    ],
)
def test_bad_inputs_exit_2(tiny_model: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
                           argv: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.png").write_bytes(b"not a png")
    fill = {"onnx": str(tiny_model[1]), "missing": str(tmp_path / "nope"), "empty": str(tmp_path / "empty")}
    with caplog.at_level(logging.ERROR):
        rc = main([a.format(**fill) for a in argv])
    assert rc == 2
    assert message in caplog.text


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (np.zeros((4, 4), bool), np.zeros((4, 4), bool), 1.0),
        (np.ones((4, 4), bool), np.zeros((4, 4), bool), 0.0),
        (np.eye(4, dtype=bool), np.ones((4, 4), bool), 0.25),
    ],
)
def test_mask_iou(a: np.ndarray, b: np.ndarray, expected: float) -> None:
    assert mask_iou(a, b) == expected


def test_unknown_model_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected .pt, .onnx, .engine or .plan"):
        backend_label(str(tmp_path / "model.tflite"))
