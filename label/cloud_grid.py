"""Look at a frame through the 33-region cloud grid: what the cloud labels in datasets/*/clouds/ were made with.

`python -m skyseg.label.cloud_grid DATASET [--only STEM...] -o OUT` writes, per frame, `<stem>_grid.png` (the
display frame with the grid and region numbers, not-sky tinted where a sky mask exists) and `<stem>_enh.png` (the
same after a local contrast stretch that brings out faint stars and thin cloud), and, for a frame without a label
file yet, a proposal `<stem>.json` in OUT with the circle and "none" for regions that the sky mask says are mostly
not sky. The circle comes from the label file when there is one, else from the sky mask (masks/<split>/<stem>.png),
else from the frame itself (the lit area's outline); `--crop X0 Y0 X1 Y1` zooms into one part of the frame.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from skyseg.label.circle import fit_image_circle
from skyseg.runtime.atomic_file import write_bytes_atomic, write_image_atomic
from skyseg.runtime.clouds.grid import N_REGIONS, GridCircle, region_map, region_shares
from skyseg.runtime.frame import FrameError
from skyseg.runtime.process.preprocess import to_display8
from skyseg.runtime.quality.evaluate import frame_stem
from skyseg.runtime.sources.image_reader import read_frame_file
from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES

log = logging.getLogger(__name__)
VIEW_SIDE = 1000  # longest side of the written views (px)


def read_display(image: Path) -> np.ndarray:
    """The frame as the runtime shows it: 8-bit, gray or RGB."""
    frame = read_frame_file(image, 0, str(image.parent))
    if isinstance(frame, FrameError):
        raise ValueError(f"cannot read {image}: {frame.message}")
    return to_display8(frame.pixels)


def grey_of(img8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img8, cv2.COLOR_RGB2GRAY) if img8.ndim == 3 else img8


def propose_circle(grey: np.ndarray, sky: Optional[np.ndarray]) -> GridCircle:
    """The image circle from the sky mask's outline, else from the frame's lit area (Otsu level of a blur)."""
    if sky is not None:
        c = fit_image_circle(sky.astype(np.uint8) * 255, 127)
    else:
        blur = cv2.medianBlur(grey, 9)
        level, _ = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        c = fit_image_circle(blur, float(level))
    return GridCircle(c.cx, c.cy, c.r)


def enhance(grey: np.ndarray) -> np.ndarray:
    """Local contrast: CLAHE on the grey frame (stars and thin cloud edges stand out)."""
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(grey)


def draw_grid(img8: np.ndarray, circle: GridCircle, sky: Optional[np.ndarray] = None,
              labels: Optional[List[str]] = None) -> np.ndarray:
    """RGB copy of the frame with ring/sector lines, region numbers (and labels: c = cloud, . = clear, x = none)."""
    rgb = cv2.cvtColor(img8, cv2.COLOR_GRAY2RGB) if img8.ndim == 2 else img8.copy()
    if sky is not None:
        rgb[~sky] = (rgb[~sky] * 0.6 + np.array([90, 0, 0]) * 0.4).astype(np.uint8)
    scale = max(rgb.shape[:2]) / 1000.0
    thick = max(1, int(round(1.5 * scale)))
    colour = (0, 255, 0)
    cx, cy, r = circle.cx, circle.cy, circle.r
    for k in range(1, 6):
        cv2.circle(rgb, (int(round(cx)), int(round(cy))), int(round(r * k / 5)), colour, thick, cv2.LINE_AA)
    for s in range(8):
        a = np.radians(45.0 * s)
        p0 = (cx + np.sin(a) * r / 5, cy - np.cos(a) * r / 5)
        p1 = (cx + np.sin(a) * r, cy - np.cos(a) * r)
        cv2.line(rgb, tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1), colour, thick, cv2.LINE_AA)
    for region in range(N_REGIONS):
        x, y = _region_centre(circle, region)
        text = str(region) + ("" if labels is None else {"cloud": "c", "clear": ".", "none": "x"}[labels[region]])
        cv2.putText(rgb, text, (int(x - 12 * scale), int(y + 8 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                    (255, 255, 0), thick, cv2.LINE_AA)
    return rgb


def _region_centre(circle: GridCircle, region: int) -> Tuple[float, float]:
    if region == 0:
        return circle.cx, circle.cy
    ring, sector = divmod(region - 1, 8)
    rad = circle.r * (ring + 1.5) / 5
    a = np.radians(45.0 * sector + 22.5)
    return circle.cx + np.sin(a) * rad, circle.cy - np.cos(a) * rad


def _fit_view(rgb: np.ndarray, crop: Optional[List[int]]) -> np.ndarray:
    if crop:
        x0, y0, x1, y1 = crop
        rgb = rgb[y0:y1, x0:x1]
    f = VIEW_SIDE / max(rgb.shape[:2])
    return cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_NEAREST)


def frames_of(root: Path) -> List[Path]:
    return sorted(p for p in (root / "images").glob("*/*") if p.name.lower().endswith((*IMAGE_SUFFIXES, *FITS_SUFFIXES)))


def view_frame(root: Path, image: Path, out: Path, crop: Optional[List[int]] = None) -> None:
    """Write the grid and enhanced views of one frame (and a label proposal when it has no label file)."""
    stem = frame_stem(image)
    img8 = read_display(image)
    grey = grey_of(img8)
    mask_path = root / "masks" / image.parent.name / f"{stem}.png"
    sky = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 127 if mask_path.is_file() else None
    label_path = root / "clouds" / f"{stem}.json"
    label = json.loads(label_path.read_text()) if label_path.is_file() else None
    circle = GridCircle.from_json(label["circle"]) if label else propose_circle(grey, sky)
    labels = label["regions"] if label else None
    tag = "" if not crop else "_crop"
    write_image_atomic(out / f"{stem}_grid{tag}.png", _fit_view(draw_grid(img8, circle, sky, labels), crop))
    write_image_atomic(out / f"{stem}_enh{tag}.png", _fit_view(draw_grid(enhance(grey), circle, sky, labels), crop))
    if label is None:
        regions = region_map(grey.shape, circle)
        share = region_shares(sky, np.ones_like(sky), regions) if sky is not None else np.full(N_REGIONS, np.nan)
        proposal = {"circle": circle.to_json(),
                    "regions": ["none" if (s == s and s < 0.5) else "clear" for s in share], "notes": ""}
        write_bytes_atomic(out / f"{stem}.json", (json.dumps(proposal) + "\n").encode())
    log.info("%s: circle %s", stem, circle.to_json())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=None, help="frame stems to draw (default: all)")
    parser.add_argument("--crop", nargs=4, type=int, default=None, metavar=("X0", "Y0", "X1", "Y1"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    images = [p for p in frames_of(args.dataset) if args.only is None or frame_stem(p) in args.only]
    if not images:
        sys.stderr.write(f"no frames found under {args.dataset}/images (or none matches --only).\n")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for image in images:
        view_frame(args.dataset, image, args.out, args.crop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
