"""`skyseg run` on ONNX Runtime and OpenVINO writes nothing into the home folder (no telemetry ids, no stats)."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest


@pytest.mark.parametrize("backend", ["ort", "openvino"])
def test_run_leaves_the_home_folder_alone(tmp_path: Path, realsky_dir: Path, backend: str) -> None:
    if backend == "openvino" and find_spec("openvino") is None:
        pytest.skip("OpenVINO is not installed (pip install 'skyseg[openvino]')")
    home = tmp_path / "home"
    home.mkdir()
    frame = next(p for p in sorted(realsky_dir.rglob("*")) if p.suffix.lower() in (".jpg", ".png"))
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env.update(HOME=str(home), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "skyseg.cli.main", "run", str(frame), "--backend", backend,
                           "--threads", "1", "--save-dir", str(tmp_path / "save")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "save" / "results.csv").is_file()
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []  # was .cache/Microsoft/..., intel/...
