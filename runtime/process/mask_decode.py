"""Mask assembly from prototypes: instance masks at proto resolution and the full-frame union sky mask.

Ultralytics multiplies coefficients by protos for every kept instance and upsamples each mask (≈8 ms per
instance at 640 on a CPU). We only touch the proto rows/columns that hold the frame (not the letterbox
padding), crop at proto resolution, take the per-pixel maximum logit over instances, and warp that ONE map to
the frame size. Thresholding a bilinearly resampled logit map at 0 keeps sub-pixel horizon edges, as
Ultralytics' logit upsampling does, while costing one resize per frame whatever the instance count.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from skyseg.runtime.process.letterbox import LetterboxInfo

# Crop sharpness: an instance is cropped as min(logit, CROP_SLOPE·mean|logit|·d), d = signed distance to its box
# edge in proto pixels. Small enough that the box edge, not the logit, decides the crossing next to the edge;
# large enough not to bend logit edges inside the box. 0.1 measured best against a per-instance exact decode.
CROP_SLOPE = 0.1


@dataclass(frozen=True)
class MaskDecoder:
    """Protos of one frame plus the letterbox geometry: everything needed to turn coefficients into masks."""

    protos: np.ndarray  # float32 [32, mh, mw]
    info: LetterboxInfo

    @property
    def proto_hw(self) -> tuple[int, int]:
        return int(self.protos.shape[1]), int(self.protos.shape[2])

    @property
    def proto_scale(self) -> tuple[float, float]:
        """(rows, cols) proto pixels per input pixel (1/4 for Ultralytics' Segment head)."""
        mh, mw = self.proto_hw
        ih, iw = self.info.dst_hw
        return mh / ih, mw / iw

    def content_window(self) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1): the proto rows/cols that overlap the frame inside the letterbox."""
        sy, sx = self.proto_scale
        nh, nw = self.info.resized_hw
        mh, mw = self.proto_hw
        r0 = max(0, int(np.floor(self.info.pad_top * sy)))
        r1 = min(mh, int(np.ceil((self.info.pad_top + nh) * sy)))
        c0 = max(0, int(np.floor(self.info.pad_left * sx)))
        c1 = min(mw, int(np.ceil((self.info.pad_left + nw) * sx)))
        return r0, r1, c0, c1

    def _logits(self, coeffs: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
        r0, r1, c0, c1 = window
        c = self.protos.shape[0]
        sub = self.protos[:, r0:r1, c0:c1].reshape(c, -1)
        return (coeffs.astype(np.float32, copy=False) @ sub).reshape(len(coeffs), r1 - r0, c1 - c0)

    def _box_masks(self, boxes_in: np.ndarray, window: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Separable in-box masks [N,1,w] (cols) and [N,h,1] (rows), Ultralytics' crop_mask rule at proto scale."""
        r0, r1, c0, c1 = window
        sy, sx = self.proto_scale
        b = boxes_in.astype(np.float32) * np.array([sx, sy, sx, sy], dtype=np.float32)
        cols = np.arange(c0, c1, dtype=np.float32)[None, None, :]
        rows = np.arange(r0, r1, dtype=np.float32)[None, :, None]
        in_cols = (cols >= b[:, 0, None, None]) & (cols < b[:, 2, None, None])
        in_rows = (rows >= b[:, 1, None, None]) & (rows < b[:, 3, None, None])
        return in_cols, in_rows

    def instance_masks(self, coeffs: np.ndarray, boxes_in: np.ndarray) -> np.ndarray:
        """Binary instance masks [N, mh, mw] at proto resolution (logit > 0 inside the box; padding is False)."""
        mh, mw = self.proto_hw
        out = np.zeros((len(coeffs), mh, mw), dtype=bool)
        if len(coeffs) == 0:
            return out
        window = self.content_window()
        r0, r1, c0, c1 = window
        logits = self._logits(coeffs, window)
        in_cols, in_rows = self._box_masks(boxes_in, window)
        out[:, r0:r1, c0:c1] = (logits > 0) & in_cols & in_rows
        return out

    def _box_distance(self, boxes_in: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
        """Signed distance [N, h, w] in proto pixels from each pixel centre to its box edge (positive inside)."""
        r0, r1, c0, c1 = window
        sy, sx = self.proto_scale
        b = boxes_in.astype(np.float32) * np.array([sx, sy, sx, sy], dtype=np.float32)
        cx = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5
        cy = np.arange(r0, r1, dtype=np.float32)[None, :] + 0.5
        dx = np.minimum(cx - b[:, 0, None], b[:, 2, None] - cx)  # [N, w]
        dy = np.minimum(cy - b[:, 1, None], b[:, 3, None] - cy)  # [N, h]
        return np.minimum(dy[:, :, None], dx[:, None, :])

    def union_logits(self, coeffs: np.ndarray, boxes_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max-over-instances cropped logit map on the content window, and which instances have a positive pixel.

        Each instance is cropped as min(logit, k·d) with d its signed distance to the box edge and k = CROP_SLOPE × its
        mean |logit|: positive exactly where the logit is positive inside the box, and, after bilinear resampling,
        close to zero at the box edge itself rather than at a proto-pixel boundary (a proto pixel is up to ~20 frame
        pixels on a large frame, so rounding the crop there would move sky edges visibly).
        """
        window = self.content_window()
        r0, r1, c0, c1 = window
        if len(coeffs) == 0:
            return np.full((r1 - r0, c1 - c0), -1.0, dtype=np.float32), np.zeros(0, dtype=bool)
        logits = self._logits(coeffs, window)
        k = np.abs(logits).mean(axis=(1, 2)) * np.float32(CROP_SLOPE) + np.float32(1e-6)
        dist = self._box_distance(boxes_in, window)
        dist *= k[:, None, None]
        cropped = np.minimum(logits, dist, out=logits)
        nonempty = (cropped > 0).reshape(len(coeffs), -1).any(axis=1)
        return cropped.max(axis=0), nonempty

    def aligned(self) -> bool:
        """Whether the content window starts and ends exactly on the letterbox content (e.g. 1280×720 at 640)."""
        r0, r1, c0, c1 = self.content_window()
        sy, sx = self.proto_scale
        info = self.info
        nh, nw = info.resized_hw
        return (r0 / sy == info.pad_top and r1 / sy == info.pad_top + nh and c0 / sx == info.pad_left
                and c1 / sx == info.pad_left + nw)

    def frame_affine(self) -> tuple[float, float, float, float]:
        """(ax, bx, ay, by): frame pixel (x, y) → content-window coordinate (ax·x + bx, ay·y + by), pixel centres
        mapped to pixel centres (OpenCV's convention). The GPU kernel samples with the same map."""
        r0, r1, c0, c1 = self.content_window()
        sy, sx = self.proto_scale
        info = self.info
        h, w = info.src_hw
        if self.aligned():  # cv2.resize's ratio between the window and the frame
            ax, ay = (c1 - c0) / w, (r1 - r0) / h
            return ax, 0.5 * ax - 0.5, ay, 0.5 * ay - 0.5
        # frame pixel centre x+0.5 → input (x+0.5)·scale + pad → proto ·sx → window index (centre −0.5)
        ax, ay = sx * info.scale, sy * info.scale
        bx = (0.5 * info.scale + info.pad_left) * sx - 0.5 - c0
        by = (0.5 * info.scale + info.pad_top) * sy - 0.5 - r0
        return ax, bx, ay, by

    def to_frame(self, union: np.ndarray) -> np.ndarray:
        """Resample a content-window logit map to the frame (one bilinear resample) and threshold: H×W bool.

        When the letterbox content starts and ends on proto pixels (e.g. 1280×720 at 640) the window IS the
        content and one cv2.resize does it (as Ultralytics' slice-and-resize); otherwise `bilinear_threshold` samples
        the frame's affine map exactly in float32 (the GPU kernel's reference), interpolating only the columns a
        horizon crosses: on a 24 Mpx frame 5 ms, where cv2.warpAffine + threshold took 16 ms (and OpenCV 4.x's
        warpAffine rounds sample positions to 1/32 pixel).
        """
        h, w = self.info.src_hw
        union = np.ascontiguousarray(union, dtype=np.float32)
        if self.aligned():
            return cv2.resize(union, (w, h), interpolation=cv2.INTER_LINEAR) > 0
        return bilinear_threshold(union, self.frame_affine(), (h, w))

    def sky_mask(self, coeffs: np.ndarray, boxes_in: np.ndarray) -> np.ndarray:
        """Full-frame union mask H×W bool of the given instances."""
        union, _ = self.union_logits(coeffs, boxes_in)
        return self.to_frame(union)

    def proto_to_frame_points(self, pts: np.ndarray) -> np.ndarray:
        """Proto-pixel (x, y) contour points → frame pixels (float32 [K, 2])."""
        sy, sx = self.proto_scale
        x = (pts[:, 0] + 0.5) / sx
        y = (pts[:, 1] + 0.5) / sy
        h, w = self.info.src_hw
        fx = np.clip((x - self.info.pad_left) / self.info.scale, 0, w)
        fy = np.clip((y - self.info.pad_top) / self.info.scale, 0, h)
        return np.stack([fx, fy], axis=1).astype(np.float32)


def sample_axis(n: int, a: np.float32, b: np.float32, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along one axis, frame pixel i samples source position a·i + b: (left index, right index, weight of the
    right one), indices clamped to the source (borders replicated), float32 as the GPU kernel computes it."""
    f = a * np.arange(n, dtype=np.float32) + b
    f0 = np.floor(f)
    frac = (f - f0).astype(np.float32)
    i0 = f0.astype(np.int64)
    return np.clip(i0, 0, size - 1), np.clip(i0 + 1, 0, size - 1), frac


def bilinear_threshold(union: np.ndarray, affine: tuple[float, float, float, float],
                       frame_hw: tuple[int, int]) -> np.ndarray:
    """Sample `union` bilinearly at (ax·x + bx, ay·y + by) for every frame pixel (borders replicated) and threshold
    at 0: H×W bool. Separable and float32 in the GPU kernel's operation order (x on the source rows, then y).

    The y step is computed only where it can matter: frame rows between the same two source rows share the sign of
    every column whose two source values are both > `_TINY` (then every convex combination is > 0 in float32) or
    both ≤ 0 (then none is). Only the remaining columns — those a horizon crosses — are interpolated, with the
    same float32 operations as the full computation, so the mask is identical, at a fraction of the cost on large
    frames (a 24 Mpx frame otherwise interpolates 18 M floats).
    """
    ax, bx, ay, by = (np.float32(v) for v in affine)
    h, w = frame_hw
    sh, sw = union.shape
    x0, x1, fx = sample_axis(w, ax, bx, sw)
    y0, y1, fy = sample_axis(h, ay, by, sh)
    u = union.astype(np.float32, copy=False)
    rows = np.take(u, x0, axis=1)  # x on the source rows: [sh, W]
    rows *= np.float32(1) - fx
    right = np.take(u, x1, axis=1)
    right *= fx
    rows += right
    positive, not_positive = rows > _TINY, rows <= 0
    out = np.empty((h, w), dtype=bool)
    pair = y0 * sh + y1  # frame rows between the same two source rows (non-decreasing: ay > 0)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(pair)) + 1, [h]])
    for s, e in zip(starts[:-1], starts[1:]):
        top, bottom = y0[s], y1[s]
        out[s:e] = positive[top] & positive[bottom]
        mixed = np.flatnonzero(~((positive[top] & positive[bottom]) | (not_positive[top] & not_positive[bottom])))
        if mixed.size:
            f = fy[s:e, None]
            value = rows[top, mixed][None, :] * (np.float32(1) - f)
            lower = rows[bottom, mixed][None, :] * f
            value += lower
            out[s:e, mixed] = value > 0
    return out


# Both source values above this: every bilinear weight of theirs (≥ 2⁻²⁴ or exactly 0/1) keeps a normal positive.
_TINY = np.float32(1e-30)
