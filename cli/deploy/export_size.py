"""The input size `skyseg export` uses: `--imgsz` when given, else the size the checkpoint was trained at; with
`--aspect W:H` that size is the long side and the other follows the camera's aspect (each a multiple of 32)."""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_SIZE = 640  # for a model .yaml or a checkpoint without train_args
STRIDE = 32  # YOLO11's largest stride: both sides must be multiples of it


def parse_aspect(text: str) -> tuple[int, int]:
    """'16:9', '4:3' or '1280x720' → (width, height)."""
    m = re.fullmatch(r"\s*(\d+)\s*[:x×/]\s*(\d+)\s*", text)
    if m is None or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise InputError(f"--aspect takes WIDTH:HEIGHT of the camera's frames, e.g. 16:9 or 1280:720, got {text!r}.")
    return int(m.group(1)), int(m.group(2))


def aspect_hw(size: int, aspect_wh: tuple[int, int], stride: int = STRIDE) -> tuple[int, int]:
    """(H, W) with `size` on the long side and the other side at the camera's aspect, rounded up to `stride`."""
    w, h = aspect_wh
    scale = size / max(w, h)
    return math.ceil(h * scale / stride) * stride, math.ceil(w * scale / stride) * stride


def export_imgsz(weights: Path, imgsz: list[int] | None, aspect: str | None) -> tuple[int, int]:
    """(H, W) to export `weights` at, logging which size and why."""
    if imgsz is not None and len(imgsz) not in (1, 2):
        raise InputError(f"--imgsz takes one value (square) or two (height width), got {len(imgsz)}: {imgsz}.")
    if imgsz is not None and len(imgsz) == 2:
        if aspect:
            raise InputError("--imgsz H W already fixes the aspect; pass --imgsz S with --aspect W:H, or drop --aspect.")
        return imgsz[0], imgsz[1]
    if imgsz is not None:
        size, why = imgsz[0], "given by --imgsz"
    else:
        from skyseg.runtime.checkpoint import is_torch_checkpoint, train_imgsz

        trained = train_imgsz(weights) if is_torch_checkpoint(weights) else None
        if trained:
            size, why = trained, f"the size {weights.name} was trained at (its train_args)"
        else:
            size, why = DEFAULT_SIZE, f"the default: {weights.name} records no training size"
    hw = aspect_hw(size, parse_aspect(aspect)) if aspect else (size, size)
    log.info("export size %dx%d (HxW): %s%s", hw[0], hw[1], why,
             f", long side at the camera aspect {aspect}" if aspect else "")
    return hw
