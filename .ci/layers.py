"""Check skyseg's import layers with import-linter (contracts: [tool.importlinter] in pyproject.toml).

skyseg installs as a namespace package assembled from top-level folders (pyproject's package-dir), which
import-linter's graph builder cannot walk through an editable install. This script lays the same tree out as
a plain `skyseg/` package in a temporary folder (the .py files only) and runs `lint-imports` on it.

    python .ci/layers.py [--root REPO]      exit 0: every contract kept; 1: a contract broken
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

log = logging.getLogger("layers")


def stage(root: Path, dest: Path) -> None:
    """Copy every package folder named in pyproject's package-dir to dest/skyseg/<name> (.py files only)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    package_dir = config["tool"]["setuptools"]["package-dir"]
    top = dest / "skyseg"
    top.mkdir(parents=True)
    (top / "__init__.py").write_text("")  # replaced by the public face's when package-dir maps `skyseg`
    for package, folder in package_dir.items():
        if package == "skyseg":  # the public face: its __init__.py is the package's own
            shutil.copy(root / folder / "__init__.py", top / "__init__.py")
            continue
        name = package.split(".", 1)[1]
        shutil.copytree(root / folder, top / name,
                        ignore=lambda d, names: [n for n in names
                                                 if not (n.endswith(".py") or (Path(d) / n).is_dir())
                                                 or n == "__pycache__"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    lint = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory(prefix="skyseg-layers-") as tmp:
        stage(args.root, Path(tmp))
        env = dict(os.environ, PYTHONPATH=tmp)
        return subprocess.call([str(lint), str(args.root / "pyproject.toml"), "--no-cache"],
                               cwd=tmp, env=env)


if __name__ == "__main__":
    sys.exit(main())
