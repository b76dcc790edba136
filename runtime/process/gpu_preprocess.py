"""Letterbox + normalise + HWC→CHW on the GPU (TensorRT path): a frame crosses from host to GPU once, as uint8.

One CUDA kernel (CuPy RawKernel, compiled by NVRTC on first use) writes the float32 [1, 3, H, W] model input
directly, reproducing `skyseg.runtime.process.letterbox.letterbox` + `to_tensor`: OpenCV's INTER_LINEAR resize (half-pixel
centres, source index clamped at the borders, result rounded to uint8), grey 114 padding, /255. It agrees with
the CPU path within 1/255 (OpenCV interpolates in 11-bit fixed point; the kernel in float).

16-bit and float frames are stretched to uint8 on the host first (`to_rgb8`, the one shared stretch), so
calibration, verification and the GPU path all see the same pixels. CuPy is imported lazily.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from skyseg.runtime.errors import MissingDependencyError
from skyseg.runtime.process.letterbox import PAD_VALUE, LetterboxInfo, letterbox_geometry

log = logging.getLogger(__name__)
PAD_FLOAT = np.float32(PAD_VALUE) * np.float32(1 / 255)  # the padding as `letterbox.to_tensor` scales it

CUPY_HINT = ("GPU pre/post-processing needs CuPy built for your CUDA: `pip install cupy-cuda12x` "
             "(cupy-cuda11x on JetPack 5)")
BLOCK = (32, 8, 1)

KERNEL_SOURCE = r"""
extern "C" __global__ void letterbox_chw(
    const unsigned char* __restrict__ src, const int src_h, const int src_w, const int channels, const int src_stride,
    float* __restrict__ dst, const int dst_h, const int dst_w,
    const int pad_top, const int pad_left, const int res_h, const int res_w,
    const float scale_y, const float scale_x, const float pad_value)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h) return;
    const int plane = dst_h * dst_w;
    const int o = y * dst_w + x;
    const int rx = x - pad_left;
    const int ry = y - pad_top;
    if (rx < 0 || ry < 0 || rx >= res_w || ry >= res_h) {
        dst[o] = pad_value; dst[o + plane] = pad_value; dst[o + 2 * plane] = pad_value;
        return;
    }
    /* OpenCV INTER_LINEAR: centre-aligned source coordinate, clamped at both borders */
    float fx = (rx + 0.5f) * scale_x - 0.5f;
    int sx = (int)floorf(fx);
    fx -= sx;
    if (sx < 0) { sx = 0; fx = 0.f; }
    if (sx >= src_w - 1) { sx = src_w - 1; fx = 0.f; }
    const int sx1 = min(sx + 1, src_w - 1);
    float fy = (ry + 0.5f) * scale_y - 0.5f;
    int sy = (int)floorf(fy);
    fy -= sy;
    if (sy < 0) { sy = 0; fy = 0.f; }
    if (sy >= src_h - 1) { sy = src_h - 1; fy = 0.f; }
    const int sy1 = min(sy + 1, src_h - 1);
    const unsigned char* r0 = src + (size_t)sy * src_stride;
    const unsigned char* r1 = src + (size_t)sy1 * src_stride;
    for (int c = 0; c < 3; ++c) {
        const int k = channels == 1 ? 0 : c;
        const float top = (1.f - fx) * r0[sx * channels + k] + fx * r0[sx1 * channels + k];
        const float bot = (1.f - fx) * r1[sx * channels + k] + fx * r1[sx1 * channels + k];
        const float v = floorf((1.f - fy) * top + fy * bot + 0.5f);  /* the resized image is uint8 */
        dst[o + c * plane] = v * (1.f / 255.f);
    }
}
"""


def cupy_module() -> Any:
    """Import CuPy lazily, naming the package to install when it is missing."""
    try:
        import cupy
    except ImportError:
        raise MissingDependencyError(CUPY_HINT) from None
    return cupy


def kernel_scales(info: LetterboxInfo) -> tuple[float, float]:
    """(scale_y, scale_x): source pixels per resized pixel, as OpenCV's resize computes them."""
    (h, w), (nh, nw) = info.src_hw, info.resized_hw
    return h / nh, w / nw


