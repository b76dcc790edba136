"""A short synthetic night-sky video for the demo: one scene whose sky turns slowly while the ground stays put.

Each frame keeps the scene's exact ground/obstacle pixels and rotates only the sky about a point above the frame
(the celestial pole, as stars wheel in a long exposure sequence), with a slow brightness drift (passing haze) and
fresh sensor noise. The true sky mask is the scene's mask for every frame, so the clip carries ground truth.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEGREES_PER_FRAME = 0.25
NOISE_SIGMA = 2.0  # 8-bit sensor noise per frame


@dataclass(frozen=True)
class Clip:
    """Where the clip was written and its ground truth."""

    path: Path
    frames: int
    fps: float
    size_wh: tuple[int, int]
    sky_mask: np.ndarray  # H×W bool, the same for every frame
    kind: str


def clip_frames(seed: int, count: int, size_wh: tuple[int, int]) -> tuple[list[np.ndarray], np.ndarray, str]:
    """`count` RGB uint8 frames of one slowly changing scene, its sky mask (bool) and the scene kind."""
    from skyseg.synth import render_scene

    scene = render_scene(seed, kind="mixed", size=size_wh, bit_depth=8)
    base = np.asarray(scene.image)
    sky = np.asarray(scene.mask) > 0
    w, h = size_wh
    pole = (w * 0.5, -0.3 * h) if scene.kind == "camera" else (w * 0.5, h * 0.5)
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        rot = cv2.getRotationMatrix2D(pole, DEGREES_PER_FRAME * i, 1.0)
        turned = cv2.warpAffine(base, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        gain = 1.0 + 0.15 * np.sin(2 * np.pi * i / max(count, 1))
        frame = np.where(sky[..., None], turned.astype(np.float32) * gain, base.astype(np.float32))
        frame += rng.normal(0.0, NOISE_SIGMA, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames, sky, scene.kind


def write_clip(path: Path, seed: int, count: int, size_wh: tuple[int, int], fps: float) -> Clip:
    """Render the clip and encode it with the runtime's GStreamer VideoFileSink (atomic)."""
    from skyseg.runtime.sinks.gst_video import VideoFileSink

    frames, sky, kind = clip_frames(seed, count, size_wh)
    with VideoFileSink(path, fps=fps, size_wh=size_wh) as sink:
        for frame in frames:
            sink.write(frame)
    log.info("night-sky clip: %s (%d frames %dx%d @ %g fps, %s scene)", path, count, *size_wh, fps, kind)
    return Clip(Path(path), count, fps, size_wh, sky, kind)
