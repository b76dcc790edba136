"""What `skyseg label` does to a stack, as one frozen record read from (and written back to) JSON.

A recipe file (`--polygons P.json`) holds hand polygons and, optionally, the parameters of the proposed mask:

    {"threshold": 40, "blur": 9, "open": 3, "close": 7, "min_sky_area": 500, "max_hole_area": 2000,
     "circle": {"threshold": 12, "margin": 4},
     "include": [[[x, y], [x, y], [x, y], ...], ...],
     "exclude": [[[x, y], ...], ...],
     "frames": ["night/*.fits"], "notes": "free text"}

Coordinates are pixels of the full-size frame (x right, y down). `threshold` is a stretched 8-bit grey level, a
number or "otsu"; null means no brightness threshold (everything inside the circle is sky). `circle` null means
no image circle (a sensor that crops it away); `{"cx":…, "cy":…, "r":…}` fixes it instead of fitting it.
"otsu" (threshold and circle.threshold) is Otsu's level on the stack clipped at its 90th percentile.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, List, Union

from skyseg.runtime.errors import InputError

Polygon = List[List[float]]
Threshold = Union[float, str, None]


@dataclass(frozen=True)
class CircleSpec:
    threshold: float | str = "otsu"  # lit-area level for the fit: a grey level or "otsu"
    margin: float = 0.0  # px taken off the fitted radius (the rim's bright/dark edge)
    cx: float | None = None  # a fixed circle instead of a fit, when all three are given
    cy: float | None = None
    r: float | None = None

    @property
    def fixed(self) -> bool:
        return self.cx is not None and self.cy is not None and self.r is not None


@dataclass(frozen=True)
class Recipe:
    threshold: Threshold = "otsu"
    blur: int = 9  # median-filter size before thresholding (removes stars); 0 or 1: none
    open: int = 3  # opening kernel (removes bright specks off the sky); 0: none
    close: int = 7  # closing kernel (closes dark specks in the sky); 0: none
    min_sky_area: int = 500  # sky pieces smaller than this (px) are dropped
    max_hole_area: int = 2000  # non-sky holes inside the sky smaller than this (px) are filled
    circle: CircleSpec | None = field(default_factory=CircleSpec)
    include: tuple[Polygon, ...] = ()
    exclude: tuple[Polygon, ...] = ()
    frames: tuple[str, ...] = ()
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["include"], out["exclude"], out["frames"] = list(self.include), list(self.exclude), list(self.frames)
        return out


def _polygons(value: Any, key: str, where: str) -> tuple[Polygon, ...]:
    if not isinstance(value, list):
        raise InputError(f"{where}: {key!r} must be a list of polygons, each a list of [x, y] points")
    out = []
    for i, poly in enumerate(value):
        ok = isinstance(poly, list) and len(poly) >= 3 and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in poly)
        if not ok:
            raise InputError(f"{where}: {key}[{i}] is not a polygon: expected at least 3 [x, y] number pairs")
        out.append([[float(x), float(y)] for x, y in poly])
    return tuple(out)


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> Recipe:
    """A Recipe from parsed JSON; unknown keys and malformed values are InputErrors naming `where`."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object with include/exclude polygons and parameters")
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for key in ("include", "exclude"):
        if key in data:
            kwargs[key] = _polygons(data[key], key, where)
    threshold = data.get("threshold", Recipe.threshold)
    if not (threshold is None or threshold == "otsu" or isinstance(threshold, (int, float))):
        raise InputError(f"{where}: threshold must be a number, \"otsu\" or null, got {threshold!r}")
    kwargs["threshold"] = float(threshold) if isinstance(threshold, (int, float)) else threshold
    for key in ("blur", "open", "close", "min_sky_area", "max_hole_area"):
        if key in data:
            if not isinstance(data[key], int) or data[key] < 0:
                raise InputError(f"{where}: {key} must be a whole number ≥ 0, got {data[key]!r}")
            kwargs[key] = data[key]
    if "circle" in data:
        circle = data["circle"]
        if circle is not None and not isinstance(circle, dict):
            raise InputError(f"{where}: circle must be null or an object, got {circle!r}")
        try:
            kwargs["circle"] = None if circle is None else CircleSpec(**circle)
        except TypeError as err:
            raise InputError(f"{where}: circle: {err}") from None
        level = circle.get("threshold", "otsu") if circle is not None else "otsu"
        if not (level == "otsu" or isinstance(level, (int, float))):
            raise InputError(f"{where}: circle.threshold must be a number or \"otsu\", got {level!r}")
    if "frames" in data:
        kwargs["frames"] = tuple(str(f) for f in data["frames"])
    if "notes" in data:
        kwargs["notes"] = str(data["notes"])
    return Recipe(**kwargs)


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe/polygons JSON file; InputError with the file name when it is missing or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise InputError(f"cannot read polygons file {path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}") from None
    return recipe_from_dict(data, str(path))
