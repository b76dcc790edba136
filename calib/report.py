"""Accuracy report: FP32 vs INT8 per condition stratum on synthetic val frames (exact masks) and real frames.

`accuracy_report(AccuracyConfig(...)) -> dict` is the library entry the demo and `skyseg verify` can call;
`write_report(report, path)` writes `path` (JSON) and the same name with `.md`.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from skyseg.runtime.atomic_file import write_bytes_atomic, write_json_atomic
from skyseg.calib.compare import CONF, FrameDiff, OrtModel, compare_frame
from skyseg.calib.features import frame_stats, stats_labels
from skyseg.calib.selection import synth_strata
from skyseg.runtime.frame import FrameError
from skyseg.runtime.process.preprocess import preprocess, to_rgb8

log = logging.getLogger(__name__)

IOU_TARGET = 0.98
COLLAPSE_RATIO = 0.5  # INT8 max score below half of FP32's on a typical frame = scores collapsed


@dataclass(frozen=True)
class AccuracyConfig:
    fp32: Path
    int8: Path
    synth_frames: int = 24
    synth_seed: int = 50_000  # far from calibration seeds (`skyseg calib synth` starts at 1000)
    synth_size: tuple[int, int] = (640, 480)
    realsky: Path | None = None
    threads: int = 1
    conf: float = CONF


def synthetic_frames(cfg: AccuracyConfig) -> Iterator[tuple[str, np.ndarray, np.ndarray | None, dict[str, Any]]]:
    from skyseg.synth import render_scene

    for i in range(cfg.synth_frames):
        scene = render_scene(cfg.synth_seed + i, kind="mixed", size=cfg.synth_size)
        yield f"synth-{cfg.synth_seed + i}", scene.image, scene.mask > 0, synth_strata(scene.conditions)


def real_frames(folder: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray | None, dict[str, Any]]]:
    from skyseg.runtime.sources.uri import open_source

    with open_source(str(folder)) as src:
        for item in src:
            if isinstance(item, FrameError):
                log.warning("report: skipping unreadable %s: %s", item.path, item.message)
                continue
            yield Path(item.path or f"frame{item.index}").name, item.pixels, None, stats_labels(
                frame_stats(to_rgb8(item.pixels)))


def aggregate(diffs: list[FrameDiff]) -> dict[str, Any]:
    """Mean/min sky IoU, ground-truth IoUs, instance counts, score and box differences over frames."""
    def mean(values: list[float | None]) -> float | None:
        vals = [v for v in values if v is not None]
        return round(float(np.mean(vals)), 5) if vals else None

    ratios = [d.max_score_int8 / d.max_score_fp32 for d in diffs if d.max_score_fp32 >= CONF]
    return {
        "frames": len(diffs),
        "sky_iou_mean": mean([d.sky_iou for d in diffs]),
        "sky_iou_min": round(float(min(d.sky_iou for d in diffs)), 5) if diffs else None,
        "gt_iou_fp32": mean([d.gt_iou_fp32 for d in diffs]),
        "gt_iou_int8": mean([d.gt_iou_int8 for d in diffs]),
        "instances_fp32": int(sum(d.instances_fp32 for d in diffs)),
        "instances_int8": int(sum(d.instances_int8 for d in diffs)),
        "matched": int(sum(d.matched for d in diffs)),
        "score_abs_diff": mean([d.score_abs_diff for d in diffs]),
        "box_iou": mean([d.box_iou for d in diffs]),
        "max_score_ratio_median": round(float(np.median(ratios)), 5) if ratios else None,
    }


def flags_for(name: str, agg: dict[str, Any]) -> list[str]:
    """Problems worth a human look, each one sentence."""
    out = []
    ratio = agg["max_score_ratio_median"]
    if ratio is not None and ratio < COLLAPSE_RATIO:
        out.append(f"score_collapse: on {name} the INT8 top class score is {ratio:.3f}× FP32's on a typical frame "
                   f"(quantized head decode/concat?)")
    if agg["instances_fp32"] and agg["instances_int8"] < 0.5 * agg["instances_fp32"]:
        out.append(f"instances_lost: on {name} INT8 finds {agg['instances_int8']} instances vs FP32 "
                   f"{agg['instances_fp32']}")
    if agg["sky_iou_mean"] is not None and agg["sky_iou_mean"] < IOU_TARGET:
        out.append(f"sky_iou_low: on {name} mean sky-mask IoU vs FP32 is {agg['sky_iou_mean']:.4f} "
                   f"(target ≥ {IOU_TARGET})")
    return out


def evaluate_frames(
    fp32: OrtModel, int8: OrtModel, frames: Iterator[tuple[str, np.ndarray, np.ndarray | None, dict[str, Any]]],
    conf: float = CONF,
) -> dict[str, Any]:
    """Overall and per-stratum aggregates plus per-frame rows for one set of frames."""
    rows, by_stratum = [], defaultdict(list)
    diffs = []
    for name, pixels, gt, strata in frames:
        tensor, info = preprocess(pixels, fp32.input_hw)
        diff = compare_frame(fp32(tensor), int8(tensor), info, gt, conf=conf)
        diffs.append(diff)
        rows.append({"frame": name, "strata": strata, **{k: _r(v) for k, v in diff.to_dict().items()}})
        for key, value in strata.items():
            by_stratum[f"{key}={value}"].append(diff)
    return {"overall": aggregate(diffs), "strata": {k: aggregate(v) for k, v in sorted(by_stratum.items())},
            "frames": rows}


def _r(v: Any) -> Any:
    return round(v, 5) if isinstance(v, float) else v


def accuracy_report(cfg: AccuracyConfig) -> dict[str, Any]:
    """Compare FP32 and INT8 models on synthetic val frames (with ground truth) and, if given, real frames."""
    fp32, int8 = OrtModel(cfg.fp32, cfg.threads), OrtModel(cfg.int8, cfg.threads)
    if fp32.input_hw != int8.input_hw:
        raise ValueError(f"FP32 input {fp32.input_hw} and INT8 input {int8.input_hw} differ")
    datasets: dict[str, Any] = {}
    if cfg.synth_frames > 0:
        datasets["synthetic"] = evaluate_frames(fp32, int8, synthetic_frames(cfg), cfg.conf)
    if cfg.realsky is not None:
        datasets["realsky"] = evaluate_frames(fp32, int8, real_frames(cfg.realsky), cfg.conf)
    flags = [f for name, d in datasets.items() for f in flags_for(name, d["overall"])]
    for name, d in datasets.items():
        log.info("accuracy on %s: %s", name, d["overall"])
    return {
        "fp32": str(cfg.fp32), "int8": str(cfg.int8), "input_hw": list(fp32.input_hw), "conf": cfg.conf,
        "iou_target": IOU_TARGET, "datasets": datasets, "flags": flags, "verdict": "flagged" if flags else "ok",
    }


def render_markdown(report: dict[str, Any]) -> str:
    """A human-readable summary: one table per data set, rows per stratum."""
    lines = [f"# INT8 accuracy report: {Path(report['int8']).name} vs {Path(report['fp32']).name}", "",
             f"Input {report['input_hw'][1]}×{report['input_hw'][0]}, conf {report['conf']}. "
             f"Verdict: **{report['verdict']}**", ""]
    lines += [f"- ⚠ {f}" for f in report["flags"]] + ([""] if report["flags"] else [])
    cols = ["frames", "sky_iou_mean", "sky_iou_min", "gt_iou_fp32", "gt_iou_int8", "instances_fp32",
            "instances_int8", "score_abs_diff", "box_iou", "max_score_ratio_median"]
    for name, d in report["datasets"].items():
        lines += [f"## {name}", "", "| stratum | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for label, agg in [("all", d["overall"]), *d["strata"].items()]:
            lines.append(f"| {label} | " + " | ".join("–" if agg[c] is None else str(agg[c]) for c in cols) + " |")
        lines.append("")
    q = report.get("quantization")
    if q:
        lines += ["## Quantization", "", f"- head block /model.{q['head_block']}/ decode kept float; "
                  f"{q['quantized_convs']} convs INT8, {q['float_convs']} float",
                  f"- blocks kept float by sensitivity: {q['kept_float_blocks'] or 'none'}"]
        mp = q.get("mixed_precision")
        if mp:
            lines += [f"- hold-out IoU vs FP32: all INT8 {mp['full_iou']:.4f} → final {mp['final_iou']:.4f} "
                      f"(budget drop ≤ {mp['budget']}, {'met' if mp['budget_met'] else 'NOT met'}, "
                      f"{mp['seconds']:.0f} s)"]
            lines += [f"  - block {s['block']} {'kept float' if s['kept_float'] else 'tried float'}: {s['reason']} "
                      f"→ IoU {s['iou_after']:.4f}" for s in mp["steps"]]
        lines.append("")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path) -> tuple[Path, Path]:
    """Write the JSON report at `path` and its Markdown twin next to it (atomic writes)."""
    path = Path(path)
    md = path.with_suffix(".md") if path.suffix else path.with_name(path.name + ".md")
    write_json_atomic(path, report)
    write_bytes_atomic(md, render_markdown(report).encode())
    return path, md
