"""`skyseg serve` stopped by SIGTERM after a model switch: exit 0 with every output closed, every time.

OpenVINO's CPU plug-in used to leave the thread that compiled the first model (the main thread) with an alternate
signal stack that the model switch freed, so the SIGTERM itself crashed the process (exit 139, nothing closed).
"""
from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path

import pytest

from serve_process import start_server, stop_server, wait_for

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")

SOURCE = "test://sky?n=100000&w=160&h=120"  # a stream: its annotated video must be finalised on the way out


def _switch_then_sigterm(tmp: Path, backend: str, models: Path) -> None:
    import httpx

    tmp.mkdir()
    server = start_server(tmp, "--threads", "1", "--max-fps", "8", "--backend", backend, "--models-dir",
                          str(models), source=SOURCE)
    try:
        origin = {"Origin": server.url}
        wait_for(lambda: httpx.get(server.url + "/api/status").json()["frames"] >= 1, what="a first frame")
        switched = httpx.post(server.url + "/api/model", json={"key": "folder:alt.onnx"}, headers=origin, timeout=60)
        assert switched.status_code == 200, switched.text
        before = httpx.get(server.url + "/api/status").json()["frames"]
        wait_for(lambda: httpx.get(server.url + "/api/status").json()["frames"] > before, what="a frame after it")
    finally:
        code = stop_server(server)
    assert code == 0, f"exit {code} after SIGTERM:\n{server.logs()[-3000:]}"
    save = server.save_dir
    assert "live source stopped" in server.logs()
    assert (save / "results.csv").read_text().count("\n") >= 3 and (save / "static_mask.png").is_file()
    videos = list(save.glob("annotated*.mp4"))
    assert videos and all(v.stat().st_size > 0 for v in videos)
    assert not list(save.rglob("*.part")) and not list(save.rglob(".*.tmp"))


@pytest.mark.parametrize(("backend", "rounds"), [("openvino", 10), ("ort", 2)])
def test_sigterm_after_a_model_switch_exits_0(tmp_path: Path, backend: str, rounds: int) -> None:
    if backend == "openvino" and find_spec("openvino") is None:
        pytest.skip("OpenVINO is not installed (pip install 'skyseg[openvino]')")
    from skyseg.runtime.bundled_model import bundled_model_path

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(bundled_model_path(), models / "alt.onnx")
    for i in range(rounds):
        _switch_then_sigterm(tmp_path / f"round{i}", backend, models)
