"""A real `skyseg serve` on a free loopback port, fed by a looped folder of generated night frames at a camera-like
pace, shared by the tests of one module (started once per module, stopped with SIGTERM)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Iterator

import cv2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from serve_process import MAX_UPLOAD_MB, Server, start_server, stop_server  # needs sys.path


@pytest.fixture(scope="module")  # per module, so it is not running (and using CPU) while other folders' tests run
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("starlette", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")
    pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")
    from skyseg.runtime.bundled_model import bundled_model_path

    tmp = tmp_path_factory.mktemp("serve")
    models = tmp / "models"
    models.mkdir()
    shutil.copy(bundled_model_path(), models / "alt.onnx")  # a second model for the picker
    (models / "notes.txt").write_text("not a model: not listed")
    srv = start_server(tmp, "--loop", "--max-fps", "3", "--threads", "1", "--max-upload-mb", str(MAX_UPLOAD_MB),
                       "--models-dir", str(models))
    yield srv
    stop_server(srv)


@pytest.fixture()
def client(server: Server) -> Iterator[object]:
    import httpx

    # the Origin a browser sends from the dashboard's own page: requests that change something need it
    with httpx.Client(base_url=server.url, timeout=60, headers={"Origin": server.url}) as c:
        yield c


@pytest.fixture(scope="session")
def upload_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good, deep, corrupt and wrong files to upload."""
    from skyseg.synth import render_scene

    folder = tmp_path_factory.mktemp("uploads-in")
    files = {}
    scene = render_scene(7, kind="allsky", size=(320, 240), bit_depth=8)
    files["good"] = folder / "good.png"
    cv2.imwrite(str(files["good"]), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    deep = render_scene(8, kind="camera", size=(320, 240), bit_depth=16)
    files["deep"] = folder / "deep16.png"
    cv2.imwrite(str(files["deep"]), cv2.cvtColor(deep.image, cv2.COLOR_RGB2BGR))
    files["jpeg"] = folder / "frame.jpg"
    cv2.imwrite(str(files["jpeg"]), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    files["corrupt"] = folder / "corrupt.png"
    files["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 64)
    files["misnamed"] = folder / "photo.png"
    files["misnamed"].write_bytes(files["jpeg"].read_bytes())
    files["pickle"] = folder / "weights.pt"
    files["pickle"].write_bytes(b"PK\x03\x04 not really a checkpoint")
    files["text"] = folder / "notes.txt"
    files["text"].write_text("not an image")
    files["bad_onnx"] = folder / "broken.onnx"
    files["bad_onnx"].write_bytes(b"\x08\x07" + b"not a model" * 10)
    files["big"] = folder / "big.png"
    files["big"].write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom((MAX_UPLOAD_MB + 1) * 1024 * 1024))
    return files
