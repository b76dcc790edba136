"""Pure kernel/bias arithmetic shared by the reparameterizable blocks (no modules, no state)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm that follows a bias-free conv with `kernel` into (weight, bias)."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


def pad_to(kernel: torch.Tensor, k: int) -> torch.Tensor:
    """Zero-pad a centred (kh, kw) kernel to k×k (odd sizes), so branches of different sizes can be summed."""
    p = (k - kernel.shape[-1]) // 2
    return F.pad(kernel, (p, p, p, p)) if p > 0 else kernel


def identity_kernel(channels: int, groups: int, k: int, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """A k×k grouped kernel that maps each channel to itself (the identity branch of RepVGG/OREPA)."""
    per_group = channels // groups
    eye = torch.zeros(channels, per_group, k, k, dtype=dtype, device=device)
    for i in range(channels):
        eye[i, i % per_group, k // 2, k // 2] = 1.0
    return eye


def compose_1x1_kxk(first: torch.Tensor, second: torch.Tensor, groups: int) -> torch.Tensor:
    """Kernel of a grouped 1×1 conv `first` [m, c1/g, 1, 1] followed by a grouped k×k conv `second` [c2, m/g, k, k].

    Exact because neither conv has a bias and zero padding of the input maps to zero after a bias-free 1×1.
    """
    m, cin_g = first.shape[:2]
    c2, m_g, kh, kw = second.shape
    a = first.reshape(groups, m // groups, cin_g)  # g, m/g, cin/g
    b = second.reshape(groups, c2 // groups, m_g, kh * kw)  # g, c2/g, m/g, kk
    out = torch.matmul(b.transpose(2, 3), a.unsqueeze(1))  # g, c2/g, kk, cin/g
    return out.permute(0, 1, 3, 2).reshape(c2, cin_g, kh, kw)


def compose_dw_pw(dw: torch.Tensor, pw: torch.Tensor, groups: int) -> torch.Tensor:
    """Kernel of a depthwise k×k conv `dw` [c1, 1, k, k] followed by a grouped 1×1 conv `pw` [c2, c1/g, 1, 1]."""
    c1, _, kh, kw = dw.shape
    c2, cin_g = pw.shape[:2]
    dw_g = dw.reshape(groups, 1, cin_g, kh, kw)  # which input channels each group sees
    pw_g = pw.reshape(groups, c2 // groups, cin_g, 1, 1)
    return (pw_g * dw_g).reshape(c2, cin_g, kh, kw)
