"""`skyseg serve` writes only under its save dir (and `--backend auto`'s choice under ~/.cache/skyseg): no
/tmp/openpyxl.* for an .xlsx download, no ONNX Runtime / OpenVINO telemetry in the home folder, nothing beside the
model."""
from __future__ import annotations

import ctypes
import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

from serve_process import start_server, stop_server, wait_for

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")


class CreatedFiles:
    """Names created in a folder, seen by inotify: openpyxl's temp files live only while a workbook is saved."""

    def __init__(self, folder: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        assert self.fd >= 0 and self.libc.inotify_add_watch(self.fd, str(folder).encode(), 0x100) >= 0  # IN_CREATE

    def names(self) -> list[str]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        found, at = [], 0
        while at < len(data):
            _, _, _, size = struct.unpack_from("iIII", data, at)
            found.append(data[at + 16: at + 16 + size].rstrip(b"\0").decode())
            at += 16 + size
        return found


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches the temp folder with Linux inotify")
def test_serve_writes_only_where_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    from skyseg.runtime.bundled_model import bundled_model_path

    home, system_tmp, models = tmp_path / "home", tmp_path / "system-tmp", tmp_path / "models"
    for folder in (home, system_tmp, models):
        folder.mkdir()
    model = models / "sky.onnx"
    shutil.copy(bundled_model_path(), model)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setenv("SKYSEG_AUTO_MEASURE", "1")
    for name in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)
    created = CreatedFiles(system_tmp)
    server = start_server(tmp_path, "--threads", "1", "--max-fps", "4", "--loop", "--model", str(model))
    try:
        wait_for(lambda: httpx.get(server.url + "/api/status").json()["frames"] >= 2, what="two frames")
        xlsx = httpx.get(server.url + "/api/results.xlsx", timeout=60)
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        assert created.names() == []  # openpyxl made its sheet files under SAVE_DIR/.tmp, not in the system's
    finally:
        assert stop_server(server) == 0, server.logs()
    assert _files(system_tmp) == [] and not (server.save_dir / ".tmp").exists()
    assert _files(models) == ["sky.onnx"]  # no sky.onnx.backend.json beside the model
    assert all(f.startswith(".cache/skyseg/") for f in _files(home)), _files(home)  # no ~/intel, ~/.cache/Microsoft
