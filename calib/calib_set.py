"""A calibration set on disk: 8-bit RGB PNG frames (what the model sees before letterbox) plus `manifest.json`.

Frames are stored after the runtime's `to_rgb8` (16-bit/FITS stretch done), so `preprocess(frame)` on a stored
frame is bit-identical to `preprocess(original pixels)`: uint8 input passes through `to_rgb8` untouched.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.process.preprocess import preprocess

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "skyseg-calib/1"


def read_rgb(path: Path) -> np.ndarray:
    """Read a stored calibration frame as H×W×3 uint8 RGB; raises InputError when it cannot be decoded."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot decode calibration frame {path} (missing or corrupt PNG).")
    return np.ascontiguousarray(bgr[..., ::-1])


@dataclass(frozen=True)
class CalibEntry:
    """One stored frame and what the manifest says about it."""

    path: Path
    info: dict[str, Any]

    @property
    def strata(self) -> dict[str, Any]:
        """Condition labels for per-stratum reports: synthetic conditions, else the selection stats' labels."""
        return dict(self.info.get("conditions") or self.info.get("labels") or {})

    @property
    def mask_path(self) -> Path | None:
        mask = self.info.get("mask")
        return self.path.parent / mask if mask else None


class CalibrationSet:
    """Frames listed by a calibration directory's manifest, with a seeded calibration/hold-out split."""

    def __init__(self, root: Path, manifest: dict[str, Any], entries: list[CalibEntry]) -> None:
        self.root = root
        self.manifest = manifest
        self.entries = entries

    @classmethod
    def load(cls, root: Path | str) -> "CalibrationSet":
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"calibration directory {root} does not exist; create one with `skyseg calib select`.")
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            found = sorted(p.name for p in root.iterdir())[:5]
            raise InputError(
                f"no {MANIFEST} in {root} (found {found or 'nothing'}); create the set with `skyseg calib select` "
                f"or `skyseg calib synth`."
            )
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"cannot read {manifest_path}: {err}; recreate the calibration set.") from err
        frames = manifest.get("frames") if isinstance(manifest, dict) else None
        if not frames:
            raise InputError(
                f"{manifest_path} lists no frames; the source held no usable images — check the selection log."
            )
        entries = [CalibEntry(root / f["file"], f) for f in frames]
        return cls(root, manifest, entries)

    def __len__(self) -> int:
        return len(self.entries)

    def split(self, holdout: float, seed: int = 0) -> tuple[list[CalibEntry], list[CalibEntry]]:
        """(calibration, hold-out) entries; the hold-out is a seeded random `holdout` fraction (≥1 when > 0)."""
        if not 0.0 <= holdout < 1.0:
            raise InputError(f"--holdout must be in [0, 1), got {holdout}.")
        n = len(self.entries)
        n_hold = 0 if holdout == 0 else min(n - 1, max(1, int(round(n * holdout))))
        order = np.random.default_rng(seed).permutation(n)
        hold = sorted(order[:n_hold].tolist())
        cal = sorted(order[n_hold:].tolist())
        return [self.entries[i] for i in cal], [self.entries[i] for i in hold]


def iter_tensors(
    entries: list[CalibEntry], input_hw: tuple[int, int]
) -> Iterator[tuple[CalibEntry, np.ndarray, Any]]:
    """Yield (entry, [1,3,H,W] tensor, LetterboxInfo) via the runtime's `preprocess`; a corrupt frame is an error."""
    for entry in entries:
        tensor, info = preprocess(read_rgb(entry.path), input_hw)
        yield entry, tensor, info