def letterbox_reference(pixels: np.ndarray, dst_hw: tuple[int, int]) -> tuple[np.ndarray, LetterboxInfo]:
    """NumPy model of the kernel (same formula, float32): uint8 H×W×3 or H×W → float32 [1, 3, H, W]."""
    src = pixels if pixels.ndim == 3 else pixels[..., None]
    h, w, ch = src.shape
    info = letterbox_geometry((h, w), dst_hw)
    nh, nw = info.resized_hw
    sy_scale, sx_scale = (np.float32(s) for s in kernel_scales(info))

    def axis(n_out: int, n_src: int, scale: np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
        i0 = np.floor(f).astype(np.int64)
        f = f - i0
        low, high = i0 < 0, i0 >= n_src - 1
        i0 = np.where(low, 0, np.where(high, n_src - 1, i0))
        f = np.where(low | high, np.float32(0), f).astype(np.float32)
        return i0, np.minimum(i0 + 1, n_src - 1), f

    x0, x1, fx = axis(nw, w, sx_scale)
    y0, y1, fy = axis(nh, h, sy_scale)
    img = src.astype(np.float32)
    if ch == 1:
        img = np.repeat(img, 3, axis=2)
    img = img[..., :3]
    top = (1 - fx)[None, :, None] * img[y0][:, x0] + fx[None, :, None] * img[y0][:, x1]
    bot = (1 - fx)[None, :, None] * img[y1][:, x0] + fx[None, :, None] * img[y1][:, x1]
    resized = np.floor((1 - fy)[:, None, None] * top + fy[:, None, None] * bot + np.float32(0.5))
    out = np.full((1, 3, *dst_hw), PAD_FLOAT, dtype=np.float32)
    out[0, :, info.pad_top : info.pad_top + nh, info.pad_left : info.pad_left + nw] = (
        resized.transpose(2, 0, 1) * np.float32(1 / 255)
    )
    return out, info


class GpuPreprocessor:
    """Uploads a uint8 frame and writes the letterboxed float32 input on the GPU, reusing its buffers.

    `__call__(pixels, out=None)` returns (CuPy array [1, 3, H, W], LetterboxInfo); `out` may be a CuPy array
    of that shape (e.g. wrapping a TensorRT input binding) so the kernel writes straight into it.
    """

    def __init__(self, input_hw: tuple[int, int], stream: Any = None) -> None:
        self.cp = cupy_module()
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self.stream = stream
        # no fused multiply-adds: FMA rounding put values at .5 on the other side of letterbox_reference's rounding
        self._kernel = self.cp.RawKernel(KERNEL_SOURCE, "letterbox_chw", options=("--fmad=false",))
        self._src: Any = None
        self._out: Any = None

    def _upload(self, pixels: np.ndarray) -> Any:
        if self._src is None or self._src.shape != pixels.shape:
            self._src = self.cp.empty(pixels.shape, dtype=self.cp.uint8)
        self._src.set(np.ascontiguousarray(pixels), stream=self.stream)
        return self._src

    def __call__(self, pixels: Any, out: Any = None) -> tuple[Any, LetterboxInfo]:
        cp = self.cp
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3)):
            raise ValueError(f"GPU letterbox expects uint8 H×W×3 or H×W frames (stretch deeper frames with "
                             f"to_rgb8 first), got shape {pixels.shape} dtype {pixels.dtype}")
        src = pixels if isinstance(pixels, cp.ndarray) else self._upload(pixels)
        src = cp.ascontiguousarray(src)
        h, w = src.shape[:2]
        channels = 1 if src.ndim == 2 else src.shape[2]
        info = letterbox_geometry((h, w), self.input_hw)
        dh, dw = self.input_hw
        if out is None:
            if self._out is None:
                self._out = cp.empty((1, 3, dh, dw), dtype=cp.float32)
            out = self._out
        elif tuple(out.shape) != (1, 3, dh, dw) or out.dtype != cp.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 [1, 3, {dh}, {dw}] array, got {out.dtype} "
                             f"{tuple(out.shape)}")
        sy, sx = kernel_scales(info)
        grid = ((dw + BLOCK[0] - 1) // BLOCK[0], (dh + BLOCK[1] - 1) // BLOCK[1], 1)
        args = (src, np.int32(h), np.int32(w), np.int32(channels), np.int32(w * channels), out, np.int32(dh),
                np.int32(dw), np.int32(info.pad_top), np.int32(info.pad_left), np.int32(info.resized_hw[0]),
                np.int32(info.resized_hw[1]), np.float32(sy), np.float32(sx), PAD_FLOAT)
        self._kernel(grid, BLOCK, args, stream=self.stream)
        return out, info
