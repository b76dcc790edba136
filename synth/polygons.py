"""Sky mask ⇄ polygons: the ground-truth convention shared by the generator, the labels and the tests.

A mask is uint8 (H, W) with 255 = sky. Each connected sky region is described by its outer contour in
pixel-index coordinates; the mask is *defined* as the filled outer contours, so it never has holes and
rasterising the polygons (cv2.fillPoly) reproduces it.

A frame's sky is labelled as ONE instance: the regions are joined into a single polygon by zero-width
bridges (`merge_regions`). "The sky" is one object; labelling each gap between trees as its own instance
made most ground-truth instances tiny fragments that no detector should be asked to separate (the first
bundled model's recall was stuck at 0.45 on them), while the product only ever uses the union.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_REGION_PX = 24  # smaller sky specks are not labelled (they become foreground in the image)
MIN_REGION_FRACTION = 0.0005  # nor are pockets under 0.05 % of the frame (~200 px at 640²): noise for training


def close_mask(sky: np.ndarray, min_area: int = MIN_REGION_PX) -> tuple[np.ndarray, list[np.ndarray]]:
    """bool/uint8 sky → (mask uint8 0/255 without holes or tiny specks, outer contours [N, 2] int32)."""
    src = (np.asarray(sky) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(src, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    kept = []
    for cnt in contours:
        if cnt.shape[0] >= 3 and cv2.contourArea(cnt) + cnt.shape[0] >= min_area:
            kept.append(cnt)
    mask = np.zeros_like(src)
    if kept:
        cv2.drawContours(mask, kept, -1, 255, thickness=cv2.FILLED)
    return mask, [c.reshape(-1, 2) for c in kept]


def simplify(contour: np.ndarray, epsilon: float = 0.6) -> np.ndarray:
    """Drop collinear/near-collinear contour points (≤ epsilon px off the outline); keeps ≥ 3 points."""
    approx = cv2.approxPolyDP(contour.reshape(-1, 1, 2).astype(np.int32), epsilon, True).reshape(-1, 2)
    return approx if approx.shape[0] >= 3 else contour


def mask_to_polygons(mask: np.ndarray, epsilon: float = 0.6) -> list[np.ndarray]:
    """Polygons (float32 [N, 2] pixel coordinates) of each sky region of a closed mask."""
    _, contours = close_mask(mask, min_area=0)
    return [simplify(c, epsilon).astype(np.float32) for c in contours]


def rasterize(polygons: list[np.ndarray], hw: tuple[int, int]) -> np.ndarray:
    """Polygons in pixel coordinates → uint8 0/255 mask, the way the tests and label checks read them."""
    out = np.zeros(hw, np.uint8)
    if polygons:
        cv2.fillPoly(out, [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in polygons], 255)
    return out


def merge_regions(polygons: list[np.ndarray]) -> list[np.ndarray]:
    """Join region polygons into one polygon ([] stays [], one stays one).

    Prim-style: the region nearest to what is already joined is spliced in next, at the closest pair of
    vertices, by walking out along a bridge, once round the region and back along the same bridge. The
    bridge encloses no area, so fillPoly paints it as a 1-px line and nothing else changes.
    """
    polys = [np.asarray(p, np.float32).reshape(-1, 2) for p in polygons if len(p) >= 3]
    if len(polys) <= 1:
        return polys
    polys.sort(key=lambda p: -abs(cv2.contourArea(p)))  # start from the largest region
    merged, rest = polys[0], polys[1:]
    while rest:
        best = None
        for k, poly in enumerate(rest):
            d2 = ((merged[:, None, :] - poly[None, :, :]) ** 2).sum(-1)
            i, j = np.unravel_index(int(np.argmin(d2)), d2.shape)
            if best is None or d2[i, j] < best[0]:
                best = (d2[i, j], k, i, j)
        _, k, i, j = best
        poly = rest.pop(k)
        loop = np.concatenate([poly[j:], poly[: j + 1]])  # round the region, back to where the bridge landed
        merged = np.concatenate([merged[: i + 1], loop, merged[i:]])
    return [merged]


def to_label_lines(polygons: list[np.ndarray], size_wh: tuple[int, int], class_id: int = 0) -> list[str]:
    """YOLO-seg label lines `cls x1 y1 x2 y2 ...` with coordinates normalised by width/height."""
    w, h = size_wh
    lines = []
    for poly in polygons:
        xy = np.asarray(poly, np.float64) / np.array([w, h], np.float64)
        xy = np.clip(xy, 0.0, 1.0)
        lines.append(f"{class_id} " + " ".join(f"{v:.6f}" for v in xy.ravel()))
    return lines
