"""Benchmark results: per-stage percentiles, the JSON document, the Markdown table and the PNG plot.

JSON schema (`schema_version` 1), written by `BenchReport.to_json()`:

    schema_version   int, 1
    label            str, what was measured ("fp32", "int8", ...)
    model            {path: str, backend: str, input_shape: [B, 3, H, W], precision: str | null}
    source           {kind: "synthetic" | "uri", description: str, frame_hw: [H, W], frames: int, warmup: int,
                      overlapped_decode: bool}
    stages           {stage: {p50_ms, p90_ms, p99_ms, mean_ms: float, n: int}} for the stages in STAGES that ran,
                      plus "total" (one whole iteration); times are per batch of `batch` frames
    end_to_end       {p50_ms, ...} of preprocess + inference + postprocess per iteration (what predict() covers)
    batch            int
    fps              float, frames per second over the measured iterations (wall clock)
    wall_s           float
    instances_mean   float, mean instances kept per frame
    peak_rss_mib     float, the process's peak resident memory
    conditions       {threads: {...}, cpu_load: {other_cores, other_fraction, own_cores, wall_s, method},
                      machine: {cpu_model, platform, threads, loadavg_1m, versions, gpu}}
    compare          null | {label: str, stages: {...}, fps: float, ratio_p50: float, notes: str,
                             cpu_load: {...} like conditions.cpu_load}
                     measured interleaved with ours, frame by frame, in the same timed window; then `fps` of the
                     main run counts only our own iteration time and `wall_s` covers both
                     (`ratio_p50` = the other tool's p50 end-to-end time / ours: > 1 means we are faster)
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.atomic_file import temp_beside
from skyseg.runtime.errors import MissingDependencyError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# The pipeline's stages in order; "wait" is time the consumer waited for a decoded frame (overlapped decode).
STAGES = ("decode", "wait", "preprocess", "inference", "postprocess", "write")
TOTAL = "total"
# What each side of an Ultralytics comparison counts as end to end (decode and write are outside predict()).
END_TO_END = ("preprocess", "inference", "postprocess")


@dataclass(frozen=True)
class StageStats:
    """Latency percentiles of one stage, in milliseconds."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    n: int

    @classmethod
    def from_samples(cls, samples_ms: list[float] | np.ndarray) -> StageStats:
        values = np.asarray(samples_ms, dtype=np.float64)
        if values.size == 0:
            raise ValueError("no samples to summarise")
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        return cls(round(float(p50), 3), round(float(p90), 3), round(float(p99), 3), round(float(values.mean()), 3),
                   int(values.size))


def summarise(samples: dict[str, list[float]]) -> dict[str, StageStats]:
    """Stage → stats for every stage with samples, in pipeline order, "total" last."""
    order = [s for s in (*STAGES, TOTAL) if samples.get(s)] + [s for s in samples if s not in (*STAGES, TOTAL)]
    return {stage: StageStats.from_samples(samples[stage]) for stage in order if samples.get(stage)}


def end_to_end_samples(samples: dict[str, list[float]]) -> list[float]:
    """Per-iteration preprocess + inference + postprocess (what Ultralytics' predict() covers)."""
    parts = [samples[s] for s in END_TO_END if samples.get(s)]
    return [float(sum(values)) for values in zip(*parts)] if parts else []


@dataclass
class Comparison:
    """Another implementation measured on the same frames and threads (Ultralytics' predictor)."""

    label: str
    stages: dict[str, StageStats]
    fps: float
    ratio_p50: float
    notes: str = ""
    cpu_load: dict[str, Any] | None = None  # other processes' load while it ran (includes its own loading)


