"""`--backend auto` on an ONNX model: every form present raced on real ONNX Runtime and OpenVINO, gated on real
frames' sky masks, the choice cached under the user cache with what it depends on."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.backends import auto, auto_measure
from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.bundled_model import bundled_model_path

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="OpenVINO is not installed (pip install 'skyseg[openvino]')")
KINDS = {"ort": "onnxruntime", "openvino": "openvino"}
FRAMES = ("cta_cloudy.fits.gz", "iceact_starry.fits", "indiallsky_20210421_043940.jpg")


@pytest.fixture()
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, realsky_dir: Path) -> Path:
    """A copy of the bundled model in its own folder; the user cache redirected into tmp_path; three real frames
    for the accuracy check (all of datasets/realsky would take longer, and the gate is the same)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv(auto.ENV_MEASURE, raising=False)
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in FRAMES:
        shutil.copy(realsky_dir / name, frames / name)
    monkeypatch.setenv(auto_measure.ENV_FRAMES, str(frames))
    folder = tmp_path / "models"
    folder.mkdir()
    return Path(shutil.copy(bundled_model_path(), folder / "sky.onnx"))


def test_choice_is_measured_once_cached_in_the_user_cache_and_reused(model: Path, tmp_path: Path) -> None:
    first = auto.choose_onnx_backend(model, threads=1)
    assert first.source == "measured" and first.cache is not None and first.cache.is_file()
    assert first.cache.parent == tmp_path / "user-cache" / "skyseg" / "backends"
    assert sorted(p.name for p in model.parent.iterdir()) == ["sky.onnx"]  # nothing written beside the model
    names = [e["name"] for e in first.evidence]
    assert names[:2] == ["onnxruntime fp32", "openvino f32"]
    assert all(e["ms"] > 0 for e in first.evidence) and all(e["iou_min"] >= e["gate"] for e in first.evidence
                                                            if not e["rejected"])
    assert first.name in names and first.backend in KINDS
    doc = json.loads(first.cache.read_text())
    assert doc["name"] == first.name and doc["evidence"] == first.evidence
    assert doc["conditions"]["threads"] == 1 and doc["conditions"]["model_bytes"] == model.stat().st_size
    assert doc["conditions"]["onnxruntime"] and doc["conditions"]["openvino"] and doc["conditions"]["cpu"]
    assert "3 real frames" in doc["frames"]
    stamp = first.cache.stat().st_mtime_ns
    second = auto.choose_onnx_backend(model, threads=1)
    assert second.source == "cache" and (second.name, second.options) == (first.name, first.options)
    assert first.cache.stat().st_mtime_ns == stamp  # not measured again, not rewritten
    with open_backend(model, threads=1) as backend:  # auto is the default
        assert backend.kind == KINDS[first.backend]
        assert backend.infer(np.zeros((1, 3, *backend.input_hw), np.float32))["output1"].shape[1] == 32
    from skyseg.export.inspect_model import format_report, inspect_file

    text = format_report(inspect_file(model))  # `skyseg inspect MODEL.onnx` explains the choice and the evidence
    assert "valid: yes" in text and f"cache: {first.cache}" in text and "openvino f32:" in text
    other = auto.choose_onnx_backend(model, threads=2)  # another thread count is another measurement
    assert other.source == "measured" and json.loads(other.cache.read_text())["conditions"]["threads"] == 2


