"""Validate (and optionally fix) a YOLO-seg dataset: NoisySky, our synthetic sets, or a user's own frames.

Checks, each reported as `FILE:LINE: message` (or `FILE: message`): label lines that do not parse, unknown
class ids, odd coordinate counts, polygons with fewer than 3 points, coordinates outside [0, 1], images
without a label file, label files without an image, unreadable images. Fixes are opt-in and never silent:
`clip` clamps out-of-range coordinates, `drop` removes every bad label line; each change is logged and files
are rewritten atomically. Labels are found the Ultralytics way: the last `/images/` becomes `/labels/`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import cv2
import yaml

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}
FIXES = ("clip", "drop")


@dataclass(frozen=True)
class CheckConfig:
    """What `skyseg dataset check` was asked to do."""

    data: Path  # data.yaml, or a dataset folder (with data.yaml, or with images/ and labels/)
    fix: Optional[str] = None  # None | "clip" | "drop"
    dry_run: bool = False
    decode_images: bool = True  # open every image to find unreadable ones


@dataclass(frozen=True)
class Problem:
    """One finding. `line` is 1-based, or None for file-level findings."""

    path: Path
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass
class CheckReport:
    """Findings before fixing, the fixes (applied or, in a dry run, proposed) and what is still wrong."""

    images: int = 0
    labels: int = 0
    problems: list[Problem] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    remaining: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.remaining


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's images live and which class ids are valid (None: unknown, not checked)."""

    image_dirs: tuple[Path, ...]
    image_files: tuple[Path, ...]
    names: Optional[dict[int, str]]


