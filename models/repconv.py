"""RepVGG-style conv: k×k+BN, 1×1+BN and (when shapes allow) an identity BN in training; one conv when deployed."""
from __future__ import annotations

import torch
from torch import nn

from skyseg.models.kernels import fuse_bn as _fuse_bn, identity_kernel, pad_to


class RepVGGConv(nn.Module):
    """RepVGG block with Ultralytics' Conv argument order (c1, c2, k, s, g, act); named apart from Ultralytics' RepConv."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, g: int = 1, act: bool | nn.Module = True,
                 deploy: bool = False) -> None:
        super().__init__()
        if k % 2 != 1 or k < 3 or c1 % g or c2 % g:
            raise ValueError(f"RepVGGConv needs an odd k ≥ 3 and channels divisible by groups; "
                             f"got k={k}, c1={c1}, c2={c2}, g={g}")
        self.c1, self.c2, self.k, self.s, self.g = c1, c2, k, s, g
        self.act = nn.SiLU() if act is True else act if isinstance(act, nn.Module) else nn.Identity()
        self.deploy = deploy
        if deploy:
            self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=True)
            return
        self.conv_kxk = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn_kxk = nn.BatchNorm2d(c2)
        self.conv_1x1 = nn.Conv2d(c1, c2, 1, s, 0, groups=g, bias=False)
        self.bn_1x1 = nn.BatchNorm2d(c2)
        self.bn_id = nn.BatchNorm2d(c2) if c1 == c2 and s == 1 else None

    @property
    def conv(self) -> nn.Conv2d:
        """The deployed conv; while training, the k×k branch — Ultralytics' head code reads `m[0].conv.in_channels`
        of its box branch as it would of its own Conv, so a RepVGGConv there must answer it."""
        return self._modules["conv" if self.deploy else "conv_kxk"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.act(self.conv(x))
        y = self.bn_kxk(self.conv_kxk(x)) + self.bn_1x1(self.conv_1x1(x))
        if self.bn_id is not None:
            y = y + self.bn_id(x)
        return self.act(y)

    def fused_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of the single conv equal to the sum of the branches in eval mode."""
        w, b = _fuse_bn(self.conv_kxk.weight, self.bn_kxk)
        w1, b1 = _fuse_bn(self.conv_1x1.weight, self.bn_1x1)
        w, b = w + pad_to(w1, self.k), b + b1
        if self.bn_id is not None:
            eye = identity_kernel(self.c1, self.g, self.k, dtype=w.dtype, device=w.device)
            wi, bi = _fuse_bn(eye, self.bn_id)
            w, b = w + wi, b + bi
        return w, b

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Collapse the branches into one Conv2d with bias, in place; a second call does nothing."""
        if self.deploy:
            return
        weight, bias = self.fused_kernel()
        conv = nn.Conv2d(self.c1, self.c2, self.k, self.s, self.k // 2, groups=self.g, bias=True)
        conv = conv.to(device=weight.device, dtype=weight.dtype)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        for name in ("conv_kxk", "bn_kxk", "conv_1x1", "bn_1x1", "bn_id"):
            delattr(self, name)
        self.conv = conv
        self.deploy = True
