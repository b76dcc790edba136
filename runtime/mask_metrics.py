"""Agreement between two sky masks: the one IoU definition every check in skyseg uses."""
from __future__ import annotations

import numpy as np


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks (non-zero = sky); two empty masks agree perfectly (1.0)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