def _names(raw: object) -> Optional[dict[int, str]]:
    if isinstance(raw, dict):
        return {int(k): str(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return dict(enumerate(str(v) for v in raw))
    return None


def load_spec(data: Path) -> DatasetSpec:
    """Resolve a data.yaml (train/val/test as folders, lists or .txt image lists) or a bare dataset folder."""
    if data.is_dir():
        if (data / "data.yaml").is_file():
            data = data / "data.yaml"
        elif (data / "images").is_dir():
            return DatasetSpec((data / "images",), (), None)
        else:
            raise InputError(f"{data} has neither a data.yaml nor an images/ folder; pass a YOLO dataset.")
    if not data.is_file():
        raise InputError(f"dataset file {data} does not exist.")
    try:
        cfg = yaml.safe_load(data.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"cannot read {data} as YAML ({err}).") from err
    if not isinstance(cfg, dict):
        raise InputError(f"{data} is not a YAML mapping with train/val/names keys.")
    root = Path(cfg.get("path") or data.parent)
    if not root.is_absolute():
        root = (data.parent / root).resolve()
    dirs: list[Path] = []
    files: list[Path] = []
    for key in ("train", "val", "test"):
        entries = cfg.get(key)
        for entry in entries if isinstance(entries, list) else [entries] if entries else []:
            p = Path(entry) if Path(entry).is_absolute() else root / entry
            if p.is_dir():
                dirs.append(p)
            elif p.suffix == ".txt" and p.is_file():
                for line in p.read_text().splitlines():
                    if line.strip():
                        q = Path(line.strip())
                        files.append(q if q.is_absolute() else (p.parent / q).resolve())
            else:
                raise InputError(f"{data}: '{key}' points to {p}, which is neither a folder nor an image list.")
    names = _names(cfg.get("names"))
    if names is None:
        raise InputError(f"{data} has no 'names' (expected e.g. names: {{0: sky}}).")
    return DatasetSpec(tuple(dict.fromkeys(dirs)), tuple(dict.fromkeys(files)), names)


def label_path(image: Path) -> Path:
    """Ultralytics' convention: …/images/…/x.jpg → …/labels/…/x.txt (the last `images` component)."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def check_line(text: str, names: Optional[dict[int, str]]) -> tuple[list[str], bool]:
    """Problems of one label line, and whether the only problem is out-of-range coordinates (clip-able)."""
    tokens = text.split()
    try:
        values = [float(t) for t in tokens[1:]]
        cls_value = float(tokens[0])
        if not cls_value.is_integer():
            raise ValueError(tokens[0])
        cls = int(cls_value)
    except ValueError:
        return [f"not a label line (expected 'class x1 y1 x2 y2 ...' numbers): {text.strip()[:60]!r}"], False
    msgs: list[str] = []
    if names is not None and cls not in names:
        msgs.append(f"class id {cls} is not in names {sorted(names)}")
    if len(values) % 2:
        msgs.append(f"odd number of coordinates ({len(values)}); expected x y pairs")
    elif len(values) < 6:
        msgs.append(f"polygon has {len(values) // 2} points; at least 3 are needed")
    out = [v for v in values if not 0.0 <= v <= 1.0]
    structural = bool(msgs)
    if out:
        msgs.append(f"{len(out)} coordinates outside [0, 1] (e.g. {out[0]:g})")
    return msgs, bool(out) and not structural


def _clip_line(text: str) -> str:
    tokens = text.split()
    return " ".join([tokens[0]] + [f"{min(1.0, max(0.0, float(t))):.6g}" for t in tokens[1:]])


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _check_label_file(path: Path, cfg: CheckConfig, names: Optional[dict[int, str]], report: CheckReport) -> None:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        problem = Problem(path, None, f"unreadable label file ({err.__class__.__name__})")
        report.problems.append(problem)
        report.remaining.append(problem)
        return
    kept: list[str] = []
    changed = False
    verb = "would " if cfg.dry_run else ""
    for no, text in enumerate(lines, 1):
        if not text.strip():
            kept.append(text)
            continue
        msgs, clippable = check_line(text, names)
        found = [Problem(path, no, m) for m in msgs]
        report.problems += found
        if not found:
            kept.append(text)
        elif cfg.fix == "drop":
            report.fixes.append(f"{path}:{no}: {verb}drop the line ({'; '.join(msgs)})")
            changed = True
        elif cfg.fix == "clip" and clippable:
            report.fixes.append(f"{path}:{no}: {verb}clip coordinates to [0, 1]")
            kept.append(_clip_line(text))
            changed = True
        else:
            kept.append(text)
            report.remaining += found
    if changed and cfg.dry_run:
        report.remaining += [p for p in report.problems if p.path == path and p not in report.remaining]
    elif changed:
        _write_atomic(path, "\n".join(kept) + ("\n" if kept else ""))


def _images_in(spec: DatasetSpec) -> list[Path]:
    found = list(spec.image_files)
    for d in spec.image_dirs:
        found += [p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(dict.fromkeys(found))


def check_dataset(cfg: CheckConfig) -> CheckReport:
    """Check every image and label of the dataset; apply cfg.fix unless cfg.dry_run. Logs each finding."""
    if cfg.fix not in (None, *FIXES):
        raise InputError(f"--fix must be one of {', '.join(FIXES)}, got '{cfg.fix}'.")
    spec = load_spec(cfg.data)
    if spec.names is None:
        log.warning("no data.yaml with names: class ids are not checked")
    images = _images_in(spec)
    if not images:
        raise InputError(f"no images found under {', '.join(map(str, spec.image_dirs)) or cfg.data}.")
    report = CheckReport(images=len(images))
    wanted = {}
    for img in images:
        wanted[label_path(img)] = img
        if cfg.decode_images and cv2.imread(str(img), cv2.IMREAD_UNCHANGED) is None:
            p = Problem(img, None, "unreadable image (cv2 could not decode it)")
            report.problems.append(p)
            report.remaining.append(p)
    label_dirs = {label_path(d / "x.png").parent for d in spec.image_dirs}
    present = {p for d in label_dirs if d.is_dir() for p in d.rglob("*.txt")}
    for lbl, img in wanted.items():
        if not lbl.is_file():
            p = Problem(img, None, f"image has no label file (expected {lbl})")
            report.problems.append(p)
            report.remaining.append(p)
            continue
        report.labels += 1
        _check_label_file(lbl, cfg, spec.names, report)
    for lbl in sorted(present - set(wanted)):
        p = Problem(lbl, None, "label file has no image (no matching file under images/)")
        report.problems.append(p)
        report.remaining.append(p)
    for p in report.problems:
        log.warning("%s", p)
    for f in report.fixes:
        log.info("%s", f)
    log.info("%d images, %d label files: %d problems found, %d fixes %s, %d problems remain",
             report.images, report.labels, len(report.problems), len(report.fixes),
             "proposed (dry run)" if cfg.dry_run else "applied", len(report.remaining))
    return report
