"""Per-installation horizon prior: what a fixed camera's sky looks like over the night, combined with each frame.

A fixed all-sky camera sees the same horizon all night: trees, roofs and the lens rim do not move. Counting how
often each pixel is sky in the model's masks gives two maps: the *majority* map (sky in more than half of the
frames so far) and the *stable* map (sky in at least `stable_share` of them). After `learn_frames` frames each
frame's mask is combined with them:

    combined = (raw AND majority) OR stable

so a momentary mistake — a lamp switched on, a passing car's glare read as sky — is removed (it is not sky in
most frames), and a momentary hole in a sky that is always there (a meteor read as a horizon) is filled. Votes
cannot give back sky the model misses in every frame (the vignetted rim of the image circle), so when the run
passes the display frames, the night's own pixels are asked too (night_evidence.py: a median stack, next to the
edge of the majority sky, pixels that look like the sky beside them) and that band is added:

    combined = (raw AND majority) OR stable OR recovered

The model's votes never call a pixel sky that is not sky in the majority of the night's frames, and the recovered
band comes from the median of the frames, so a lamp lit in a few of them adds nothing. Until enough frames
are counted the raw mask is used unchanged, and so is a frame whose own mask disagrees with the night's map
(IoU < `min_agreement`): the camera moved, or the folder mixes cameras, and the prior must not paint another
installation's horizon into it. Both masks stay available: `SegResult.raw_sky_mask`, the masks
folder's `_raw` sibling, and the table's `mask` / `raw_sky_fraction` columns, which say which was written.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from skyseg.runtime.process.night_evidence import NightEvidence
from skyseg.runtime.result import SegResult

log = logging.getLogger(__name__)

#: Source kinds whose frames come from one fixed camera (folders, globs, watch folders, FITS nights).
FIXED_CAMERA_KINDS = ("images", "watch")


class HorizonPrior:
    """Learns the night's sky-vote map from raw masks and combines it with each new frame's mask."""

    def __init__(self, learn_frames: int = 8, stable_share: float = 0.95, min_agreement: float = 0.85,
                 evidence: NightEvidence | None = None, refresh_every: int = 8) -> None:
        if learn_frames < 1:
            raise ValueError(f"learn_frames must be at least 1, got {learn_frames}")
        if not 0.5 < stable_share <= 1.0:
            raise ValueError(f"stable_share must be in (0.5, 1], got {stable_share}")
        self.learn_frames = int(learn_frames)
        self.stable_share = float(stable_share)
        self.min_agreement = float(min_agreement)
        self.disagreed = 0
        self._votes: np.ndarray | None = None
        self.frames = 0
        self.evidence = evidence if evidence is not None else NightEvidence()
        self.refresh_every = max(1, int(refresh_every))
        self._recovered: np.ndarray | None = None
        self._recovered_at = -1

    @property
    def ready(self) -> bool:
        return self._votes is not None and self.frames >= self.learn_frames

    def majority(self) -> np.ndarray | None:
        """Pixels that are sky in more than half of the frames counted so far (None before any frame)."""
        if self._votes is None:
            return None
        return 2 * self._votes > self.frames

    def stable(self) -> np.ndarray | None:
        if self._votes is None:
            return None
        return self._votes >= np.ceil(self.stable_share * self.frames - 1e-9)

    def update(self, raw: np.ndarray) -> bool:
        """Count one raw mask; False (and not counted) when its size differs from the night's frames."""
        if self._votes is None:
            self._votes = np.zeros(raw.shape, np.uint16)
        elif raw.shape != self._votes.shape:
            return False
        if self.frames == np.iinfo(self._votes.dtype).max:  # a very long night: halve the counts, keep the ratios
            self._votes //= 2
            self.frames //= 2
        self._votes += raw
        self.frames += 1
        return True

    def recovered(self) -> np.ndarray | None:
        """Sky the night's stack shows next to the majority map (refreshed every `refresh_every` frames)."""
        if self.evidence.frames == 0:
            return None
        if self._recovered_at < 0 or self.frames - self._recovered_at >= self.refresh_every:
            majority = self.majority()
            self._recovered = None if majority is None else self.evidence.recover(majority)
            self._recovered_at = self.frames
            if self._recovered is not None:
                log.debug("night evidence: %d px of sky recovered next to the majority map",
                          int(np.count_nonzero(self._recovered)))
        return self._recovered

    def combine(self, raw: np.ndarray) -> np.ndarray:
        """The combined mask for one raw mask (call after `update`, once `ready`)."""
        majority, stable = self.majority(), self.stable()
        assert majority is not None and stable is not None
        out = (raw & majority) | stable
        extra = self.recovered()
        return out | extra if extra is not None and extra.shape == out.shape else out

    def apply(self, result: SegResult, display: np.ndarray | None = None) -> SegResult:
        """Count the frame, then return it with the combined mask (or unchanged while learning).

        `display` is the frame as shown (RGB or grey uint8, the frame's size); without it only the votes are used.
        """
        raw = result.sky_mask
        if display is not None:
            self.evidence.observe(display)
        if not self.update(raw):
            log.warning("horizon prior: frame %d is %dx%d, the night's frames are %dx%d; its raw mask is used",
                        result.index, raw.shape[1], raw.shape[0], self._votes.shape[1], self._votes.shape[0])
            return replace(result, mask_source="model", raw_sky=raw)
        if not self.ready:
            return replace(result, mask_source="learning", raw_sky=raw)
        if self.frames == self.learn_frames:
            log.info("horizon prior learned from %d frames: each frame's mask is now combined with it", self.frames)
        majority = self.majority()
        assert majority is not None
        union = np.count_nonzero(raw | majority)
        agreement = np.count_nonzero(raw & majority) / union if union else 1.0
        if agreement < self.min_agreement:
            self.disagreed += 1
            if self.disagreed == 1 or self.disagreed % 100 == 0:
                log.warning("horizon prior: frame %d's mask agrees with the night's map at IoU %.2f only (moved camera "
                            "or mixed cameras?): its raw mask is written (%d such frames)", result.index, agreement,
                            self.disagreed)
            return replace(result, mask_source="model", raw_sky=raw)
        return replace(result, _sky=self.combine(raw), mask_source="prior", raw_sky=raw)
