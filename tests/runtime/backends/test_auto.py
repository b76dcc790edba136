"""`--backend auto` on an ONNX model: the bundled model raced on real ONNX Runtime and OpenVINO, the choice cached."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.backends import auto
from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.bundled_model import bundled_model_path

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="OpenVINO is not installed (pip install 'skyseg[openvino]')")
KINDS = {"ort": "onnxruntime", "openvino": "openvino"}


@pytest.fixture()
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled model in its own folder; the user cache redirected into tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv(auto.ENV_MEASURE, raising=False)
    folder = tmp_path / "models"
    folder.mkdir()
    return Path(shutil.copy(bundled_model_path(), folder / "sky.onnx"))


def test_choice_is_measured_once_cached_beside_the_model_and_reused(model: Path) -> None:
    first = auto.choose_onnx_backend(model, threads=1)
    cache = model.with_name("sky.onnx.backend.json")
    assert first.source == "measured" and first.cache == cache and cache.is_file()
    assert set(first.measured_ms) == {"ort", "openvino"} and all(v > 0 for v in first.measured_ms.values())
    doc = json.loads(cache.read_text())
    assert doc["choice"] == first.backend and doc["measured_ms"] == first.measured_ms
    assert doc["conditions"]["threads"] == 1 and doc["conditions"]["model_bytes"] == model.stat().st_size
    assert doc["conditions"]["onnxruntime"] and doc["conditions"]["openvino"] and doc["conditions"]["cpu"]
    stamp = cache.stat().st_mtime_ns
    second = auto.choose_onnx_backend(model, threads=1)
    assert second.source == "cache" and second.backend == first.backend and second.measured_ms == first.measured_ms
    assert cache.stat().st_mtime_ns == stamp  # not measured again, not rewritten
    with open_backend(model, threads=1) as backend:  # auto is the default
        assert backend.kind == KINDS[first.backend]
        assert backend.infer(np.zeros((1, 3, *backend.input_hw), np.float32))["output1"].shape[1] == 32
    other = auto.choose_onnx_backend(model, threads=2)  # another thread count is another measurement
    assert other.source == "measured" and json.loads(cache.read_text())["conditions"]["threads"] == 2


def test_a_changed_model_file_is_measured_again(model: Path) -> None:
    import onnx

    assert auto.choose_onnx_backend(model, threads=1).source == "measured"
    proto = onnx.load(str(model))
    proto.metadata_props.add(key="note", value="re-exported")  # same weights, another file
    onnx.save(proto, str(model))
    again = auto.choose_onnx_backend(model, threads=1)
    assert again.source == "measured"
    assert json.loads(again.cache.read_text())["conditions"]["model_sha256"] == auto._model_digest(model)[0]
    description = auto.describe(model)
    assert description["valid"] == "yes" and description["choice"] in auto.NAMES.values()
    from skyseg.export.inspect_model import format_report, inspect_file

    text = format_report(inspect_file(model))  # `skyseg inspect MODEL.onnx` explains the choice
    assert f"choice: {description['choice']}" in text and f"cache: {again.cache}" in text and "valid: yes" in text


def test_a_stale_cache_is_reported_by_describe_and_ignored(model: Path) -> None:
    auto.choose_onnx_backend(model, threads=1)
    cache = model.with_name("sky.onnx.backend.json")
    doc = json.loads(cache.read_text())
    doc["conditions"]["openvino"] = "2020.1"
    doc["choice"] = "ort" if doc["choice"] == "openvino" else "openvino"
    cache.write_text(json.dumps(doc))
    assert "openvino changed" in auto.describe(model)["valid"]
    assert auto.choose_onnx_backend(model, threads=1).source == "measured"


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may create files in: chattr +i for root (who ignores permission bits), else chmod 555."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("running as root on a filesystem without chattr +i: cannot make a folder read-only")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = None
    try:
        yield
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            folder.chmod(0o755)


def test_a_read_only_model_folder_caches_under_the_user_cache(model: Path, tmp_path: Path) -> None:
    with read_only(model.parent):
        first = auto.choose_onnx_backend(model, threads=1)
        second = auto.choose_onnx_backend(model, threads=1)
    assert first.source == "measured" and first.cache is not None
    assert first.cache.parent == tmp_path / "user-cache" / "skyseg" / "backends"
    assert first.cache.name.startswith("sky.onnx.") and first.cache.name.endswith(".backend.json")
    assert not model.with_name("sky.onnx.backend.json").exists()
    assert second.source == "cache" and second.cache == first.cache and second.backend == first.backend


def test_env_skips_measuring(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auto.ENV_MEASURE, "0")
    choice = auto.choose_onnx_backend(model, threads=1)
    assert (choice.backend, choice.source, choice.cache) == ("ort", "rule", None)
    assert not model.with_name("sky.onnx.backend.json").exists()
    assert auto.describe(model)["choice"] == "not measured yet"  # inspect never measures


def test_qdq_models_never_pick_openvino(model: Path) -> None:
    """The bundled model quantized to Q/DQ by ONNX Runtime (both skyseg's forms hold QuantizeLinear nodes)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.items = iter([{"images": rng.random((1, 3, 320, 320), dtype=np.float32)} for _ in range(2)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    int8 = model.with_name("sky.int8.onnx")
    quantize_static(str(model), str(int8), Frames(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    choice = auto.choose_onnx_backend(int8, threads=1)
    assert (choice.backend, choice.source) == ("ort", "rule") and "Q/DQ" in choice.reason
    assert not int8.with_name("sky.int8.onnx.backend.json").exists()
    with open_backend(int8, threads=1) as backend:
        assert backend.kind == "onnxruntime"
    assert auto.describe(int8)["choice"] == "ONNX Runtime"
