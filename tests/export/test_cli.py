"""The thin CLIs: `skyseg export` (rectangular, real run), `skyseg build` without TensorRT, `skyseg inspect`."""
from __future__ import annotations

import importlib.util
import json

import onnx
import pytest

from skyseg.cli.main import main
from skyseg.export.trt.engine import INSTALL_TENSORRT
from skyseg.runtime.backends.engine_file import PLAN_MAGIC, write_engine_file

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.mark.slow
def test_export_cli_prints_time_size_and_table(rect_cli_export):
    rc, text, out = rect_cli_export
    assert rc == 0, text
    assert f"exported {out} in " in text and " MB" in text
    assert "images [1, 3, 128, 256]" in text and "output1 [1, 32, 32, 64]" in text
    assert "onnx.checker (full): ok" in text and "verification: PASSED" in text
    assert [i.name for i in onnx.load(str(out)).graph.input] == ["images"]


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here; this checks the message shown without it")
def test_build_without_tensorrt_exits_2_with_install_sentence(tmp_path, capsys, caplog):
    rc = main(["build", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.engine"), "--precision", "fp16"])
    assert rc == 2
    assert INSTALL_TENSORRT in caplog.text
    assert "python3-libnvinfer" in INSTALL_TENSORRT and "pip install tensorrt" in INSTALL_TENSORRT
    assert not (tmp_path / "m.engine").exists()


def test_build_rejects_bad_flags_before_anything(tmp_path):
    with pytest.raises(SystemExit) as err:
        main(["build", "m.onnx", "-o", "m.engine", "--raw", "--ultralytics-header"])
    assert err.value.code == 2


@pytest.mark.slow
def test_inspect_onnx(rect_cli_export, capsys):
    _, _, out = rect_cli_export
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "kind: onnx" in text and "precision: fp32" in text and "name=images, dtype=float32, shape=[1, 3, 128, 256]" in text
    assert "names: {0: 'sky'}" in text
    lint = text.split("trt_lint:\n", 1)[1].split("\n", 2)
    # SS2D's LayerNormalization (opset 17) is the one thing JetPack 5.1's TensorRT 8.5 cannot parse
    assert all("LayerNormalization is not supported by the ONNX parser of TRT 8.5" in line for line in lint[:2])
    assert main(["inspect", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outputs"][1]["shape"] == [1, 32, 32, 64] and doc["qdq_nodes"] == 0


@pytest.mark.skipif(HAS_TRT, reason="with TensorRT the fake plan would be deserialized")
def test_inspect_engine_and_sidecar_without_tensorrt(tmp_path, capsys):
    meta = {"task": "segment", "imgsz": [384, 640], "names": {"0": "sky"}}
    side = {"metadata": meta, "tensorrt_version": "10.3.0", "gpu_name": "Orin", "compute_capability": "8.7",
            "precision": "fp16", "build_flags": ["FP16"]}
    engine = write_engine_file(tmp_path / "m.engine", PLAN_MAGIC + bytes(64), meta, ultralytics_header=True, sidecar=side)
    for target in (engine, tmp_path / "m.engine.json"):
        assert main(["inspect", str(target)]) == 0
        text = capsys.readouterr().out
        assert "layout: ultralytics-header" in text and "tensorrt_version: 10.3.0" in text
        assert "precision: fp16" in text and "not installed" in text and "imgsz: [384, 640]" in text


def test_inspect_corrupt_engine_exits_2(tmp_path, caplog):
    bad = tmp_path / "bad.engine"
    bad.write_bytes((500).to_bytes(4, "little", signed=True) + b'{"a": 1}')
    assert main(["inspect", str(bad)]) == 2
    assert "truncated or not an engine" in caplog.text
