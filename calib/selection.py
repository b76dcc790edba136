"""Build a calibration set: from a real source (folder, glob, video, FITS night) or from synthetic night skies.

Real sources are read twice through the runtime's `open_source` (FITS/16-bit handling is the runtime's): a first
pass computes cheap statistics per frame, k-means groups them, and a second pass writes the chosen frames as
the 8-bit RGB the model sees (before letterbox) with a manifest saying why each was chosen.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.calib.calib_set import FORMAT, MANIFEST
from skyseg.runtime.atomic_file import write_image_atomic, write_json_atomic
from skyseg.calib.clustering import pick_spread
from skyseg.calib.features import FEATURES, feature_matrix, frame_stats, stats_labels
from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import FrameError
from skyseg.runtime.process.preprocess import to_rgb8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectConfig:
    """`skyseg calib select SOURCE -o OUT --n N`."""

    source: str
    output: Path
    n: int = 500
    seed: int = 0
    clusters: int | None = None  # default: about sqrt(n), at most 24


@dataclass(frozen=True)
class SynthCalibConfig:
    """`skyseg calib synth -o OUT --n N`: frames drawn from generated night skies (with exact masks)."""

    output: Path
    n: int = 200
    seed: int = 1000
    size: tuple[int, int] = (640, 480)  # (width, height)
    kind: str = "mixed"
    bit_depth: int = 8
    write_masks: bool = True


def _open(source: str):  # a runtime Source
    from skyseg.runtime.sources.uri import open_source

    return open_source(source)


def _prepare_output(out: Path) -> None:
    """Create `out`, or empty a previous calibration set there; never touch a folder holding other files."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("format") == FORMAT:  # a re-run replaces the previous set instead of mixing two
            for f in old.get("frames", []):
                for rel in (f.get("file"), f.get("mask")):
                    if rel:
                        (out / rel).unlink(missing_ok=True)
            manifest.unlink()
    leftovers = [p.name for p in out.iterdir() if p.name != "masks"]
    if leftovers:
        raise InputError(
            f"output folder {out} is not empty ({len(leftovers)} entries, e.g. {leftovers[0]}); choose a new or "
            f"empty folder, or one holding a previous calibration set."
        )


def _scan(source: str) -> tuple[list[dict[str, Any]], list[str], int]:
    """First pass: (per-frame records with stats, error descriptions, frames seen)."""
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    seen = 0
    with _open(source) as src:
        for item in src:
            seen += 1
            if isinstance(item, FrameError):
                errors.append(f"{Path(item.path).name if item.path else f'frame {item.index}'}: {item.message}")
                continue
            try:
                rgb8 = to_rgb8(item.pixels)
            except ValueError as err:
                errors.append(f"{Path(item.path).name if item.path else f'frame {item.index}'}: {err}")
                continue
            stats = frame_stats(rgb8)
            records.append({
                "source_index": int(item.index), "source_path": item.path, "timestamp": float(item.timestamp),
                "size_wh": [int(rgb8.shape[1]), int(rgb8.shape[0])], "stats": stats, "labels": stats_labels(stats),
            })
            if seen % 100 == 0:
                log.info("scanned %d frames (%d readable)", seen, len(records))
    return records, errors, seen


