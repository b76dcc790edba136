"""`python -m skyseg.bench.compare_profile`: per op type time of one inference on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from skyseg.bench.compare_profile import main
from skyseg.runtime.bundled_model import bundled_model_path


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO is not installed")
def test_profile_table_has_the_convolutions_of_both_engines(capsys: pytest.CaptureFixture[str]) -> None:
    model = bundled_model_path()
    assert main([f"{model}:ort", f"{model}:openvino", "--runs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].count("|") == 4 and "skyseg-n.onnx · ort (ms)" in lines[0]
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    assert rows["Conv"][0] != "—" and float(rows["Conv"][0]) > 0  # ONNX Runtime's fused FP32 convs
    assert float(rows["Convolution f32"][1]) > 0  # OpenVINO's, f32 forced
    total = rows["**sum of op times**"]
    assert all(float(v.strip("*")) >= float(rows["Conv"][0] if i == 0 else rows["Convolution f32"][1])
               for i, v in enumerate(total))


def test_bad_config_is_one_sentence(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main([f"{tmp_path / 'none.onnx'}:ort"]) == 2
    assert "expected MODEL:ort or MODEL:openvino[:bf16]" in caplog.text
