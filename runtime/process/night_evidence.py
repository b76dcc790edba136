"""The night's own evidence for a fixed camera: sky the model misses in every frame, recovered from a median stack.

The horizon prior (horizon_prior.py) can only take sky away from a frame: it keeps what most frames call sky. Sky
that the model misses in *every* frame — typically the band along the image circle where vignetting darkens the sky,
or sky right above a tree line — is never voted for. `NightEvidence` looks at the pixels instead, the way
`skyseg label` does: it keeps a median stack of the night's frames (grey, display-stretched, at most
`WORK_SIDE` px on the long side, at most `MAX_FRAMES` frames evenly spaced over the night) and, next to the edge of the
model's majority sky, takes back the pixels that look like the sky beside them:

1. `band`: pixels outside the majority sky but within `band_share` of the frame's short side from it;
2. per angular sector around the sky's centre (sky glows on a town's side and is dark elsewhere), the *edge sky
   level*: a low percentile of the stack just inside the majority edge (the darkest sky the model already accepts,
   vignetted rim included), and the *outside level*: the median of the stack just beyond the band (the dark ring
   outside the image circle, or the silhouettes at the horizon);
3. a band pixel is sky when its stack level is above the midpoint of those two levels and not brighter than most
   of the edge sky (the rim's sky is vignetted, so darker; a lit dome rim or a lamp post is brighter), when it is
   as smooth as the sky just inside the edge (a lit rim ring, a dome or a tree line has texture), and when it is
   connected to the majority sky through such pixels; the few pixels beside the frame's true edge, where the
   smoothness window sees the edge itself, are then taken back if they are bright enough. Nothing is recovered when the two levels are too close to tell apart
   (a contrast under `min_contrast` grey levels) or when the recovered area would exceed `max_growth` of the sky.

Because the stack is a median, a lamp switched on in a few frames does not appear in it; because recovery only
happens in a narrow band next to the sky most frames agree on, what is recovered is never a detached region.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

WORK_SIDE = 640  # long side of the stack; the recovered band is upsampled to the frame
MAX_FRAMES = 31  # frames kept for the median (odd: a true median)
SECTORS = 16  # levels are taken per angular sector: the sky darkens towards the zenith side, glows on the town side


def to_grey8(pixels: np.ndarray) -> np.ndarray:
    """uint8 grey from the display frame (RGB uint8 or grey uint8)."""
    if pixels.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    return pixels


class NightEvidence:
    """A median stack of the night's frames and the sky it shows next to the model's majority sky."""

    def __init__(self, band_share: float = 0.025, min_contrast: float = 12.0, max_growth: float = 0.2,
                 upper_q: float = 75.0, texture_q: float = 75.0) -> None:
        self.upper_q, self.texture_q = float(upper_q), float(texture_q)
        self.band_share = float(band_share)
        self.min_contrast = float(min_contrast)
        self.max_growth = float(max_growth)
        self._frames: list[np.ndarray] = []
        self._step = 1  # keep every `_step`-th observed frame; doubles each time the reservoir fills
        self._seen = 0
        self._shape: tuple[int, int] | None = None
        self._stack: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return len(self._frames)

    def observe(self, display: np.ndarray) -> bool:
        """Count one frame (RGB or grey uint8 at the frame's size); False for a frame of another size."""
        shape = display.shape[:2]
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            return False
        self._seen += 1
        if (self._seen - 1) % self._step:
            return True
        h, w = shape
        k = min(1.0, WORK_SIDE / max(h, w))
        grey = to_grey8(display)
        if k < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        self._frames.append(grey)
        self._stack = None
        if len(self._frames) > MAX_FRAMES:  # evenly spaced over the night: drop every other one, sample half as often
            self._frames = self._frames[::2]
            self._step *= 2
        return True

    def stack(self) -> np.ndarray | None:
        if not self._frames:
            return None
        if self._stack is None:
            self._stack = np.median(np.stack(self._frames), axis=0).astype(np.uint8)
        return self._stack

    def recover(self, majority: np.ndarray) -> np.ndarray | None:
        """Pixels (bool, frame size) outside `majority` that the stack shows as sky connected to it; None if none."""
        stack = self.stack()
        if stack is None or majority.shape != self._shape or not majority.any():
            return None
        sh, sw = stack.shape
        sky = cv2.resize(majority.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0
        band_px = max(2, int(round(self.band_share * min(sh, sw))))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
        grown = cv2.dilate(sky.astype(np.uint8), disc) > 0
        band = grown & ~sky
        edge = sky & ~(cv2.erode(sky.astype(np.uint8), disc) > 0)
        beyond = (cv2.dilate(grown.astype(np.uint8), disc) > 0) & ~grown
        if np.count_nonzero(edge) < 20 or np.count_nonzero(beyond) < 20 or not band.any():
            return None
        lo_map, hi_map = self._levels(stack, sky, edge, beyond)
        if lo_map is None:
            return None
        bright_enough = band & (stack > lo_map) & (stack <= hi_map)
        # smooth like the sky beside it (a lit rim ring, a dome or a tree line has edges and texture): the smooth
        # candidates connected to the sky are the seeds; then the seeds grow back over the few pixels next to the
        # frame's true edge, where the window sees the edge itself, within the candidates bright enough
        # texture = local mean of |Laplacian|: zero on smooth gradients (vignetting), large on edges and structure
        std = cv2.blur(np.abs(cv2.Laplacian(stack.astype(np.float32), cv2.CV_32F, ksize=3)), (5, 5))
        inner = sky & ~(cv2.erode(sky.astype(np.uint8), disc, iterations=2) > 0) & ~edge
        limit = np.percentile(std[inner if np.count_nonzero(inner) >= 20 else edge], self.texture_q)
        candidate = bright_enough & (std <= limit)
        count, labels = cv2.connectedComponents((candidate | sky).astype(np.uint8), connectivity=8)
        touching = np.unique(labels[sky])
        seeds = np.isin(labels, touching[touching > 0]) & candidate
        keep = seeds | ((cv2.dilate(seeds.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & bright_enough)
        grown_share = np.count_nonzero(keep) / max(1, np.count_nonzero(sky))
        if not keep.any() or grown_share > self.max_growth:
            if grown_share > self.max_growth:
                log.info("night evidence: %.0f %% more sky than the model's majority map looks implausible; not used",
                         100 * grown_share)
            return None
        # back at the frame's size: the kept band (one work pixel wider), thresholded on the upsampled stack so the
        # recovered edge follows the pixels rather than the work grid
        h, w = self._shape
        region = cv2.resize(cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8)), (w, h),
                            interpolation=cv2.INTER_NEAREST) > 0
        full = cv2.resize(stack, (w, h), interpolation=cv2.INTER_LINEAR) if (h, w) != (sh, sw) else stack
        lo_full = cv2.resize(lo_map, (w, h), interpolation=cv2.INTER_NEAREST)
        hi_full = cv2.resize(hi_map, (w, h), interpolation=cv2.INTER_NEAREST)
        return region & (full > lo_full) & (full <= hi_full) & ~majority

    def _levels(self, stack: np.ndarray, sky: np.ndarray, edge: np.ndarray,
                beyond: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per angular sector around the sky's centre: the level a band pixel must exceed (midway between the edge
        sky's low percentile and the outside's median) and must not exceed (the edge sky's `upper_q` percentile).
        Sectors whose edge sky and outside are too close to tell apart get an impossible range (no recovery)."""
        ys, xs = np.nonzero(sky)
        cy, cx = float(ys.mean()), float(xs.mean())
        yy, xx = np.mgrid[0:stack.shape[0], 0:stack.shape[1]]
        sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * SECTORS).astype(np.int32) % SECTORS
        lo_map = np.full(stack.shape, 256.0, np.float32)
        hi_map = np.full(stack.shape, -1.0, np.float32)
        any_sector = False
        for k in range(SECTORS):
            here = sector == k
            e, b = stack[edge & here], stack[beyond & here]
            if e.size < 20 or b.size < 20:
                continue
            edge_lo, edge_hi = np.percentile(e, [5, self.upper_q])
            outside = float(np.median(b))
            if edge_lo - outside < self.min_contrast:
                continue
            lo_map[here] = (edge_lo + outside) / 2.0
            hi_map[here] = edge_hi
            any_sector = True
        return (lo_map, hi_map) if any_sector else (None, None)
