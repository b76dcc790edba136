"""C3k2-family blocks whose bottlenecks use OREPA or RepVGG convs, with Ultralytics' C3k2 argument order.

`C3k2OREPA(c1, c2, n=1, c3k=False, e=0.5, g=1, shortcut=True)` and `C3k2Rep(...)` keep C2f's split/concat
layout, so the YAML parser scales them exactly like stock C3k2 (see skyseg.models.registry).
"""
from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules.conv import Conv

from skyseg.models.orepa import OREPA
from skyseg.models.repconv import RepVGGConv
from skyseg.models.reparam import fold_stock_convs


class RepBottleneck(nn.Module):
    """Bottleneck (two 3×3 convs, optional residual) whose convs are OREPA (kind='orepa') or RepVGG+Conv ('rep')."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5, kind: str = "orepa",
                 deploy: bool = False) -> None:
        super().__init__()
        c_ = int(c2 * e)
        if kind == "orepa":
            self.cv1 = OREPA(c1, c_, 3, 1, deploy=deploy)
            self.cv2 = OREPA(c_, c2, 3, 1, g=g, deploy=deploy)
        elif kind == "rep":
            self.cv1 = RepVGGConv(c1, c_, 3, 1, deploy=deploy)
            self.cv2 = Conv(c_, c2, 3, 1, g=g)
            if deploy:
                fold_stock_convs(self.cv2)
        else:
            raise ValueError(f"RepBottleneck kind must be 'orepa' or 'rep', got {kind!r}")
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class RepC3k(nn.Module):
    """C3k (CSP with n bottlenecks) built from RepBottlenecks; used when c3k=True."""

    def __init__(self, c1: int, c2: int, n: int = 2, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 kind: str = "orepa", deploy: bool = False) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(RepBottleneck(c_, c_, shortcut, g, 1.0, kind, deploy) for _ in range(n)))
        if deploy:
            fold_stock_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class _RepC3k2(nn.Module):
    """C2f layout (split, n blocks, concat of all) with Rep bottlenecks; subclasses pick the conv kind."""

    kind = "orepa"

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, g: int = 1,
                 shortcut: bool = True, deploy: bool = False) -> None:
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(
            RepC3k(self.c, self.c, 2, shortcut, g, kind=self.kind, deploy=deploy) if c3k
            else RepBottleneck(self.c, self.c, shortcut, g, kind=self.kind, deploy=deploy)
            for _ in range(n)
        )
        if deploy:
            fold_stock_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class C3k2OREPA(_RepC3k2):
    """C3k2 with OREPA bottlenecks: richer training-time kernels, a plain 3×3 conv at deploy."""

    kind = "orepa"


class C3k2Rep(_RepC3k2):
    """C3k2 with RepVGG bottlenecks (3×3 + 1×1 + identity in training), a plain 3×3 conv at deploy."""

    kind = "rep"
