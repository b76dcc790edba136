"""Training variants of labelled real frames: what differs between night cameras, applied to frames we trust.

A real frame with a hand-checked sky mask (datasets/realsky, datasets/realpool) is read and stretched exactly as
the runtime reads it, then turned into `per_frame` variants that imitate how another camera would have seen the
same sky: a rotation about the frame centre (all-sky cameras are mounted at any azimuth), a mirror, a zoom and a
sensor crop to another aspect ratio (4:3, 3:2, 16:9, 1:1: circles cut by the sensor), the frame's colour turned
grey or cast (sodium orange, LED blue, green aurora sensors), gain and gamma (over- and under-exposed nights),
radial vignetting (the darkened rim that models miss), sensor noise, blur, JPEG compression and, in a share of the
variants, dark housing corners (analogue meteor cameras). Geometry moves the mask with the pixels (nearest
neighbour, so it stays 0/255); housing corners are painted into both image and mask (not sky). Photometric changes
never change the mask. The output is a YOLO-seg dataset in the generator's layout (images/, masks/, labels/,
data.yaml), one sky instance per frame as `synth/polygons.py` defines it.

    python -m skyseg.synth.real_augment datasets/realsky datasets/realpool -o OUT --per-camera 36 \
        --exclude-cameras magic,cta --seed 7
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame
from skyseg.runtime.quality.evaluate import dataset_frames, frame_stem, read_cameras
from skyseg.runtime.sources.image_reader import read_frame_file
from skyseg.synth.composite import _as_rgb8
from skyseg.synth.dataset import _encode, write_atomic, write_data_yaml
from skyseg.synth.polygons import MIN_REGION_PX, close_mask, merge_regions, simplify, to_label_lines

log = logging.getLogger(__name__)

ASPECTS = (4 / 3, 3 / 2, 16 / 9, 1.0, 4 / 3)  # width / height of the crop; 4:3 twice (the commonest all-sky sensor)
CASTS = ((1.0, 1.0, 1.0), (1.25, 1.0, 0.7), (0.85, 0.95, 1.2), (0.9, 1.2, 0.9), (1.15, 1.05, 0.85))


@dataclass(frozen=True)
class LabelledFrame:
    """One real frame with its hand-checked mask and the camera it came from."""

    image: Path
    mask: Path
    camera: str


def labelled_frames(roots: Iterable[str | Path]) -> list[LabelledFrame]:
    """Every frame of `images/*/` that has a mask in `masks/<split>/<stem>.png`, with its camera."""

    out = []
    for root in map(Path, roots):
        cameras = read_cameras(root)
        for image, truth in dataset_frames(root):
            out.append(LabelledFrame(image, truth, cameras.get(image.name, frame_stem(image))))
    return out


def _rotate(image: np.ndarray, mask: np.ndarray, angle: float, scale: float, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if flip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def _crop(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, aspect: float,
          keep: float) -> tuple[np.ndarray, np.ndarray]:
    """A crop of `aspect` covering at least `keep` of the frame's limiting side, placed at random."""
    h, w = mask.shape
    cw, ch = (w, int(round(w / aspect))) if w / h < aspect else (int(round(h * aspect)), h)
    cw, ch = max(32, int(cw * keep)), max(32, int(ch * keep))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return image[y0:y0 + ch, x0:x0 + cw], mask[y0:y0 + ch, x0:x0 + cw]


