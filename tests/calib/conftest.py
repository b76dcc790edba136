"""Shared fixtures for the calibration tests: a behaving yolo11n-seg ONNX and small calibration sets."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("calib_models", Path(__file__).with_name("calib_models.py"))
calib_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calib_models)

IMGSZ = 256


@pytest.fixture(scope="session")
def seg_model() -> Path:
    return calib_models.seg_onnx(IMGSZ)


@pytest.fixture(scope="session")
def synth_calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skyseg.calib.selection import SynthCalibConfig, synth_calibration_set

    out = tmp_path_factory.mktemp("calib") / "synth"
    synth_calibration_set(SynthCalibConfig(out, n=10, seed=1000, size=(320, 240)))
    return out


@pytest.fixture(scope="session")
def ranges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Activation ranges shared by the tests' quantizations (calibration runs once)."""
    return tmp_path_factory.mktemp("ranges") / "ranges.json"


@pytest.fixture(scope="session")
def int8_model(ranges: Path, seg_model: Path, synth_calib: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`skyseg quantize` through the CLI: minmax, head decode float, no sensitivity search."""
    from skyseg.cli.main import main

    out = tmp_path_factory.mktemp("q") / "m.int8.onnx"
    rc = main(["quantize", str(seg_model), "--calib", str(synth_calib), "-o", str(out), "--method", "minmax",
               "--no-sensitivity", "--calib-cache", str(ranges), "--ort-cpu", str(out.with_name("m.int8.cpu.onnx"))])
    assert rc == 0 and out.is_file() and ranges.is_file() and out.with_name("m.int8.cpu.onnx").is_file()
    return out