@dataclass
class BenchReport:
    """Everything one `skyseg bench` run measured and the conditions it ran under."""

    label: str
    model: dict[str, Any]
    source: dict[str, Any]
    stages: dict[str, StageStats]
    batch: int
    fps: float
    wall_s: float
    instances_mean: float
    peak_rss_mib: float
    conditions: dict[str, Any]
    compare: Comparison | None = None
    end_to_end: StageStats | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        doc.update(asdict(self))
        return doc

    def markdown(self) -> str:
        """The command's output: a per-stage table and one line each of throughput and conditions."""
        lines = [
            f"### skyseg bench: {self.label} — {Path(self.model['path']).name} ({self.model['backend']}, "
            f"input {'×'.join(str(d) for d in self.model['input_shape'])})",
            "",
            "| stage | p50 ms | p90 ms | p99 ms | mean ms | n |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for stage, st in self.stages.items():
            lines.append(f"| {stage} | {st.p50_ms:.2f} | {st.p90_ms:.2f} | {st.p99_ms:.2f} | {st.mean_ms:.2f} | {st.n} |")
        lines.append("")
        lines.append(f"- throughput: **{self.fps:.2f} frames/s** (batch {self.batch}, {self.source['frames']} frames "
                     f"after {self.source['warmup']} warm-up, {self.source['description']})")
        lines.append(f"- instances per frame: {self.instances_mean:.2f}; peak RSS {self.peak_rss_mib:.0f} MiB")
        lines.append(conditions_line(self.conditions))
        if self.compare is not None:
            c = self.compare
            e2e = c.stages.get(TOTAL)
            ours = self.end_to_end.p50_ms if self.end_to_end else float("nan")
            lines.append(f"- {c.label}: p50 {e2e.p50_ms:.2f} ms per predict() call ({c.fps:.2f} frames/s) vs skyseg "
                         f"{ours:.2f} ms pre+infer+post → skyseg is **{c.ratio_p50:.2f}×** as fast {c.notes}".rstrip())
        return "\n".join(lines) + "\n"


def conditions_line(conditions: dict[str, Any]) -> str:
    """One Markdown bullet with CPU, threads and the other load measured during the run."""
    machine = conditions.get("machine", {})
    load = conditions.get("cpu_load") or {}
    threads = conditions.get("threads", {})
    return (f"- conditions: {machine.get('cpu_model', '?')}, backend threads {threads.get('backend', 'default')}, "
            f"affinity {machine.get('threads', {}).get('affinity')}, other CPU load "
            f"{load.get('other_cores', float('nan')):.2f} cores ({load.get('method', '?')})")


def comparison_table(reports: list[BenchReport]) -> str:
    """Side-by-side Markdown table of several runs (e.g. FP32, INT8) plus their Ultralytics comparisons."""
    lines = [
        "| run | backend | input | pre p50 ms | infer p50 ms | post p50 ms | e2e p50 ms | e2e p90 ms | frames/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, backend: str, shape: str, stages: dict[str, StageStats], e2e: StageStats, fps: float) -> str:
        def cell(name: str) -> str:
            return f"{stages[name].p50_ms:.2f}" if name in stages else "—"
        return (f"| {label} | {backend} | {shape} | {cell('preprocess')} | {cell('inference')} | {cell('postprocess')}"
                f" | {e2e.p50_ms:.2f} | {e2e.p90_ms:.2f} | {fps:.2f} |")

    for rep in reports:
        shape = "×".join(str(d) for d in rep.model["input_shape"][2:])
        if rep.end_to_end is not None:
            lines.append(row(rep.label, rep.model["backend"], shape, rep.stages, rep.end_to_end, rep.fps))
        if rep.compare is not None:
            c = rep.compare
            lines.append(row(c.label, "ultralytics", shape, c.stages, c.stages[TOTAL], c.fps))
    if reports:
        lines += ["", conditions_line(reports[0].conditions)]
    return "\n".join(lines) + "\n"


def preload_plotting() -> Any:
    """Import matplotlib (Agg) now; returns pyplot. Call BEFORE GStreamer is used when a plot will follow.

    Why: `Gst.init` loads the system libfreetype; matplotlib's ft2font bundles its own FreeType whose symbols
    then bind to the system copy, and importing it afterwards segfaults (seen with matplotlib 3.11 wheels and
    Debian 12's GStreamer 1.22). Loaded first, ft2font keeps its own FreeType and both work.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingDependencyError(
            "--plot needs matplotlib, which is not installed; install it with `pip install matplotlib` "
            "(it comes with the train extra) or leave out --plot."
        ) from err
    return plt


def plot_reports(reports: list[BenchReport], path: Path) -> Path:
    """PNG: per-stage p50 bars with p90/p99 markers for each run (and its comparison). matplotlib is optional."""
    plt = preload_plotting()
    e2e = "pre+infer+post"
    runs: list[tuple[str, dict[str, StageStats]]] = []
    for rep in reports:
        stages_ = {k: v for k, v in rep.stages.items() if k != TOTAL}
        if rep.end_to_end is not None:
            stages_[e2e] = rep.end_to_end
        runs.append((rep.label, stages_))
        if rep.compare is not None:
            other = {k: v for k, v in rep.compare.stages.items() if k != TOTAL}
            other[e2e] = rep.compare.stages[TOTAL]
            runs.append((rep.compare.label, other))
    stages = [s for s in (*STAGES, e2e) if any(s in st for _, st in runs)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(stages) * max(1, len(runs)) / 2), 4.0), dpi=100)
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(stages))
    for i, (label, st) in enumerate(runs):
        p50 = [st[s].p50_ms if s in st else np.nan for s in stages]
        p90 = [st[s].p90_ms if s in st else np.nan for s in stages]
        p99 = [st[s].p99_ms if s in st else np.nan for s in stages]
        pos = x + (i - (len(runs) - 1) / 2) * width
        ax.bar(pos, p50, width, label=f"{label} p50")
        ax.scatter(pos, p90, marker="_", color="black", s=60, zorder=3)
        ax.scatter(pos, p99, marker="x", color="black", s=20, zorder=3)
    ax.set_xticks(x, stages)
    ax.set_ylabel("ms per batch (bar p50, – p90, × p99)")
    ax.set_title("skyseg bench: per-stage latency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path
