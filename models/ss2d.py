"""SS2D (2-D selective scan, Mamba-YOLO/VMamba style) and the VSS block that places it in a YOLO backbone.

SS2D: in_proj 1×1 (C → 2·d_inner) → depthwise 3×3 + SiLU → four scan orders (row-major, column-major, and both
reversed) → per-direction x_proj (Δ-rank, B, C) and dt_proj → selective scan with A = −exp(A_logs) and D skip →
merge of the four directions → LayerNorm → gate SiLU(z) → out_proj 1×1. Cost ∝ 4·d_inner·d_state·H·W state
cells, so it belongs on the smallest map (P5). Deploy form: A precomputed (`A_neg` buffer), same ops otherwise.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from ultralytics.nn.modules.conv import Conv

from skyseg.models.reparam import fold_stock_convs
from skyseg.models.selective_scan import DEFAULT_CHUNK, selective_scan, softplus

_DIRECTIONS = 4


class SS2D(nn.Module):
    """2-D selective scan over four directions on an NCHW map; channels in = channels out."""

    def __init__(self, c: int, d_inner: int | None = None, d_state: int = 8, dt_rank: int | None = None,
                 chunk: int = DEFAULT_CHUNK, deploy: bool = False) -> None:
        super().__init__()
        self.c = c
        self.d_inner = d_inner = d_inner or c
        self.d_state = d_state
        self.dt_rank = dt_rank = dt_rank or math.ceil(c / 16)
        self.chunk = chunk
        self.deploy = deploy
        k = _DIRECTIONS
        self.in_proj = nn.Conv2d(c, 2 * d_inner, 1, bias=False)
        self.dwconv = nn.Conv2d(d_inner, d_inner, 3, 1, 1, groups=d_inner, bias=True)
        self.act = nn.SiLU()
        self.x_proj_weight = nn.Parameter(torch.empty(k, dt_rank + 2 * d_state, d_inner))
        self.dt_proj_weight = nn.Parameter(torch.empty(k, d_inner, dt_rank))
        self.dt_bias = nn.Parameter(torch.empty(k, d_inner, 1))
        self.Ds = nn.Parameter(torch.ones(k, d_inner))
        a_init = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k, d_inner, 1)  # S4D-real
        if deploy:
            self.register_buffer("A_neg", -torch.exp(a_init))
        else:
            self.A_logs = nn.Parameter(a_init)
        self.norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Conv2d(d_inner, c, 1, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.uniform_(self.x_proj_weight, -self.d_inner ** -0.5, self.d_inner ** -0.5)
        nn.init.uniform_(self.dt_proj_weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        with torch.no_grad():  # Mamba's Δ init: softplus(bias) log-uniform in [1e-3, 1e-1]
            dt = torch.exp(torch.rand(self.dt_bias.shape) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def a_matrix(self) -> torch.Tensor:
        """A = −exp(A_logs), [directions, d_inner, d_state]."""
        return self.A_neg if self.deploy else -torch.exp(self.A_logs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        xz = self.in_proj(x)
        u, z = xz[:, : self.d_inner], xz[:, self.d_inner:]
        u = self.act(self.dwconv(u))
        row = u.flatten(2)  # [b, d, L] row-major
        col = u.transpose(2, 3).flatten(2)  # column-major
        xs = torch.stack((row, col, row.flip(-1), col.flip(-1)), dim=1)  # [b, 4, d, L]
        dbc = torch.matmul(self.x_proj_weight, xs)  # [b, 4, R+2N, L]
        dt, bs, cs = dbc.split((self.dt_rank, self.d_state, self.d_state), dim=2)
        delta = softplus(torch.matmul(self.dt_proj_weight, dt) + self.dt_bias)  # [b, 4, d, L]
        y = selective_scan(xs, delta, self.a_matrix(), bs, cs, self.Ds, self.chunk)
        y_row = y[:, 0] + y[:, 2].flip(-1)
        y_col = (y[:, 1] + y[:, 3].flip(-1)).reshape(b, self.d_inner, w, h).transpose(2, 3)
        y = (y_row.reshape(b, self.d_inner, h, w) + y_col).permute(0, 2, 3, 1)  # NHWC for LayerNorm
        y = self.norm(y).permute(0, 3, 1, 2) * self.act(z)
        return self.out_proj(y)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Export form: precompute A = −exp(A_logs) as a buffer; a second call does nothing."""
        if self.deploy:
            return
        a_neg = -torch.exp(self.A_logs)
        del self.A_logs
        self.register_buffer("A_neg", a_neg)
        self.deploy = True


class VSSBlock(nn.Module):
    """C2PSA-shaped block with an SS2D mixer: (c1, c2, n=1, e=0.5, d_state=8).

    cv1 splits into a bypass half and a mixed half of c = c2·e channels; the mixed half gets n rounds of
    x + SS2D(LN(x)) and x + FFN(x); cv2 merges both halves. c1 must equal c2 (as in C2PSA).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5, d_state: int = 8, deploy: bool = False) -> None:
        super().__init__()
        if c1 != c2:
            raise ValueError(f"VSSBlock keeps its width: c1 must equal c2, got {c1} and {c2}")
        self.c = c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * c, 1, 1)
        self.cv2 = Conv(2 * c, c1, 1)
        self.m = nn.Sequential(*(_VSSLayer(c, d_state, deploy) for _ in range(n)))
        if deploy:
            fold_stock_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class _VSSLayer(nn.Module):
    """x + SS2D(LN(x)), then x + FFN(x) with a 1×1 Conv pair (BN folds at deploy)."""

    def __init__(self, c: int, d_state: int, deploy: bool) -> None:
        super().__init__()
        self.norm = _ChannelLayerNorm(c)
        self.ss2d = SS2D(c, c, d_state, deploy=deploy)
        self.ffn = nn.Sequential(Conv(c, 2 * c, 1), Conv(2 * c, c, 1, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ss2d(self.norm(x))
        return x + self.ffn(x)


class _ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
