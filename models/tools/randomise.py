"""Randomised BatchNorm statistics/affine and OREPA branch scales, so a fusion error cannot hide behind
BatchNorm's identity initialisation. Used by the equivalence tests and `skyseg.models.tools.gpu_check`."""
from __future__ import annotations

import torch
from torch import nn


def randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm2d non-trivial running statistics and affine parameters, in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g, device="cpu") * 1.0 - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g, device="cpu") * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g, device="cpu") + 0.5)
                m.bias.copy_(torch.rand(c, generator=g, device="cpu") - 0.5)


def randomise_branch_scales(module: nn.Module, seed: int = 0) -> None:
    """Perturb every OREPA branch scale and zero-initialised weight so each branch contributes, in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("vector") or name.endswith("weight_1x1_kxk_a"):
                p.copy_(torch.randn(p.shape, generator=g, device="cpu") * 0.5)


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Both of the above; returns the module."""
    randomise_bn(module, seed)
    randomise_branch_scales(module, seed)
    return module
