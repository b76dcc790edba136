"""Output paths that cannot be used — a file where a folder is needed, a read-only disk — end in one sentence
naming the path and exit 2, never a traceback, for run, bench and demo (real subprocesses)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest



def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skyseg.cli.main", "-q", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture()
def night(tmp_path: Path) -> Path:
    folder = tmp_path / "night"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3)))
    return folder


@pytest.mark.parametrize("command", ["run --masks", "run --save-dir", "bench --json", "demo --out"])
def test_a_file_where_a_folder_is_needed(core_models, command: str, night: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    model = str(core_models.oracle_onnx(64))
    args = {
        "run --masks": ["run", str(night), "--model", model, "--headless", "--masks", str(blocker)],
        "run --save-dir": ["run", str(night), "--model", model, "--headless", "--save-dir", str(blocker)],
        "bench --json": ["bench", model, "--frames", "2", "--warmup", "1", "--json", str(blocker / "r.json")],
        "demo --out": ["demo", "--out", str(blocker)],
    }[command]
    done = _cli(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("E skyseg: ") and str(blocker) in last, last
    assert blocker.read_text() == "not a folder"


def test_a_read_only_disk(core_models, night: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        done = _cli("run", str(night), "--model", str(core_models.oracle_onnx(64)), "--headless",
                    "--save-dir", str(mnt / "out"))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert str(mnt / "out") in last and "Read-only file system" in last, last
