"""Fitting the cloud model's logistic weights on labelled cells: L2-regularised Newton steps (IRLS) in numpy.

Each training cell carries its camera; `fit_model` weighs every camera the same in total (a camera with ten frames
counts as much as one with one), so no single camera sets the weights. Leave-one-camera-out scoring
(`runtime.quality.cloud_score`) calls it once per camera with that camera's cells left out.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from skyseg.runtime.clouds.detect import CloudModel

L2 = 1.0  # ridge on the standardised weights (not the bias)
ITERATIONS = 30


def fit_model(x: np.ndarray, y: np.ndarray, cameras: Sequence[str], l2: float = L2) -> CloudModel:
    """Logistic weights for features `x` (N x F) and labels `y` (N, 1 = cloud), each camera weighing the same."""
    if len(x) == 0 or len(set(y.tolist())) < 2:
        raise ValueError(f"need cloud and clear cells to fit the cloud model, got {len(x)} cells with labels "
                         f"{sorted(set(y.tolist()))}")
    cams = np.asarray(cameras)
    weight = np.zeros(len(x), np.float64)
    for cam in np.unique(cams):
        sel = cams == cam
        weight[sel] = 1.0 / sel.sum()
    weight *= len(x) / weight.sum()
    mean = np.average(x, axis=0, weights=weight)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weight)) + 1e-6
    z = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    beta = np.zeros(z.shape[1])
    ridge = np.full(z.shape[1], l2)
    ridge[-1] = 0.0
    for _ in range(ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (weight * (p - y)) + ridge * beta
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(ridge + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-6:
            break
    return CloudModel(weights=tuple(round(float(b), 4) for b in beta[:-1]), bias=round(float(beta[-1]), 4),
                      mean=tuple(round(float(m), 5) for m in mean), scale=tuple(round(float(s), 5) for s in scale))
