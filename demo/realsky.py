"""The demo's real-sky stage: the model on the repository's labelled real all-sky frames (datasets/realsky).

A newcomer sees real skies in the first minute: each frame with the model's mask (blue), its false sky (red) and
its missed sky (yellow) on one contact sheet, and the per-frame IoU against the hand-checked labels in SUMMARY.md.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def default_realsky() -> Path | None:
    """datasets/realsky of this checkout, or None when skyseg runs from an installed wheel without it."""
    root = Path(__file__).resolve().parents[1] / "datasets" / "realsky"
    return root if (root / "images").is_dir() else None


def run_realsky(model: Path, realsky: Path, out: Path, threads: int, summary: Any) -> None:
    """Score `model` on the labelled frames in `realsky`; the sheet and the numbers go into the summary."""
    from skyseg.runtime.atomic_file import write_image_atomic
    from skyseg.runtime.backends.base import open_backend
    from skyseg.runtime.process.segmenter import Segmenter
    from skyseg.runtime.quality.evaluate import evaluate_dataset
    from skyseg.runtime.quality.overlay_sheet import grid

    tiles: list = []
    with open_backend(str(model), backend="ort", threads=threads) as backend:
        score = evaluate_dataset(Segmenter(backend), realsky, tiles=tiles)
    sheet = write_image_atomic(out / "realsky" / "realsky_masks.png", grid(tiles, 3))
    summary.files["real skies: masks on labelled frames (blue sky, red false sky, yellow missed)"] = sheet
    summary.numbers["real skies: sky-mask IoU mean / min (labelled frames)"] = (
        f"{score.mean_iou:.4f} / {min(f.iou for f in score.frames):.4f} over {len(score.frames)} frames")
    summary.numbers["real skies: largest false-sky share"] = round(score.max_false_sky, 4)
    for f in score.frames:
        log.info("real sky %-40s IoU %.4f false sky %.4f missed sky %.4f", f.name, f.iou, f.false_sky, f.missed_sky)
