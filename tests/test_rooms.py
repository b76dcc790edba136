"""One room per job: every package folder is listed in pyproject (so a wheel ships it), no folder holds more than
15 modules, no module runs past 400 lines, and every sub-package says in its docstring what belongs there."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
MAX_MODULES = 15
MAX_LINES = 400


def _package_folders() -> dict[str, Path]:
    """Every folder with an __init__.py under the top-level package folders, by dotted skyseg name."""
    found = {}
    for package, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            if "__pycache__" in rel.parts:
                continue
            found[".".join([package, *rel.parts])] = init.parent
    return found


def test_every_package_folder_ships() -> None:
    assert sorted(set(_package_folders()) - set(SETUPTOOLS["packages"])) == []


def test_no_crowded_folder_and_no_long_module() -> None:
    crowded, long = [], []
    for name, folder in _package_folders().items():
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if len(modules) > MAX_MODULES:
            crowded.append(f"{name}: {len(modules)} modules")
        long += [f"{p.relative_to(REPO)}: {n} lines" for p in modules
                 if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert crowded == [] and long == []


def test_each_sub_package_says_what_belongs_there() -> None:
    silent = [name for name, folder in _package_folders().items()
              if name.count(".") >= 2 and len(ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or "") < 60]
    assert silent == []
