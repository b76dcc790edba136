"""Python 3.8 (JetPack 5's system Python) must import and run every skyseg module: no type expression that 3.8
evaluates and cannot build.

vermin (tests/jetson/test_jetson_kit.py) misses `tuple[int, int]`, `dict[...]`, `collections.abc.Callable[...]` and
`int | None` written where Python evaluates them (type aliases, casts, isinstance, defaults), and with
`--eval-annotations` it also flags the annotations that `from __future__ import annotations` leaves unevaluated.
This check walks the syntax tree and looks only where an expression is evaluated: everywhere except annotations
(which count too in a module without the `__future__` import). The CI script .ci/jetson_pythons.sh also imports
every runtime module under a real CPython 3.8.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILTIN_GENERICS = {"tuple", "list", "dict", "set", "frozenset", "type"}  # subscriptable from 3.9
MODULE_GENERICS = {  # module -> classes subscriptable only from 3.9 (PEP 585)
    "collections.abc": None,  # every ABC in it
    "collections": {"deque", "defaultdict", "OrderedDict", "Counter", "ChainMap"},
    "contextlib": {"AbstractContextManager", "AbstractAsyncContextManager"},
    "os": {"PathLike"},
    "queue": {"Queue", "SimpleQueue", "LifoQueue", "PriorityQueue"},
    "re": {"Pattern", "Match"},
}
UNION_NAMES = BUILTIN_GENERICS | {"int", "float", "str", "bytes", "bool", "object"}
# Training (PyTorch + Ultralytics) runs on the 3.11 side only; every other package folder runs on a Jetson.
TRAIN_SIDE = {"models"}


def _package_folders() -> list[Path]:
    text = (REPO / "pyproject.toml").read_text()
    folders = re.findall(r'^"skyseg\.[\w.]+" = "([\w/]+)"', text, re.M)
    assert {"runtime", "bench", "synth", "export", "serve", "cli"} <= set(folders)
    return [REPO / d for d in folders if d not in TRAIN_SIDE]


def _annotation_nodes(tree: ast.AST, postponed: bool) -> set[int]:
    """ids of nodes inside annotations that Python does not evaluate."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for body in ast.walk(node):
                if isinstance(body, ast.AnnAssign) and body is not node:
                    skip(body.annotation)  # local variable annotations are never evaluated
            if postponed:
                skip(node.returns)
                for arg in ast.walk(node.args):
                    if isinstance(arg, ast.arg):
                        skip(arg.annotation)
        elif isinstance(node, ast.AnnAssign) and postponed:
            skip(node.annotation)
    return skipped


def _from_imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> 'module' for names imported from the modules in MODULE_GENERICS."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in MODULE_GENERICS:
            allowed = MODULE_GENERICS[node.module]
            for alias in node.names:
                if allowed is None or alias.name in allowed:
                    names[alias.asname or alias.name] = node.module
    return names


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def problems_in(source: str, name: str = "<src>") -> list[str]:
    tree = ast.parse(source, name)
    postponed = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
                    any(a.name == "annotations" for a in n.names) for n in tree.body)
    skipped = _annotation_nodes(tree, postponed)
    imported = _from_imports(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Subscript):
            target = _dotted(node.value)
            module, _, attr = target.rpartition(".")
            if (target in BUILTIN_GENERICS or target in imported
                    or (module in MODULE_GENERICS and (MODULE_GENERICS[module] is None
                                                       or attr in MODULE_GENERICS[module]))):
                found.append(f"{name}:{node.lineno} {target}[...] is evaluated here and needs Python 3.9")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            sides = (node.left, node.right)
            if any(isinstance(s, ast.Constant) and s.value is None for s in sides) or any(
                    _dotted(s) in UNION_NAMES for s in sides):
                found.append(f"{name}:{node.lineno} 'X | Y' of types is evaluated here and needs Python 3.10")
    return found


def test_no_module_builds_types_python_3_8_cannot():
    problems = []
    for folder in _package_folders():
        for path in sorted(folder.rglob("*.py")):
            problems += problems_in(path.read_text(), str(path.relative_to(REPO)))
    assert problems == []


def test_the_check_sees_each_form_and_spares_postponed_annotations():
    bad = '''
from collections.abc import Callable
import collections.abc, os
Alias = tuple[int, int]
Fn = Callable[[int], dict[str, float]]
Opt = int | None
def f(x=list[int]): return isinstance(x, collections.abc.Sequence[int]) or os.PathLike[str]
'''
    found = problems_in(bad)
    assert [f.split()[0] for f in found].count("<src>:4") == 1 and len(found) == 7, found
    fine = '''
from __future__ import annotations
from collections.abc import Callable
from typing import Callable as C, Dict, Optional, Tuple
Alias = Tuple[int, int]
Fn = C[[int], Dict[str, float]]
def f(x: tuple[int, int] | None, g: Callable[[int], list[int]]) -> dict[str, int]:
    y: list[int] = []
    return {}
class A:
    size: tuple[int, int] = (1, 2)
'''
    assert problems_in(fine) == []
    eager = "def f(x: tuple[int, int]) -> None: ...\n"  # no __future__ import: 3.8 evaluates this at def time
    assert problems_in(eager) == ["<src>:1 tuple[...] is evaluated here and needs Python 3.9"]
