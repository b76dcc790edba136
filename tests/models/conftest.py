"""Fixtures for tests/models: randomised BatchNorm and branch scales, so fusion errors cannot hide."""
from __future__ import annotations

import pytest
import torch
from torch import nn


def randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running stats and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) * 1.0 - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) - 0.5)


def randomise_params(module: nn.Module, seed: int = 0) -> None:
    """Perturb every OREPA branch scale and zero-initialised weight so each branch contributes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("vector") or name.endswith("weight_1x1_kxk_a"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


@pytest.fixture(scope="session")
def randomise():
    """Callable that randomises BN statistics/affine and OREPA scales of a module in place."""
    def apply(module: nn.Module, seed: int = 0) -> nn.Module:
        randomise_bn(module, seed)
        randomise_params(module, seed)
        return module
    return apply
