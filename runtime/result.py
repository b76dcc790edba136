"""`SegResult`: what one frame became — boxes, scores, classes, masks, the sky mask, timings and identity.

Sinks consume results and never reach back into the backend. Instance masks and the sky mask are computed
on demand from the frame's protos (kept by a `MaskDecoder`), so a filtered result (`res[res.scores > 0.5]`)
gets a sky mask that matches the instances it kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from skyseg.runtime.process.mask_decode import MaskDecoder

DEFAULT_NAMES: dict[int, str] = {0: "sky"}


@dataclass
class SegResult:
    """One frame's segmentation. Boxes are xyxy in frame pixels; `frame_hw` is the frame's (height, width)."""

    boxes: np.ndarray  # float32 [N, 4]
    scores: np.ndarray  # float32 [N]
    class_ids: np.ndarray  # int64 [N]
    frame_hw: tuple[int, int]
    names: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_NAMES))
    index: int = 0
    source_id: str = ""
    path: str | None = None
    timestamp: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # stage → milliseconds (pre, infer, post)
    coeffs: np.ndarray | None = None  # float32 [N, 32] mask coefficients
    boxes_input: np.ndarray | None = None  # float32 [N, 4] xyxy in model-input pixels (for mask crops)
    decoder: MaskDecoder | None = field(default=None, repr=False)
    _sky: np.ndarray | None = field(default=None, repr=False)  # cached H×W bool sky mask
    mask_source: str = "model"  # "model", "learning" or "prior": what `sky_mask` is (process.horizon_prior)
    raw_sky: np.ndarray | None = field(default=None, repr=False)  # the model's own mask when a prior changed it
    _instances: np.ndarray | None = field(default=None, repr=False)  # cached [N, mh, mw] bool

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32)
        if self.boxes.size == 0:
            self.boxes = self.boxes.reshape(0, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        self.frame_hw = (int(self.frame_hw[0]), int(self.frame_hw[1]))
        n = len(self.scores)
        if self.boxes.shape != (n, 4):
            raise ValueError(f"SegResult boxes must be [N, 4] with N={n} scores, got {self.boxes.shape}")
        if self.class_ids.shape != (n,):
            raise ValueError(f"SegResult class_ids must be [{n}], got {self.class_ids.shape}")
        if self.coeffs is not None and (self.coeffs.ndim != 2 or len(self.coeffs) != n):
            raise ValueError(f"SegResult coeffs must be [{n}, K], got {self.coeffs.shape}")
        if self.boxes_input is not None and self.boxes_input.shape != (n, 4):
            raise ValueError(f"SegResult boxes_input must be [{n}, 4], got {self.boxes_input.shape}")
        if (self.coeffs is None) != (self.boxes_input is None) or (self.coeffs is not None and self.decoder is None):
            raise ValueError("SegResult needs coeffs, boxes_input and decoder together (or none of them)")
        if self._sky is not None and self._sky.shape != self.frame_hw:
            raise ValueError(f"SegResult sky mask must be {self.frame_hw}, got {self._sky.shape}")

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, keep: Any) -> SegResult:
        """Subset of instances by boolean mask or indices; the sky mask is recomputed for what is kept."""
        idx = np.arange(len(self))[keep]
        if isinstance(idx, np.integer):
            idx = np.array([idx])
        everything = len(idx) == len(self) and bool(np.all(idx == np.arange(len(self))))
        return replace(
            self,
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            class_ids=self.class_ids[idx],
            timings=dict(self.timings),
            coeffs=None if self.coeffs is None else self.coeffs[idx],
            boxes_input=None if self.boxes_input is None else self.boxes_input[idx],
            _sky=self._sky if everything else None,
            mask_source=self.mask_source if everything else "model",
            raw_sky=self.raw_sky if everything else None,
            _instances=None if self._instances is None else self._instances[idx],
        )

    @property
    def sky_mask(self) -> np.ndarray:
        """H×W bool: True where any kept instance says sky (full frame resolution)."""
        if self._sky is None:
            if self.decoder is None or self.coeffs is None or self.boxes_input is None:
                self._sky = np.zeros(self.frame_hw, dtype=bool)
            else:
                self._sky = self.decoder.sky_mask(self.coeffs, self.boxes_input)
        return self._sky

    @property
    def raw_sky_mask(self) -> np.ndarray:
        """The model's own H×W bool sky mask, before any per-installation prior (== sky_mask without one)."""
        return self.raw_sky if self.raw_sky is not None else self.sky_mask

    @property
    def raw_sky_fraction(self) -> float:
        mask = self.raw_sky_mask
        return float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0

    @property
    def sky_fraction(self) -> float:
        """Share of frame pixels that are sky, 0–1."""
        mask = self.sky_mask
        return float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0

    @property
    def instance_masks(self) -> np.ndarray:
        """[N, mh, mw] bool instance masks at proto resolution (letterboxed input space / 4)."""
        if self._instances is None:
            if self.decoder is None or self.coeffs is None or self.boxes_input is None:
                self._instances = np.zeros((len(self), 0, 0), dtype=bool)
            else:
                self._instances = self.decoder.instance_masks(self.coeffs, self.boxes_input)
        return self._instances

    def polygons(self) -> list[list[np.ndarray]]:
        """Per instance, its outer contours as float32 [K, 2] (x, y) arrays in frame pixels."""
        out: list[list[np.ndarray]] = []
        for mask in self.instance_masks:
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            assert self.decoder is not None  # non-empty masks imply a decoder
            out.append([self.decoder.proto_to_frame_points(c.reshape(-1, 2).astype(np.float32)) for c in contours])
        return out

    def sky_polygons(self) -> list[np.ndarray]:
        """Outer contours of the full-resolution sky mask, int32 [K, 2] (x, y) in frame pixels."""
        contours, _ = cv2.findContours(self.sky_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return [c.reshape(-1, 2) for c in contours]

    @property
    def latency_ms(self) -> float:
        """Sum of the recorded stage timings."""
        return float(sum(self.timings.values()))
