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
