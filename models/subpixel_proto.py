"""Deploy form of Ultralytics' mask `Proto`: the 2× transposed conv and the 3×3 conv after it become one small
conv at the input resolution whose outputs are the four sub-pixel phases (a sub-pixel convolution).

Proto is cv1 (3×3 conv, SiLU) → ConvTranspose2d(2×2, stride 2) → cv2 (3×3 conv, BN, SiLU) → cv3 (1×1, BN, SiLU).
The transposed conv and cv2's conv are both linear, so their composite is linear too: an output pixel
(2i+a, 2j+b) of cv2 reads a 3×3 window of the upsampled map, which comes from a 2×2 window of cv1's output,
and which 2×2 window depends only on the phase (a, b). So cv2∘upsample = one 2×2 conv with padding 1 giving
4 × c_ channels at (H+1)×(W+1); phase (a, b) is its crop [a:a+H, b:b+W]. The transposed conv's bias reaches
cv2 only through in-bounds taps, so it needs an input channel that is constant inside the map and zero in the
padding (like the upsampled map's zero border): cv1 gets one extra output channel with zero weights and bias
`CONST_PRE`, i.e. the constant SiLU(CONST_PRE) ≈ 2.86, and the phase conv reads it with the bias kernel divided
by that constant. (A concatenated ones channel would do the same, but a Concat between cv1 and the phase conv
breaks INT8 Q/DQ placement; this way the chain stays conv → conv. The constant is large enough that INT8
rounding moves it by well under 1 %.) SiLU and the 1×1 cv3 act per pixel, so they run per phase before the
phases are interleaved (a grouped 1×1 conv, 4 groups). Exact up to float rounding.

Cost at the n scale (c_ = 64, 80×80 → 160×160 protos): 1.05 G multiply-adds (transposed conv + 3×3 at 160²)
become 0.44 G (2×2 at 81², 65 → 256 channels), and no 64-channel 160² intermediate is written.
"""
from __future__ import annotations

import math

import torch
from torch import nn

PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) sub-pixel offsets; channel block p of the phase conv
CONST_PRE = 3.0  # pre-activation of cv1's constant channel: SiLU(3) = 2.8577…


def _tap(phase: int, k3: int) -> tuple[int, int]:
    """For sub-pixel offset `phase` ∈ {0, 1} and tap `k3` ∈ {0, 1, 2} of the 3×3 conv on the upsampled map:
    (tap u of the 2×2 phase conv, transposed-conv kernel index s). The tap reads upsampled row 2i+phase+k3−1,
    i.e. input row i+q with q = floor((phase+k3−1)/2) and s = (phase+k3−1) mod 2; the 2×2 conv's tap u reads
    row i+phase+u−1, so u = q+1−phase."""
    r = phase + k3 - 1
    q, s = r // 2, r % 2
    return q + 1 - phase, s


class SubPixelProto(nn.Module):
    """Proto in deploy form: cv1 (+1 constant channel) → 2×2 phase conv → SiLU → grouped 1×1 → SiLU → interleave."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32) -> None:
        super().__init__()
        self.c2 = c2
        self.cv1 = nn.Conv2d(c1, c_ + 1, 3, 1, 1)  # the last channel is the constant that carries the bias
        self.phase_conv = nn.Conv2d(c_ + 1, 4 * c_, 2, 1, 1)
        self.phase_proj = nn.Conv2d(4 * c_, 4 * c2, 1, groups=4)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.cv1(x))
        y = self.act(self.phase_proj(self.act(self.phase_conv(x))))  # [b, 4·c2, H+1, W+1]
        b, _, h1, w1 = y.shape
        h, w, c2 = h1 - 1, w1 - 1, self.c2
        crops = [y[:, p * c2:(p + 1) * c2, a:a + h, s:s + w] for p, (a, s) in enumerate(PHASES)]
        y = torch.stack(crops, 1).reshape(b, 2, 2, c2, h, w)  # [b, row phase, col phase, c, i, j]
        return y.permute(0, 3, 4, 1, 5, 2).reshape(b, c2, 2 * h, 2 * w)  # out[c, 2i+a, 2j+s]

    @classmethod
    @torch.no_grad()
    def from_proto(cls, proto: nn.Module) -> "SubPixelProto":
        """Build from an Ultralytics Proto whose convs are BN-folded (`Conv.forward_fuse`) or still carry BN."""
        from skyseg.models.kernels import fuse_bn

        def folded(conv_block: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
            conv = conv_block.conv
            if hasattr(conv_block, "bn"):
                return fuse_bn(conv.weight, conv_block.bn)
            return conv.weight, conv.bias if conv.bias is not None else torch.zeros_like(conv.weight[:, 0, 0, 0])

        w1, b1 = folded(proto.cv1)
        w3, b3 = folded(proto.cv2)
        wp, bp = folded(proto.cv3)
        up = proto.upsample
        wt = up.weight  # [c_, c_, 2, 2]: (in, out, s, t)
        bt = up.bias if up.bias is not None else torch.zeros_like(wt[0, :, 0, 0])
        c_, c2 = w3.shape[0], wp.shape[0]
        m = cls(w1.shape[1], c_, c2).to(device=w1.device, dtype=w1.dtype)
        m.cv1.weight.copy_(torch.cat((w1, torch.zeros_like(w1[:1]))))
        m.cv1.bias.copy_(torch.cat((b1, b1.new_full((1,), CONST_PRE))))
        const = CONST_PRE / (1.0 + math.exp(-CONST_PRE))  # SiLU(CONST_PRE), in float64
        kernel = torch.zeros(4, c_, c_ + 1, 2, 2, dtype=w3.dtype, device=w3.device)
        for p, (a, b) in enumerate(PHASES):
            for dy in range(3):
                u, s = _tap(a, dy)
                for dx in range(3):
                    v, t = _tap(b, dx)
                    tap = w3[:, :, dy, dx]  # [c_out, c_mid]
                    kernel[p, :, :c_, u, v] += tap @ wt[:, :, s, t].T  # through the transposed conv
                    kernel[p, :, c_, u, v] += tap @ bt / const  # its bias, on the constant channel
        m.phase_conv.weight.copy_(kernel.reshape(4 * c_, c_ + 1, 2, 2))
        m.phase_conv.bias.copy_(b3.repeat(4))
        m.phase_proj.weight.copy_(wp.repeat(4, 1, 1, 1))
        m.phase_proj.bias.copy_(bp.repeat(4))
        return m
