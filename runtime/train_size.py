"""Whether a model runs far from the image size its weights were trained at (export and runtime both warn).

A segmentation net sees horizons, trees and domes at the scale it was trained on; run on a much larger input
it sees them larger than ever in training and its masks degrade (the bundled skyseg-n, trained at 320, has sky
IoU 0.98 at 320 and 0.68 at 640 on all-sky frames: models/weights/README.md).
"""
from __future__ import annotations

MAX_RATIO = 1.34  # input/train size ratio tolerated either way (640 vs 320 is 2.0)


def size_mismatch(name: str, imgsz: tuple[int, int], train_imgsz: int | None) -> str | None:
    """A warning sentence when `imgsz` (h, w) is far from `train_imgsz`, else None (also when it is unknown)."""
    if not train_imgsz:
        return None
    ratio = max(imgsz) / train_imgsz
    if 1 / MAX_RATIO <= ratio <= MAX_RATIO:
        return None
    return (f"{name} runs at {imgsz[0]}x{imgsz[1]}, but its weights were trained at {train_imgsz}: objects appear "
            f"{max(ratio, 1 / ratio):.1f}x {'larger' if ratio > 1 else 'smaller'} than in training and accuracy "
            f"usually drops (the bundled skyseg-n, trained at 320, has sky IoU 0.98 at 320 and 0.68 at 640 on "
            f"all-sky frames); export at --imgsz {train_imgsz}, or fine-tune at the new size")