def _broken_copy(model: Path, target: Path) -> Path:
    """The model with its first convolution's weights sign-flipped: it runs exactly as fast, and paints nonsense."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(model))
    for init in proto.graph.initializer:
        if init.name == "model.0.conv.weight":
            init.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(init), init.name))
            break
    else:
        raise AssertionError("model.0.conv.weight not found")
    onnx.save(proto, str(target))
    return target


def test_accuracy_gate_refuses_a_broken_fast_candidate(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken INT8 form beside the model, made the fastest of all by its timing: it is measured, rejected for
    its masks on the real frames, and never chosen."""
    broken = _broken_copy(model, model.with_name("sky.int8.cpu.onnx"))
    real_time = auto_measure._time

    def broken_wins(open_ones, x):  # the real timing, then the broken candidate claims to be 100x faster
        real_time(open_ones, x)
        for ev, _ in open_ones:
            if ev.candidate.model == broken:
                ev.ms = min(e.ms for e, _ in open_ones) / 100

    monkeypatch.setattr(auto_measure, "_time", broken_wins)
    choice = auto.choose_onnx_backend(model, threads=1)
    by_name = {e["name"]: e for e in choice.evidence}
    for name in ("onnxruntime int8", "openvino int8 (cpu form)"):
        assert by_name[name]["model"] == broken.name and by_name[name]["ms"] is not None
        assert by_name[name]["iou_min"] < 0.98 and "INT8 gate" in by_name[name]["rejected"]
    assert choice.model != broken and "onnxruntime int8 (sky IoU" in choice.reason
    assert "rejected: sky IoU" in auto.describe(model)["candidates"]["openvino int8 (cpu form)"]


def test_cache_is_invalidated_by_a_new_model_host_or_library(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    assert auto.choose_onnx_backend(model, threads=1).source == "measured"
    assert auto.choose_onnx_backend(model, threads=1).source == "cache"
    proto = onnx.load(str(model))
    proto.metadata_props.add(key="note", value="re-exported")  # same weights, another file
    onnx.save(proto, str(model))
    assert "model_sha256" in auto.describe(model)["valid"]
    again = auto.choose_onnx_backend(model, threads=1)
    assert again.source == "measured"
    assert json.loads(again.cache.read_text())["conditions"]["model_sha256"] == auto._model_digest(model)[0]
    monkeypatch.setattr(auto, "cpu_model", lambda: "Another CPU @ 1.0GHz")  # the same disk on another host
    assert "cpu changed" in auto.describe(model)["valid"]
    assert auto.choose_onnx_backend(model, threads=1).source == "measured"
    real_version = auto._dist_version
    monkeypatch.setattr(auto, "_dist_version", lambda *names: "2020.1" if "openvino" in names else
                        real_version(*names))  # an OpenVINO upgrade
    assert "openvino changed" in auto.describe(model)["valid"]
    assert auto.choose_onnx_backend(model, threads=1).source == "measured"
    assert auto.choose_onnx_backend(model, threads=1).source == "cache"


def test_env_skips_measuring(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auto.ENV_MEASURE, "0")
    choice = auto.choose_onnx_backend(model, threads=1)
    assert (choice.backend, choice.source, choice.cache) == ("ort", "rule", None)
    assert not auto.cache_path(model).exists()
    assert auto.describe(model)["choice"] == "not measured yet"  # inspect never measures


def test_qdq_model_given_as_the_model_runs_on_onnx_runtime(model: Path) -> None:
    """The bundled model quantized to Q/DQ by ONNX Runtime and passed itself: nothing to check it against."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.items = iter([{"images": rng.random((1, 3, 320, 320), dtype=np.float32)} for _ in range(2)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    int8 = model.with_name("sky.int8.onnx")
    quantize_static(str(model), str(int8), Frames(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["Conv"])
    choice = auto.choose_onnx_backend(int8, threads=1)
    assert (choice.backend, choice.source) == ("ort", "rule") and "Q/DQ" in choice.reason
    assert not auto.cache_path(int8).exists()
    with open_backend(int8, threads=1) as backend:
        assert backend.kind == "onnxruntime"
    assert auto.describe(int8)["choice"] == "ONNX Runtime"


def test_default_accuracy_frames_are_the_real_frames_in_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $SKYSEG_AUTO_FRAMES: all of datasets/realsky and a fixed third of datasets/realpool's frames."""
    monkeypatch.delenv(auto_measure.ENV_FRAMES, raising=False)
    files, where = auto_measure.frame_files()
    repo = Path(__file__).resolve().parents[3] / "datasets"
    realsky = sorted((repo / "realsky" / "images" / "val").iterdir())
    pool = [p for p in sorted((repo / "realpool" / "images" / "val").iterdir()) if p.is_file()]
    assert files[: len(realsky)] == [p for p in realsky if p.is_file()] and len(realsky) == 9
    assert files[len(realsky):] == pool[:: auto_measure.POOL_STEP] and len(files) == 9 + 12
    assert "datasets/realsky" in where
