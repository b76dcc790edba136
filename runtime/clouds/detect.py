"""Cloud map and cloud fraction of one frame: a logistic model on per-cell measurements (`features`).

`detect_clouds(img8, sky)` -> CloudResult (cloud map inside the sky, cloud fraction). A cell is cloud when the
model's probability exceeds 0.5. The model weighs the cell's star density against its background level, the level
above the frame's darkest sky and above its typical sky: few stars on a sky brighter than the rest of the frame is
lit cloud, few stars on the frame's darkest sky is a dark or noisy clear sky, many stars is clear whatever the level.
With a fixed camera's night reference (`reference.NightReference`), the reference decides wherever its clear
frames showed stars: a cell with fewer than half the stars its clear frames showed is cloud (thin cloud dimming
stars, dark cloud hiding them), otherwise clear. The weights of DEFAULT_MODEL were fitted on the labelled real frames
(datasets/*/clouds) by `runtime.quality.cloud_fit`; `skyseg evaluate --clouds` scores them leave-one-camera-out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import cv2
import numpy as np

from skyseg.runtime.clouds.features import DENSITY_EPS, CellFeatures, measure

FEATURE_NAMES = ("log_density", "level", "level_above_floor", "level_above_median")
REF_MIN_DENSITY = 1.0  # the reference decides only where clear nights show at least this many stars per 1000 px
REF_CLOUD_RATIO = 0.5  # where the reference knows the sky: cloud below this share of its clear-night stars


@dataclass(frozen=True)
class CloudModel:
    """Logistic weights over FEATURE_NAMES (standardised by `mean` and `scale`) and a bias."""

    weights: Sequence[float]
    bias: float
    mean: Sequence[float]
    scale: Sequence[float]


# `skyseg evaluate --clouds datasets/realsky datasets/realpool` prints this fit on all labelled cameras
DEFAULT_MODEL = CloudModel(weights=(-1.523, 1.4215, 7.2088, -5.5953), bias=-1.9395,
                           mean=(-0.80512, 0.3287, 0.09465, 0.00899), scale=(1.4728, 0.21967, 0.09928, 0.07482))


@dataclass
class CloudResult:
    cloud: np.ndarray  # bool H x W, True = cloud; always inside the sky mask
    cloud_fraction: float  # share of sky pixels that are cloud (NaN without sky)
    features: Optional[CellFeatures] = None  # what a NightReference learns from
    timings: dict = field(default_factory=dict)

    @property
    def clear_fraction(self) -> float:
        return 1.0 - self.cloud_fraction if self.cloud_fraction == self.cloud_fraction else float("nan")


def feature_stack(feats: CellFeatures) -> np.ndarray:
    """rows x cols x len(FEATURE_NAMES) raw features of every cell."""
    return np.stack([np.log(feats.density + DENSITY_EPS), feats.level, feats.level - feats.frame_floor,
                     feats.level - feats.frame_median], axis=-1).astype(np.float32)


def cloud_probability(x: np.ndarray, model: CloudModel) -> np.ndarray:
    z = (x - np.asarray(model.mean, np.float32)) / np.asarray(model.scale, np.float32)
    logit = z @ np.asarray(model.weights, np.float32) + np.float32(model.bias)
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))


def classify_cells(feats: CellFeatures, model: CloudModel = DEFAULT_MODEL,
                   reference: Optional[np.ndarray] = None) -> np.ndarray:
    """Bool rows x cols: cloud cells. `reference`: per-cell clear-night star density of the same grid, or None."""
    cells = cloud_probability(feature_stack(feats), model) > 0.5
    if reference is not None:
        if reference.shape != cells.shape:
            raise ValueError(f"night reference grid {reference.shape} does not match the frame's {cells.shape}: "
                             "a reference belongs to one camera at one frame size")
        known = reference >= REF_MIN_DENSITY
        cells[known] = feats.density[known] < REF_CLOUD_RATIO * reference[known]
    return cells


def detect_clouds(img8: np.ndarray, sky: np.ndarray, model: CloudModel = DEFAULT_MODEL,
                  reference: Optional[np.ndarray] = None) -> CloudResult:
    """Cloud map (inside `sky` only) and cloud fraction of a display frame (uint8 grey or RGB)."""
    t0 = time.perf_counter()
    sky = np.asarray(sky, dtype=bool)
    feats = measure(img8, sky)
    if feats is None:
        return CloudResult(np.zeros(sky.shape, bool), float("nan"))
    cloud, fraction = paint(classify_cells(feats, model, reference), sky, feats)
    return CloudResult(cloud, fraction, feats, {"clouds": (time.perf_counter() - t0) * 1e3})


def paint(cells: np.ndarray, sky: np.ndarray, feats: CellFeatures) -> tuple:
    """Full-size cloud map from the cell decisions, cut to the sky; and its share of the sky."""
    h, w = sky.shape
    k = feats.factor
    ch, cw = feats.work_hw[0] * k, feats.work_hw[1] * k
    up = cv2.resize(cells.view(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST)
    if (ch, cw) != (h, w):
        up = cv2.copyMakeBorder(up, 0, h - ch, 0, w - cw, cv2.BORDER_REPLICATE)
    cloud = cv2.bitwise_and(up, sky.view(np.uint8)).view(bool)
    n_sky = cv2.countNonZero(sky.view(np.uint8))
    return cloud, (cv2.countNonZero(cloud.view(np.uint8)) / n_sky if n_sky else float("nan"))
