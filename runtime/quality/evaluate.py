"""Sky-mask accuracy of a model against labelled frames: what `skyseg evaluate` reports.

A dataset is a folder in the layout `skyseg synth` writes (and NoisySky-style YOLO-seg datasets use):
`images/<split>/NAME.ext` with ground truth in `masks/<split>/NAME.png` (255 = sky) when present, else in
`labels/<split>/NAME.txt` (YOLO-seg polygons, rasterised at the image's size; every class counts as sky). Frames
run through the same runtime path as `skyseg run` (stretch, letterbox, backend, post-processing, full-size union
mask), so the numbers are what users get.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import FrameError
from skyseg.runtime.sources.image_reader import read_frame_file
from skyseg.runtime.quality.mask_metrics import error_shares, overlap_counts
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameScore:
    name: str
    iou: float
    intersection: int
    union: int
    false_sky: float = 0.0  # share of the frame's pixels predicted sky that are not sky (mask_metrics.error_shares)
    missed_sky: float = 0.0  # share of the frame's pixels that are sky and were not predicted
    camera: str = ""  # from the dataset's cameras.tsv; a frame not listed there is its own camera


@dataclass
class DatasetScore:
    """Per-frame IoUs of one dataset and their summaries."""

    root: str
    frames: list[FrameScore] = field(default_factory=list)

    @property
    def mean_iou(self) -> float:
        return float(np.mean([f.iou for f in self.frames])) if self.frames else float("nan")

    @property
    def pooled_iou(self) -> float:
        """Σ intersection / Σ union: every pixel weighs the same, whatever its frame's sky fraction."""
        union = sum(f.union for f in self.frames)
        return sum(f.intersection for f in self.frames) / union if union else 1.0

    def percentile(self, q: float) -> float:
        return float(np.percentile([f.iou for f in self.frames], q)) if self.frames else float("nan")

    @property
    def max_false_sky(self) -> float:
        return max((f.false_sky for f in self.frames), default=float("nan"))

    def worst(self, n: int = 3) -> list[FrameScore]:
        return sorted(self.frames, key=lambda f: f.iou)[:n]

    def by_camera(self) -> dict[str, list[FrameScore]]:
        """Frames grouped by camera, in the order cameras first appear."""
        groups: dict[str, list[FrameScore]] = {}
        for f in self.frames:
            groups.setdefault(f.camera or f.name, []).append(f)
        return groups

    @property
    def camera_mean_iou(self) -> float:
        """Mean over cameras of each camera's mean IoU: a camera with twenty frames weighs as much as one with one."""
        groups = self.by_camera()
        return float(np.mean([np.mean([f.iou for f in fs]) for fs in groups.values()])) if groups else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "frames": len(self.frames), "cameras": len(self.by_camera()),
                "camera_mean_iou": self.camera_mean_iou, "mean_iou": self.mean_iou,
                "pooled_iou": self.pooled_iou,
                "per_camera": {cam: {"frames": len(fs), "mean_iou": round(float(np.mean([f.iou for f in fs])), 6),
                                     "min_iou": round(min(f.iou for f in fs), 6),
                                     "max_false_sky": round(max(f.false_sky for f in fs), 6)}
                               for cam, fs in self.by_camera().items()}, "p10_iou": self.percentile(10),
                "worst": [{"name": f.name, "iou": f.iou} for f in self.worst()],
                "per_frame": {f.name: round(f.iou, 6) for f in self.frames},
                "max_false_sky": self.max_false_sky,
                "per_frame_shares": {f.name: {"false_sky": round(f.false_sky, 6), "missed_sky": round(f.missed_sky, 6)}
                                     for f in self.frames}}


def frame_stem(image: Path) -> str:
    """The name a frame's mask and label files share: the file name without its image suffix (.fits.gz too)."""
    return image.name[: -len(".fits.gz")] if image.name.lower().endswith(".fits.gz") else image.stem


def read_cameras(root: Path) -> dict[str, str]:
    """file name -> camera from the dataset's `cameras.tsv` (columns `file`, `camera`); {} when there is none."""
    table = root / "cameras.tsv"
    if not table.is_file():
        return {}
    cameras = {}
    for n, line in enumerate(table.read_text(encoding="utf-8", errors="replace").splitlines()[1:], 2):
        cells = line.split("\t")
        if len(cells) < 2 or not cells[0] or not cells[1]:
            if line.strip():
                raise InputError(f"{table}:{n}: expected 'file<TAB>camera'.")
            continue
        cameras[cells[0]] = cells[1]
    return cameras


def dataset_frames(root: str | Path, split: str = "all") -> list[tuple[Path, Path]]:
    """(image, ground truth) pairs of a dataset folder; an image without ground truth is an error."""
    root = Path(root)
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise InputError(f"{root} has no images/ folder: expected the YOLO-seg layout images/<split>/, masks/ or "
                         "labels/ (what `skyseg synth` writes).")
    splits = sorted(p.name for p in images_dir.iterdir() if p.is_dir()) if split == "all" else [split]
    pairs: list[tuple[Path, Path]] = []
    for name in splits:
        folder = images_dir / name
        if not folder.is_dir():
            raise InputError(f"{root} has no split {name!r} (found {sorted(p.name for p in images_dir.iterdir())}).")
        for image in sorted(p for p in folder.iterdir() if p.name.lower().endswith((*IMAGE_SUFFIXES, *FITS_SUFFIXES))):
            stem = frame_stem(image)
            mask = root / "masks" / name / f"{stem}.png"
            label = root / "labels" / name / f"{stem}.txt"
            if mask.is_file():
                pairs.append((image, mask))
            elif label.is_file():
                pairs.append((image, label))
            else:
                raise InputError(f"{image} has no ground truth: neither {mask} nor {label} exists.")
    if not pairs:
        raise InputError(f"{root}: no images found under {images_dir} for split {split!r}.")
    return pairs


