"""The import layers (pyproject's [tool.importlinter] contracts) hold, and a wrong import breaks them."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = REPO / ".ci" / "layers.py"

pytestmark = pytest.mark.skipif(not Path(sys.executable).with_name("lint-imports").exists(),
                                reason="import-linter is not installed (pip install -e '.[dev]')")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LAYERS), "--root", str(root)], capture_output=True, text=True,
                          timeout=300)


def _copy_repo(dest: Path) -> Path:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    for folder in config["tool"]["setuptools"]["package-dir"].values():
        top = folder.split("/")[0]
        if not (dest / top).exists():
            shutil.copytree(REPO / top, dest / top, ignore=shutil.ignore_patterns("__pycache__", "*.pt", "*.onnx"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_contracts_kept_on_this_tree() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("runtime/frame.py", "import torch  # a wrong import\n", "without the train side"),
    ("runtime/pipeline.py", "from skyseg.synth import render_scene  # a wrong import\n", "stages flow one way"),
    ("models/registry.py", "import skyseg.export.verify  # a wrong import\n", "stages flow one way"),
    ("runtime/sources/uri.py", "from skyseg.runtime.sinks import base  # a wrong import\n", "runtime rooms"),
    ("serve/app.py", "from skyseg.synth import render_scene  # a wrong import\n", "dashboard runs on a Jetson"),
    ("serve/app.py", "import torch  # a wrong import\n", "dashboard runs on a Jetson"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    root = _copy_repo(tmp_path)
    target = root / module
    target.write_text(target.read_text() + "\n" + line)
    done = _lint(root)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if row.rstrip().endswith("BROKEN")]
    assert any(contract in row for row in broken), done.stdout
