"""Agreement between two sky masks: the one IoU definition every check in skyseg uses."""
from __future__ import annotations

import numpy as np


def overlap_counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(intersection, union) pixel counts of two masks (non-zero = sky)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    return int(np.count_nonzero(a & b)), int(np.count_nonzero(a | b))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks (non-zero = sky); two empty masks agree perfectly (1.0)."""
    inter, union = overlap_counts(a, b)
    return 1.0 if union == 0 else inter / union


def error_shares(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(false-sky, missed-sky) as shares of all the frame's pixels: predicted sky where the truth is not sky
    (buildings, trees, the rim painted as sky), and true sky the prediction left out. Both 0 for a perfect mask;
    false + missed = (union − intersection) / pixels."""
    p, t = np.asarray(predicted) != 0, np.asarray(truth) != 0
    if p.shape != t.shape:
        raise ValueError(f"mask shapes differ: {p.shape} vs {t.shape}")
    pixels = p.size or 1
    return int(np.count_nonzero(p & ~t)) / pixels, int(np.count_nonzero(~p & t)) / pixels
