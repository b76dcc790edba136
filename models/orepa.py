"""OREPA convolution (Online Convolutional Re-parameterization, Hu et al., CVPR 2022).

Training builds ONE kernel per step from linear branches (each scaled by a learnable per-output-channel vector)
and runs a single conv followed by one BatchNorm; deploy is one Conv2d with bias. For k=3 the six branches of the
paper: k×k origin, 1×1→avg-pool, 1×1 with a fixed frequency (DCT) prior, 1×1→k×k, 1×1, and depthwise-separable.
For k=1: the origin and a 1×1→1×1 expansion.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from skyseg.models.kernels import compose_1x1_kxk, compose_dw_pw, fuse_bn as _fuse_bn, identity_kernel, pad_to

_BRANCHES_K = ("origin", "avg", "prior", "1x1_kxk", "1x1", "dw_pw")
_BRANCHES_1 = ("origin", "1x1_1x1")
_INIT_SCALE = {"origin": 0.25, "avg": 0.25, "prior": 0.25, "1x1_kxk": 0.5, "1x1": 0.5, "dw_pw": 0.25, "1x1_1x1": 0.5}


def _activation(act: bool | nn.Module) -> nn.Module:
    return nn.SiLU() if act is True else act if isinstance(act, nn.Module) else nn.Identity()


def _dct_prior(c2: int, cin_g: int, k: int) -> torch.Tensor:
    """Fixed 2-D DCT-II basis kernels, a different frequency per (out, in) pair: the OREPA frequency prior."""
    pos = torch.arange(k, dtype=torch.float64) + 0.5
    freq = torch.arange(k, dtype=torch.float64)
    basis_1d = torch.cos(math.pi * freq[:, None] * pos[None, :] / k)  # [u, position]
    basis = (basis_1d[:, None, :, None] * basis_1d[None, :, None, :]).reshape(k * k, k, k)  # [u·k+v, y, x]
    index = torch.arange(c2 * cin_g) % (k * k)
    return basis[index].reshape(c2, cin_g, k, k).float()


class OREPA(nn.Module):
    """OREPA conv + BN + activation with Ultralytics' Conv argument order (c1, c2, k, s, g, act)."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, g: int = 1, act: bool | nn.Module = True,
                 deploy: bool = False) -> None:
        super().__init__()
        if k % 2 != 1 or c1 % g or c2 % g:
            raise ValueError(f"OREPA needs an odd k and channels divisible by groups; got k={k}, c1={c1}, c2={c2}, g={g}")
        self.c1, self.c2, self.k, self.s, self.g = c1, c2, k, s, g
        self.act = _activation(act)
        self.deploy = deploy
        if deploy:
            self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=True)
            return
        cin_g = c1 // g
        self.branches = _BRANCHES_K if k > 1 else _BRANCHES_1
        self.weight_origin = nn.Parameter(torch.empty(c2, cin_g, k, k))
        if k > 1:
            self.weight_avg = nn.Parameter(torch.empty(c2, cin_g, 1, 1))
            self.weight_prior = nn.Parameter(torch.empty(c2, cin_g, 1, 1))
            self.register_buffer("prior", _dct_prior(c2, cin_g, k))
            self.weight_1x1_kxk_a = nn.Parameter(torch.zeros(c1, cin_g, 1, 1))  # added to identity below
            self.weight_1x1_kxk_b = nn.Parameter(torch.empty(c2, cin_g, k, k))
            self.weight_1x1 = nn.Parameter(torch.empty(c2, cin_g, 1, 1))
            self.weight_dw = nn.Parameter(torch.empty(c1, 1, k, k))
            self.weight_pw = nn.Parameter(torch.empty(c2, cin_g, 1, 1))
        else:
            self.weight_1x1_kxk_a = nn.Parameter(torch.zeros(c1, cin_g, 1, 1))
            self.weight_1x1_kxk_b = nn.Parameter(torch.empty(c2, cin_g, 1, 1))
        self.register_buffer("id_1x1", identity_kernel(c1, g, 1))
        for name, p in self.named_parameters(recurse=False):
            if p.dim() == 4 and name != "weight_1x1_kxk_a":
                nn.init.kaiming_uniform_(p, a=math.sqrt(5))
        self.vector = nn.Parameter(torch.tensor([[_INIT_SCALE[b]] * c2 for b in self.branches]))
        self.bn = nn.BatchNorm2d(c2)

    def kernel(self) -> torch.Tensor:
        """The single k×k kernel the branches sum to (before BN)."""
        return _branch_kernel(self.branch_weights(), self.vector, self.branches, self.k, self.g)

    def branch_weights(self) -> dict[str, torch.Tensor]:
        """Each branch's own k×k (or 1×1) kernel, before the per-channel scale."""
        k, g = self.k, self.g
        w = {"origin": self.weight_origin}
        first = self.weight_1x1_kxk_a + self.id_1x1
        if k > 1:
            w["avg"] = self.weight_avg * torch.full((1, 1, k, k), 1.0 / (k * k), dtype=self.weight_avg.dtype,
                                                    device=self.weight_avg.device)
            w["prior"] = self.weight_prior * self.prior
            w["1x1_kxk"] = compose_1x1_kxk(first, self.weight_1x1_kxk_b, g)
            w["1x1"] = self.weight_1x1
            w["dw_pw"] = compose_dw_pw(self.weight_dw, self.weight_pw, g)
        else:
            w["1x1_1x1"] = compose_1x1_kxk(first, self.weight_1x1_kxk_b, g)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.act(self.conv(x))
        return self.act(self.bn(F.conv2d(x, self.kernel(), None, self.s, self.k // 2, 1, self.g)))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Collapse the branches and BN into one Conv2d with bias, in place; a second call does nothing."""
        if self.deploy:
            return
        weight, bias = _fuse_bn(self.kernel(), self.bn)
        conv = nn.Conv2d(self.c1, self.c2, self.k, self.s, self.k // 2, groups=self.g, bias=True)
        conv = conv.to(device=weight.device, dtype=weight.dtype)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        for name in [n for n, _ in self.named_parameters(recurse=False)] + ["prior", "id_1x1"]:
            if hasattr(self, name):
                delattr(self, name)
        del self.bn
        self.conv = conv
        self.deploy = True


def _branch_kernel(weights: dict[str, torch.Tensor], vector: torch.Tensor, branches: tuple[str, ...], k: int,
                   g: int) -> torch.Tensor:
    """Sum of the branch kernels, each padded to k×k and scaled per output channel."""
    total = None
    for i, name in enumerate(branches):
        term = pad_to(weights[name], k) * vector[i].reshape(-1, 1, 1, 1)
        total = term if total is None else total + term
    return total