def _housing_corners(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> None:
    """Dark rounded housing corners (in place): not sky in the mask, near-black with a little noise in the image."""
    h, w = mask.shape
    r = rng.uniform(0.18, 0.35) * min(h, w)
    level = rng.uniform(0.0, 18.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    corner = np.zeros((h, w), bool)
    for cx, cy in ((0, 0), (w, 0), (0, h), (w, h)):
        if rng.random() < 0.8:
            corner |= np.hypot(xx - cx, yy - cy) < r
    image[corner] = np.clip(level + rng.normal(0, 3, (int(corner.sum()), image.shape[2])), 0, 255).astype(np.uint8)
    mask[corner] = 0


def _photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Colour, exposure, vignetting, noise, blur: the mask does not change."""
    x = image.astype(np.float32) / 255.0
    if rng.random() < 0.35:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    else:
        cast = np.asarray(CASTS[int(rng.integers(len(CASTS)))], np.float32) * rng.uniform(0.92, 1.08, 3)
        x = x * cast.astype(np.float32)
    h, w = x.shape[:2]
    if rng.random() < 0.6:  # radial falloff about a point near the centre: darkens the rim, like real lenses
        cx, cy = w / 2 + rng.normal(0, 0.05) * w, h / 2 + rng.normal(0, 0.05) * h
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        rr = np.hypot(xx - cx, yy - cy) / (0.5 * math.hypot(w, h))
        x = x * (1.0 - rng.uniform(0.3, 0.8) * np.clip(rr, 0, 1) ** rng.uniform(1.5, 3.0))[..., None]
    x = np.clip(x * rng.uniform(0.5, 1.8), 0, 1) ** rng.uniform(0.6, 1.5)
    x = x + rng.normal(0, rng.uniform(0.0, 0.04), x.shape).astype(np.float32)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.6, 1.6))
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def augment(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray,
            long_side: int = 640) -> tuple[np.ndarray, np.ndarray]:
    """One variant (RGB uint8, mask uint8 0/255) of a real frame, its long side `long_side`."""
    image, mask = _rotate(image, mask, rng.uniform(0, 360), rng.uniform(0.85, 1.15), bool(rng.random() < 0.5))
    image, mask = _crop(rng, image, mask, ASPECTS[int(rng.integers(len(ASPECTS)))], rng.uniform(0.7, 1.0))
    h, w = mask.shape
    k = long_side / max(h, w)
    size = (max(16, int(round(w * k))), max(16, int(round(h * k))))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    image = np.ascontiguousarray(image)
    if rng.random() < 0.2:
        _housing_corners(rng, image, mask)
    return _photometric(rng, image), mask


def load_labelled(frame: LabelledFrame) -> tuple[np.ndarray, np.ndarray]:
    """The frame as the runtime shows it to the model (RGB uint8) and its mask (uint8 0/255)."""
    read = read_frame_file(frame.image, 0, "real")
    if not isinstance(read, Frame):
        raise InputError(f"cannot read {frame.image}: {read.message}")
    image = _as_rgb8(read.pixels)
    truth = cv2.imread(str(frame.mask), cv2.IMREAD_GRAYSCALE)
    if truth is None or truth.shape != image.shape[:2]:
        raise InputError(f"the mask {frame.mask} cannot be read or does not match the size of {frame.image}.")
    return image, np.where(truth > 127, 255, 0).astype(np.uint8)


def variants_per_frame(frames: Sequence[LabelledFrame], per_camera: int) -> list[int]:
    """Variants for each frame so that every camera gets about `per_camera` of them, however many frames it has."""
    counts: dict[str, int] = {}
    for f in frames:
        counts[f.camera] = counts.get(f.camera, 0) + 1
    return [max(1, math.ceil(per_camera / counts[f.camera])) for f in frames]


def write_variants(frames: Sequence[LabelledFrame], out: Path, per_frame: int | Sequence[int], seed: int,
                   long_side: int = 640) -> Path:
    """Variants of every frame (`per_frame` each, or one count per frame) into a YOLO-seg dataset at `out` (train
    split); returns data.yaml."""
    if not frames:
        raise InputError("no labelled real frames to augment (check the dataset folders and --exclude-cameras).")
    counts = [per_frame] * len(frames) if isinstance(per_frame, int) else list(per_frame)
    if min(counts) < 1:
        raise InputError(f"--per-frame must be at least 1, got {min(counts)}.")
    for sub in ("images/train", "masks/train", "labels/train"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    records = []
    for i, (frame, n_variants) in enumerate(zip(frames, counts)):
        image, mask = load_labelled(frame)
        for j in range(n_variants):
            rng = np.random.default_rng([seed, i, j])
            var, var_mask = augment(rng, image, mask, long_side)
            var_mask, contours = close_mask(var_mask > 0, max(MIN_REGION_PX, var_mask.size // 2000))
            polygons = merge_regions([simplify(c).astype(np.float32) for c in contours])
            stem = f"{frame.camera}_{frame.image.name.split('.')[0]}_{j:03d}"
            write_atomic(out / "images/train" / f"{stem}.jpg", _encode(var, ".jpg"))
            write_atomic(out / "masks/train" / f"{stem}.png", _encode(var_mask, ".png"))
            lines = to_label_lines(polygons, (var.shape[1], var.shape[0]))
            write_atomic(out / "labels/train" / f"{stem}.txt", ("\n".join(lines) + "\n" if lines else "").encode())
        records.append({"file": str(frame.image), "camera": frame.camera, "variants": n_variants})
    write_atomic(out / "manifest.json", json.dumps({"seed": seed, "frames": records},
                                                   indent=1).encode())
    return write_data_yaml(out, has_val=False)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m skyseg.synth.real_augment", description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", help="labelled real datasets (images/, masks/, cameras.tsv)")
    ap.add_argument("-o", "--out", required=True, type=Path)
    ap.add_argument("--per-frame", type=int, default=12)
    ap.add_argument("--per-camera", type=int, default=None,
                    help="about this many variants per camera instead (a camera with many frames does not dominate)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--long-side", type=int, default=640)
    ap.add_argument("--exclude-cameras", default="", help="comma-separated cameras left out (held-out folds)")
    ap.add_argument("--only-cameras", default="", help="comma-separated cameras to use (default: all)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    excluded = {c for c in args.exclude_cameras.split(",") if c}
    only = {c for c in args.only_cameras.split(",") if c}
    try:
        frames = [f for f in labelled_frames(args.datasets)
                  if f.camera not in excluded and (not only or f.camera in only)]
        counts = variants_per_frame(frames, args.per_camera) if args.per_camera else args.per_frame
        data = write_variants(frames, args.out, counts, args.seed, args.long_side)
    except InputError as exc:
        log.error("%s", exc)
        return 2
    log.info("%d real frames from %d cameras -> %s", len(frames), len({f.camera for f in frames}), data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
