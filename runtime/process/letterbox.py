"""Letterboxing: the one resize-and-pad used by inference, export verification and calibration.

It reproduces Ultralytics' `LetterBox(auto=False, scaleup=True, center=True)` (bilinear resize, grey 114
padding split evenly, `round(d ± 0.1)` borders) so that masks agree with Ultralytics' own predictor.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxInfo:
    """How one frame was mapped into the model input, to map outputs back."""

    src_hw: tuple[int, int]  # frame height, width
    dst_hw: tuple[int, int]  # model input height, width
    scale: float  # dst pixels per src pixel
    pad_top: int
    pad_left: int
    resized_hw: tuple[int, int]  # size of the frame inside the input, before padding

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes [N, 4] (x1, y1, x2, y2) from input pixels to frame pixels, clipped to the frame."""
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, [0, 2]] = (xyxy[:, [0, 2]] - self.pad_left) / self.scale
        out[:, [1, 3]] = (xyxy[:, [1, 3]] - self.pad_top) / self.scale
        h, w = self.src_hw
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)  # fancy indexing copies: assign, don't clip in place
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        return out


def letterbox_geometry(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> LetterboxInfo:
    """The scale and padding Ultralytics' LetterBox would choose for this frame and input size."""
    h, w = src_hw
    dh_, dw_ = dst_hw
    scale = min(dh_ / h, dw_ / w)
    nw, nh = int(round(w * scale)), int(round(h * scale))
    dw, dh = (dw_ - nw) / 2, (dh_ - nh) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    return LetterboxInfo((h, w), (dh_, dw_), scale, top, left, (nh, nw))


def letterbox(rgb: np.ndarray, dst_hw: tuple[int, int]) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize an H×W×3 (or H×W gray) uint8 image into dst_hw with grey padding; returns the padded H×W×3 uint8
    image and geometry. A gray frame is resized as one channel and copied to three: the same bytes as resizing
    its RGB expansion, for a third of the work."""
    if not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)) or rgb.dtype != np.uint8:
        raise ValueError(f"letterbox expects an H×W×3 or H×W uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
    info = letterbox_geometry(rgb.shape[:2], dst_hw)
    nh, nw = info.resized_hw
    if nh < 1 or nw < 1:  # cv2.resize would raise cv2.error, which is no ValueError: the run would end
        h, w = rgb.shape[:2]
        raise ValueError(f"a {w}×{h} frame cannot be fitted into the model's {dst_hw[1]}×{dst_hw[0]} input: its "
                         f"{'height' if nh < 1 else 'width'} would shrink to 0 pixels; crop or bin it to a less "
                         "extreme aspect ratio")
    resized = rgb if (nh, nw) == rgb.shape[:2] else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((*dst_hw, 3), PAD_VALUE, dtype=np.uint8)
    out[info.pad_top : info.pad_top + nh, info.pad_left : info.pad_left + nw] = (
        resized[..., None] if resized.ndim == 2 else resized)
    return out, info


def to_tensor(padded_rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """H×W×3 uint8 RGB → float32 [1, 3, H, W] in 0–1 (the model-file contract), optionally into `out`."""
    h, w = padded_rgb.shape[:2]
    if out is None:
        out = np.empty((1, 3, h, w), dtype=np.float32)
    np.multiply(padded_rgb.transpose(2, 0, 1), np.float32(1 / 255), out=out[0], casting="unsafe")
    return out