def read_truth(path: Path, hw: tuple[int, int]) -> np.ndarray:
    """Boolean sky mask (H, W) from a mask PNG (> 127 = sky) or a YOLO-seg label file."""
    if path.suffix.lower() == ".png":
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise InputError(f"cannot decode the mask {path}.")
        if mask.shape != hw:
            raise InputError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its image is {hw[1]}x{hw[0]}.")
        return mask > 127
    h, w = hw
    polys = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file of YOLO-seg lines (not UTF-8).") from None
    for n, line in enumerate(text.splitlines(), 1):
        values = line.split()
        if not values:
            continue
        try:
            xy = np.asarray(values[1:], np.float64).reshape(-1, 2)
        except ValueError:
            raise InputError(f"{path}:{n}: not a YOLO-seg line (class x1 y1 x2 y2 ...).") from None
        if not np.isfinite(xy).all() or xy.min(initial=0.0) < -0.01 or xy.max(initial=0.0) > 1.01 or len(xy) < 3:
            raise InputError(f"{path}:{n}: a polygon needs at least three points with coordinates within 0-1 "
                             "(NaN, infinite or out-of-frame values found).")
        polys.append(np.round(xy * (w, h)).astype(np.int32).reshape(-1, 1, 2))
    out = np.zeros(hw, np.uint8)
    if polys:
        cv2.fillPoly(out, polys, 1)
    return out > 0


def evaluate_dataset(segmenter: Segmenter, root: str | Path, split: str = "all",
                     max_frames: int | None = None, tiles: list[np.ndarray] | None = None) -> DatasetScore:
    """Run every frame of a dataset through `segmenter` and score its sky mask against the ground truth.

    With `tiles`, one error-overlay tile per frame is appended to it (runtime.quality.error_sheet).
    """
    score = DatasetScore(str(root))
    pairs = dataset_frames(root, split)[:max_frames]
    cameras = read_cameras(Path(root))
    for i, (image, truth_path) in enumerate(pairs):
        frame = read_frame_file(image, i, str(root))
        if isinstance(frame, FrameError):
            raise InputError(f"cannot read {image}: {frame.message}.")
        rgb8 = None
        if tiles is None:
            pred = segmenter.segment_frame(frame).sky_mask
        else:  # the whole record: the tile is drawn on the frame as displayed
            record = segmenter.record(frame)
            if record.result is None:
                raise InputError(f"cannot segment {image}: {record.error.message if record.error else 'no result'}.")
            pred, rgb8 = record.result.sky_mask, record.rgb8
        truth = read_truth(truth_path, pred.shape)
        inter, union = overlap_counts(pred, truth)
        false_sky, missed_sky = error_shares(pred, truth)
        score.frames.append(FrameScore(f"{image.parent.name}/{image.name}", inter / union if union else 1.0,
                                       inter, union, false_sky, missed_sky,
                                       cameras.get(image.name, frame_stem(image))))
        if tiles is not None and rgb8 is not None:
            from skyseg.runtime.quality.error_sheet import error_tile

            f = score.frames[-1]
            label = f"{image.name.split('.')[0][:22]} IoU {f.iou:.3f} fs {f.false_sky:.3f} ms {f.missed_sky:.3f}"
            tiles.append(error_tile(rgb8, pred, truth, label))
        if (i + 1) % 50 == 0:
            log.info("%s: %d/%d frames, mean IoU so far %.4f", root, i + 1, len(pairs), score.mean_iou)
    return score


def markdown(scores: Sequence[DatasetScore], model: str) -> str:
    lines = [f"sky-mask IoU of {model}", "",
             "| dataset | frames | mean IoU | pooled IoU | p10 IoU | worst frame | max false-sky |",
             "|---|---|---|---|---|---|---|"]
    for s in scores:
        worst = s.worst(1)[0]
        lines.append(f"| {s.root} | {len(s.frames)} | {s.mean_iou:.4f} | {s.pooled_iou:.4f} | "
                     f"{s.percentile(10):.4f} | {worst.name} ({worst.iou:.3f}) | {s.max_false_sky:.4f} |")
    for s in scores:
        lines += ["", f"{s.root}: by camera (camera-mean IoU {s.camera_mean_iou:.4f} over {len(s.by_camera())} cameras)",
                  "", "| camera | frames | mean IoU | min IoU | max false-sky |", "|---|---|---|---|---|"]
        for cam, fs in s.by_camera().items():
            ious = [f.iou for f in fs]
            lines.append(f"| {cam} | {len(fs)} | {np.mean(ious):.4f} | {min(ious):.4f} | "
                         f"{max(f.false_sky for f in fs):.4f} |")
    return "\n".join(lines) + "\n"


def to_json(scores: Sequence[DatasetScore], model: str) -> str:
    return json.dumps({"model": model, "datasets": [s.to_json() for s in scores]}, indent=1)
