"""Sky-mask assembly on the GPU (TensorRT path): coefficients × protos for kept instances, crop, union, and one
resample to the full frame, without copying protos back to the host.

It mirrors `skyseg.runtime.process.mask_decode.MaskDecoder` step by step — the same content window, the same soft crop
min(logit, k·d) with k = CROP_SLOPE·mean|logit|, max over instances — with CuPy array operations, and then one
CUDA kernel that samples the union logit map bilinearly at every frame pixel (OpenCV's centre convention,
replicated borders) and thresholds it at 0. The result is an H×W bool (or 0/255 uint8) CuPy array; `.get()` it
when a host sink needs it. The kernel samples with `MaskDecoder.frame_affine` and computes what
`mask_decode.bilinear_threshold` computes, in the same float32 order (compiled without fused multiply-adds);
against `MaskDecoder.sky_mask` the masks agree to IoU ≥ 0.999 (cv2.resize on aligned frames may round edge pixels
differently).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from skyseg.runtime.process.gpu_preprocess import BLOCK, cupy_module
from skyseg.runtime.process.letterbox import LetterboxInfo
from skyseg.runtime.process.mask_decode import CROP_SLOPE, MaskDecoder

log = logging.getLogger(__name__)

KERNEL_SOURCE = r"""
extern "C" __global__ void resample_threshold(
    const float* __restrict__ src, const int src_h, const int src_w,
    unsigned char* __restrict__ dst, const int dst_h, const int dst_w,
    const float ax, const float bx, const float ay, const float by, const unsigned char on)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h) return;
    /* source coordinate of this frame pixel (pixel-centre convention folded into bx, by) */
    float fx = ax * x + bx;
    float fy = ay * y + by;
    const float x0f = floorf(fx), y0f = floorf(fy);
    fx -= x0f; fy -= y0f;
    const int x0 = min(max((int)x0f, 0), src_w - 1), x1 = min(max((int)x0f + 1, 0), src_w - 1);
    const int y0 = min(max((int)y0f, 0), src_h - 1), y1 = min(max((int)y0f + 1, 0), src_h - 1);
    const float top = (1.f - fx) * src[y0 * src_w + x0] + fx * src[y0 * src_w + x1];
    const float bot = (1.f - fx) * src[y1 * src_w + x0] + fx * src[y1 * src_w + x1];
    dst[(size_t)y * dst_w + x] = ((1.f - fy) * top + fy * bot) > 0.f ? on : 0;
}
"""


class GpuMaskAssembler:
    """Full-frame sky masks from device-resident protos: `sky_mask(protos, coeffs, boxes_in, info)`."""

    def __init__(self, stream: Any = None) -> None:
        self.cp = cupy_module()
        self.stream = stream
        # no fused multiply-adds: the same float32 rounding as mask_decode.bilinear_threshold
        self._kernel = self.cp.RawKernel(KERNEL_SOURCE, "resample_threshold", options=("--fmad=false",))

    def union_logits(self, protos: Any, coeffs: Any, boxes_in: Any, info: LetterboxInfo) -> tuple[Any, Any]:
        """Max-over-instances cropped logit map on the content window (CuPy), and which instances are non-empty."""
        cp = self.cp
        decoder = MaskDecoder(protos, info)
        r0, r1, c0, c1 = decoder.content_window()
        if len(coeffs) == 0:
            return cp.full((r1 - r0, c1 - c0), -1.0, dtype=cp.float32), cp.zeros(0, dtype=cp.bool_)
        coeffs = cp.asarray(coeffs, dtype=cp.float32)
        sub = cp.ascontiguousarray(protos[:, r0:r1, c0:c1]).reshape(protos.shape[0], -1)
        logits = (coeffs @ sub).reshape(len(coeffs), r1 - r0, c1 - c0)
        k = cp.abs(logits).mean(axis=(1, 2)) * cp.float32(CROP_SLOPE) + cp.float32(1e-6)
        sy, sx = decoder.proto_scale
        b = cp.asarray(boxes_in, dtype=cp.float32) * cp.asarray([sx, sy, sx, sy], dtype=cp.float32)
        cx = cp.arange(c0, c1, dtype=cp.float32)[None, :] + cp.float32(0.5)
        cy = cp.arange(r0, r1, dtype=cp.float32)[None, :] + cp.float32(0.5)
        dx = cp.minimum(cx - b[:, 0, None], b[:, 2, None] - cx)
        dy = cp.minimum(cy - b[:, 1, None], b[:, 3, None] - cy)
        dist = cp.minimum(dy[:, :, None], dx[:, None, :]) * k[:, None, None]
        cropped = cp.minimum(logits, dist)
        nonempty = (cropped > 0).reshape(len(coeffs), -1).any(axis=1)
        return cropped.max(axis=0), nonempty

    def to_frame(self, union: Any, info: LetterboxInfo, protos_shape: tuple[int, ...], on: int = 1,
                 out: Any = None) -> Any:
        """Resample the window logit map to the frame and threshold: H×W uint8 (0/on) CuPy array."""
        cp = self.cp
        decoder = MaskDecoder(_Shape(protos_shape), info)  # type: ignore[arg-type]
        ax, bx, ay, by = decoder.frame_affine()
        h, w = info.src_hw
        if out is None:
            out = cp.empty((h, w), dtype=cp.uint8)
        elif tuple(out.shape) != (h, w) or out.dtype != cp.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 [{h}, {w}] array, got {out.dtype} {tuple(out.shape)}")
        union = cp.ascontiguousarray(union, dtype=cp.float32)
        grid = ((w + BLOCK[0] - 1) // BLOCK[0], (h + BLOCK[1] - 1) // BLOCK[1], 1)
        args = (union, np.int32(union.shape[0]), np.int32(union.shape[1]), out, np.int32(h), np.int32(w),
                np.float32(ax), np.float32(bx), np.float32(ay), np.float32(by), np.uint8(on))
        self._kernel(grid, BLOCK, args, stream=self.stream)
        return out

    def sky_mask(self, protos: Any, coeffs: Any, boxes_in: Any, info: LetterboxInfo) -> Any:
        """H×W bool CuPy sky mask, the GPU twin of `MaskDecoder(protos, info).sky_mask(coeffs, boxes_in)`."""
        protos = self.cp.asarray(protos, dtype=self.cp.float32)
        union, _ = self.union_logits(protos, coeffs, boxes_in, info)
        return self.to_frame(union, info, tuple(protos.shape)).view(self.cp.bool_)


class _Shape:
    """Stands in for a protos array where MaskDecoder only needs its shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
