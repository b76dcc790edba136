"""Register skyseg's modules with Ultralytics' YAML parser without editing Ultralytics.

Ultralytics' `parse_model` gives width/depth/channel handling only to its own module classes (local frozensets).
`register()` installs a documented wrapper around `ultralytics.nn.tasks.parse_model` that:

1. returns the original parser's result untouched when the YAML names no skyseg module (stock models stay
   byte-identical);
2. otherwise rewrites each skyseg row to a stock *template* module with the same argument convention
   (C3k2OREPA/C3k2Rep → C3k2, OREPA/RepVGGConv → Conv, VSSBlock → C2PSA, SegmentRep → Segment), lets the
   original parser do all the scaling (c2 = make_divisible(min(c2, max_channels)·width, 8), n = max(round(n·depth),
   1), input channels, C3k2's c3k override for m/l/x, Segment's proto width), and
3. swaps each template instance for the skyseg module built with the template's resolved arguments (c1, c2, n,
   c3k; for Segment nc, nm, npr, reg_max, end2end, ch) and the row's remaining YAML arguments.
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

import skyseg.models.training.offline  # noqa: F401  (offline switches before Ultralytics is imported)
from ultralytics.nn import tasks
from ultralytics.nn.modules.block import C3k, C3k2, C2PSA
from ultralytics.nn.modules.conv import Conv
from ultralytics.nn.modules.head import Segment

from skyseg.models.c3k2_rep import C3k2OREPA, C3k2Rep
from skyseg.models.orepa import OREPA
from skyseg.models.repconv import RepVGGConv
from skyseg.models.segment_rep import SegmentRep
from skyseg.models.ss2d import VSSBlock



@dataclass(frozen=True)
class _Template:
    """A stock module with the same YAML argument convention, and how to read the resolved sizes back."""

    name: str
    shared_args: int  # leading YAML args (c2 first) that mean the same thing for the template
    replaced: int  # leading YAML args that `resolve` supersedes (c2; C3k2 also c3k, which m/l/x override)
    resolve: Callable[[nn.Module], list[Any]]  # built template → the leading constructor args for ours


def _conv_args(m: Conv) -> list[Any]:
    return [m.conv.in_channels, m.conv.out_channels]


def _c3k2_args(m: C3k2) -> list[Any]:
    return [m.cv1.conv.in_channels, m.cv2.conv.out_channels, len(m.m), isinstance(m.m[0], C3k)]


def _segment_args(m: Segment) -> list[Any]:
    return [m.nc, m.nm, m.npr, m.reg_max, m.end2end, [b[0].conv.in_channels for b in m.cv2]]


def _c2psa_args(m: C2PSA) -> list[Any]:
    return [m.cv1.conv.in_channels, m.cv2.conv.out_channels, len(m.m)]


# our class → (template, shared YAML args, resolver); ours consume the YAML args after the shared ones too
TEMPLATES: dict[type[nn.Module], _Template] = {
    C3k2OREPA: _Template("C3k2", 3, 2, _c3k2_args),  # YAML [c2, c3k, e, g, shortcut]
    C3k2Rep: _Template("C3k2", 3, 2, _c3k2_args),
    OREPA: _Template("Conv", 3, 1, _conv_args),  # YAML [c2, k, s, g, act]
    RepVGGConv: _Template("Conv", 3, 1, _conv_args),
    VSSBlock: _Template("C2PSA", 2, 1, _c2psa_args),  # YAML [c2, e, d_state]
    SegmentRep: _Template("Segment", 3, 3, _segment_args),  # YAML [nc, nm, npr]; the parser scales npr
}
MODULES: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in TEMPLATES}


def _skyseg_parse_model(d: dict, ch: int, verbose: bool = True) -> tuple[nn.Sequential, list[int]]:
    """`tasks.parse_model` that also understands skyseg's modules (see module docstring)."""
    original = _skyseg_parse_model.original
    rows = d.get("backbone", []) + d.get("head", [])
    ours = {i: MODULES[row[2]] for i, row in enumerate(rows) if isinstance(row[2], str) and row[2] in MODULES}
    if not ours:
        return original(d, ch, verbose)
    d = copy.deepcopy(d)
    yaml_args: dict[int, list[Any]] = {}
    for i, row in enumerate(d["backbone"] + d["head"]):  # the rows are shared by reference with d's lists
        if i in ours:
            template = TEMPLATES[ours[i]]
            yaml_args[i] = list(row[3])
            row[2] = template.name
            row[3] = list(row[3][: template.shared_args])
    model, save = original(d, ch, False)  # its table would name the templates; ours follows
    for i, cls in ours.items():
        model[i] = _swap(model[i], cls, yaml_args[i])
    if verbose:
        _log_layers(model)
    return model, save


def _log_layers(model: nn.Sequential) -> None:
    """Ultralytics-style layer table with the real module types (written to Ultralytics' own logger)."""
    from ultralytics.utils import LOGGER

    LOGGER.info(f"\n{'':>3}{'from':>20}{'n':>3}{'params':>10}  {'module':<45}")
    for layer in model:
        n = len(layer) if isinstance(layer, nn.Sequential) else 1
        LOGGER.info(f"{layer.i:>3}{str(layer.f):>20}{n:>3}{layer.np:10.0f}  {layer.type:<45}")


def _swap(built: nn.Module, cls: type[nn.Module], yaml_args: list[Any]) -> nn.Module:
    """Build `cls` with the template's resolved sizes and the row's other args; keep Ultralytics' layer tags."""
    template = TEMPLATES[cls]
    parts = list(built) if isinstance(built, nn.Sequential) else [built]  # n > 1 on a non-repeat module
    rest = [_literal(a) for a in yaml_args[template.replaced:]]
    rebuilt = [cls(*template.resolve(part), *rest) for part in parts]
    new = rebuilt[0] if len(rebuilt) == 1 else nn.Sequential(*rebuilt)
    new.i, new.f = built.i, built.f
    new.type = f"{cls.__module__}.{cls.__name__}"
    new.np = sum(p.numel() for p in new.parameters())
    return new


def _literal(arg: Any) -> Any:
    """YAML args written as strings ('True', '0.5') become Python literals, as the stock parser does."""
    if isinstance(arg, str):
        try:
            return ast.literal_eval(arg)
        except (ValueError, SyntaxError):
            return arg
    return arg


def register() -> None:
    """Install the parser wrapper (idempotent). Every model built from YAML after this sees skyseg's modules."""
    if getattr(tasks.parse_model, "original", None) is not None:
        return
    _skyseg_parse_model.original = tasks.parse_model
    tasks.parse_model = _skyseg_parse_model
