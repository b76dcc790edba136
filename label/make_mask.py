"""`skyseg label`'s library call: frames + recipe → mask, overlay and a JSON record of what was done."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from skyseg.runtime.atomic_file import write_bytes_atomic, write_image_atomic
from skyseg.runtime.errors import InputError
from skyseg.label.circle import Circle, fit_image_circle
from skyseg.label.overlay import overlay_bgr
from skyseg.label.propose import (apply_polygons, drop_small, fill_holes, open_close, otsu_level, smooth,
                                  threshold_mask)
from skyseg.label.recipe import CircleSpec, Recipe, load_recipe
from skyseg.label.stack import frame_paths, median_stack, stack_sample

log = logging.getLogger(__name__)


@dataclass
class LabelResult:
    mask: np.ndarray  # bool H×W, True = sky
    stack: np.ndarray  # uint8 H×W, the stretched median stack
    circle: Circle | None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def sky_fraction(self) -> float:
        return float(self.mask.mean())


def mask_from_stack(stack: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, Circle | None, dict[str, Any]]:
    """The recipe's steps on one stretched grey stack → (sky mask, circle, per-step record)."""
    steps: dict[str, Any] = {}
    smooth_grey = smooth(stack, recipe.blur)
    mask, level = threshold_mask(smooth_grey, recipe.threshold)
    steps["threshold_level"] = level
    steps["sky_after_threshold"] = float(mask.mean())
    mask = open_close(mask, recipe.open, recipe.close)
    mask = fill_holes(drop_small(mask, recipe.min_sky_area), recipe.max_hole_area)
    steps["sky_after_cleanup"] = float(mask.mean())
    circle = None
    if recipe.circle is not None:
        spec = recipe.circle
        if spec.fixed:
            circle = Circle(spec.cx, spec.cy, spec.r, 0)
        else:
            lit = smooth(stack, 5)
            level = otsu_level(lit) if spec.threshold == "otsu" else float(spec.threshold)
            circle = fit_image_circle(lit, level)
            steps["circle_threshold_level"] = level
        mask &= circle.disk(stack.shape, spec.margin)
        steps["circle"] = {"cx": round(circle.cx, 2), "cy": round(circle.cy, 2), "r": round(circle.r, 2),
                           "fitted": not spec.fixed, "outline_points": circle.points, "margin": spec.margin}
        steps["sky_after_circle"] = float(mask.mean())
    mask = apply_polygons(mask, recipe.include, recipe.exclude)
    steps["include_polygons"], steps["exclude_polygons"] = len(recipe.include), len(recipe.exclude)
    steps["sky_fraction"] = float(mask.mean())
    return mask, circle, steps


def label_frames(paths: Sequence[Path], recipe: Recipe) -> LabelResult:
    """Median-stack `paths` (at most MAX_STACK_FRAMES of them, evenly spaced) and make the recipe's mask."""
    paths = stack_sample(paths)
    stack = median_stack(paths)
    for name, polys in (("include", recipe.include), ("exclude", recipe.exclude)):
        h, w = stack.shape
        outside = [i for i, p in enumerate(polys) if any(not (-w <= x <= 2 * w and -h <= y <= 2 * h) for x, y in p)]
        if outside:
            raise InputError(f"{name} polygon {outside[0]} lies far outside the {w}x{h} frame: "
                             "are these polygons for another camera?")
    mask, circle, steps = mask_from_stack(stack, recipe)
    record = {"frames": [str(p) for p in paths], "size": [int(stack.shape[1]), int(stack.shape[0])],
              "recipe": recipe.to_json(), "steps": steps}
    log.info("sky mask: %.1f%% of %dx%d px from %d frame(s)", 100 * mask.mean(), stack.shape[1], stack.shape[0],
             len(paths))
    return LabelResult(mask, stack, circle, record)


def mask_png(mask: np.ndarray) -> np.ndarray:
    """Bool mask → uint8 0/255 (255 = sky), the convention of every skyseg mask file."""
    return np.where(mask, np.uint8(255), np.uint8(0))


def write_outputs(result: LabelResult, out_dir: str | Path) -> list[Path]:
    """OUT_DIR/mask.png, overlay.png, stack.png and label.json; returns the paths written."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder {out}: {err.strerror or err}") from None
    written = [write_image_atomic(out / "mask.png", mask_png(result.mask), rgb=False),
               write_image_atomic(out / "overlay.png", overlay_bgr(result.stack, result.mask), rgb=False),
               write_image_atomic(out / "stack.png", result.stack, rgb=False),
               write_bytes_atomic(out / "label.json", (json.dumps(result.record, indent=1) + "\n").encode())]
    for path in written:
        log.info("wrote %s", path)
    return written


@dataclass(frozen=True)
class LabelConfig:
    """One `skyseg label` run: frames (files, folders, globs), the output folder, an optional recipe file and
    flag overrides of the recipe's parameters (None = keep the recipe's value)."""

    frames: tuple[str, ...]
    out_dir: Path
    polygons: Path | None = None
    threshold: float | str | None = None  # a level, "otsu" or "none"
    blur: int | None = None
    circle_threshold: float | None = None
    margin: float | None = None
    no_circle: bool = False


def resolve_recipe(config: LabelConfig) -> tuple[Recipe, list[Path]]:
    """The recipe (file + overrides) and the frame files to stack: FRAMES from the command line, else the
    recipe's own `frames` (relative to the recipe file)."""
    recipe = load_recipe(config.polygons) if config.polygons is not None else Recipe()
    changes: dict[str, Any] = {}
    if config.threshold is not None:
        changes["threshold"] = None if config.threshold == "none" else config.threshold
    if config.blur is not None:
        changes["blur"] = config.blur
    if config.no_circle:
        changes["circle"] = None
    elif config.circle_threshold is not None or config.margin is not None:
        base = recipe.circle or CircleSpec()
        changes["circle"] = replace(base, **{k: v for k, v in (("threshold", config.circle_threshold),
                                                              ("margin", config.margin)) if v is not None})
    recipe = replace(recipe, **changes)
    if config.frames:
        paths = frame_paths(config.frames)
    elif recipe.frames and config.polygons is not None:
        paths = frame_paths([str(config.polygons.parent / f) for f in recipe.frames])
    else:
        raise InputError("no frames given: name frame files, a folder or a glob (or a --polygons file that lists "
                         "its frames)")
    return recipe, paths


def make_label(config: LabelConfig) -> LabelResult:
    """`skyseg label`: stack the frames, make the mask, write OUT_DIR/mask.png, overlay.png, stack.png, label.json."""
    recipe, paths = resolve_recipe(config)
    result = label_frames(paths, recipe)
    write_outputs(result, config.out_dir)
    return result