def select_calibration_set(cfg: SelectConfig) -> Path:
    """Choose up to `cfg.n` frames covering the source's conditions; returns the manifest path."""
    if cfg.n < 1:
        raise InputError(f"--n must be at least 1, got {cfg.n}.")
    records, errors, seen = _scan(cfg.source)
    if not records:
        detail = f"; {len(errors)} failed to decode: {'; '.join(errors[:5])}" if errors else ""
        raise InputError(f"0 readable images among {seen} inputs in {cfg.source}{detail}.")
    if errors:
        log.warning("%d of %d inputs could not be read (first: %s)", len(errors), seen, errors[0])
    x = feature_matrix([r["stats"] for r in records])
    k = cfg.clusters or max(1, min(24, round(math.sqrt(min(cfg.n, len(records))))))
    picks, centres, labels = pick_spread(x, min(cfg.n, len(records)), k, cfg.seed)
    chosen = {p.row: p for p in picks}
    _prepare_output(cfg.output)
    frames: list[dict[str, Any]] = []
    row = -1
    with _open(cfg.source) as src:  # second pass: write the chosen frames
        for item in src:
            if isinstance(item, FrameError):
                continue
            row += 1
            if row not in chosen:
                continue
            rec, pick = records[row], chosen[row]
            if rec["source_index"] != item.index:
                raise InputError(
                    f"{cfg.source} changed while selecting (frame {row} was index {rec['source_index']}, now "
                    f"{item.index}); select from a folder that is not being written to."
                )
            name = f"{len(frames):06d}.png"
            write_image_atomic(cfg.output / name, to_rgb8(item.pixels))
            frames.append({"file": name, **rec, "cluster": pick.cluster, "reason": pick.reason,
                           "distance_to_centre": round(pick.distance_to_centre, 4)})
    sizes = np.bincount(labels, minlength=len(centres))
    raw = np.array([[r["stats"][f] for f in FEATURES] for r in records])
    clusters = []
    for j in range(len(centres)):
        members = raw[labels == j]
        clusters.append({"id": j, "frames": int(sizes[j]), "chosen": sum(1 for p in picks if p.cluster == j),
                         "mean_stats": dict(zip(FEATURES, members.mean(axis=0).round(4).tolist()))
                         if len(members) else {}})
    manifest = {
        "format": FORMAT, "kind": "selected", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "source": cfg.source, "seed": cfg.seed, "n_requested": cfg.n, "inputs_seen": seen,
        "readable": len(records), "unreadable": errors, "features": list(FEATURES),
        "method": "k-means on z-scored stats of the stretched frame; per cluster: nearest to centre, then "
                  "farthest-point spread; slots ≥ 1 per cluster, the rest proportional to cluster size",
        "clusters": clusters, "frames": frames,
    }
    write_json_atomic(cfg.output / MANIFEST, manifest)
    log.info("calibration set: %d of %d readable frames in %d clusters → %s", len(frames), len(records),
             len(centres), cfg.output)
    return cfg.output / MANIFEST


def synth_calibration_set(cfg: SynthCalibConfig) -> Path:
    """Render `cfg.n` synthetic night skies (seeds seed..seed+n-1) as a calibration set with exact masks."""
    from skyseg.synth import render_scene

    if cfg.n < 1:
        raise InputError(f"--n must be at least 1, got {cfg.n}.")
    _prepare_output(cfg.output)
    frames = []
    for i in range(cfg.n):
        scene = render_scene(cfg.seed + i, kind=cfg.kind, size=cfg.size, bit_depth=cfg.bit_depth)
        rgb8 = to_rgb8(scene.image)
        name = f"{i:06d}.png"
        write_image_atomic(cfg.output / name, rgb8)
        entry: dict[str, Any] = {"file": name, "seed": cfg.seed + i, "kind": scene.kind,
                                 "conditions": synth_strata(scene.conditions), "stats": frame_stats(rgb8)}
        if cfg.write_masks:
            write_image_atomic(cfg.output / "masks" / name, scene.mask)
            entry["mask"] = f"masks/{name}"
        frames.append(entry)
        if (i + 1) % 50 == 0:
            log.info("rendered %d/%d synthetic frames", i + 1, cfg.n)
    manifest = {
        "format": FORMAT, "kind": "synthetic", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "source": f"skyseg.synth.render_scene(kind={cfg.kind!r}, size={list(cfg.size)}, "
                  f"bit_depth={cfg.bit_depth})", "seed": cfg.seed, "n_requested": cfg.n, "frames": frames,
    }
    write_json_atomic(cfg.output / MANIFEST, manifest)
    return cfg.output / MANIFEST


def synth_strata(conditions: dict[str, Any]) -> dict[str, Any]:
    """Discrete strata from synthetic conditions: moon in/out, clear/cloudy, light pollution, kind, twilight."""
    lp = float(conditions.get("light_pollution") or 0.0)
    clouds = float(conditions.get("clouds") or 0.0)
    return {
        "kind": conditions.get("kind", "?"),
        "moon": "moon" if conditions.get("moon") else "no moon",
        "clouds": "clear" if clouds == 0 else "partly cloudy" if clouds < 0.6 else "cloudy",
        "light_pollution": "none" if lp == 0 else "some" if lp < 2 else "strong",
        "twilight": "twilight" if conditions.get("twilight") else "night",
    }
