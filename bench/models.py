"""Forward-latency benchmark: skyseg n model train form vs deploy form, and deploy form vs stock yolo11n-seg.

`skyseg bench models [--imgsz 320 640] [--threads 1] [--runs 20]` prints a Markdown table. The models
are timed round-robin (one forward each per round) so load from other processes hits all of them alike; the
median of the rounds is reported, after warm-up, with torch's thread count fixed.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

TARGET_SPEEDUP = 1.3  # deploy vs train form
TARGET_RATIO = 1.25  # deploy vs stock yolo11n-seg


@dataclass(frozen=True)
class BenchConfig:
    imgsz: tuple[int, ...] = (320, 640)
    threads: int = 1
    runs: int = 20
    warmup: int = 3
    model: str = "yolo11n-sky-seg.yaml"


def build_models(model: str) -> dict[str, nn.Module]:
    """Train form (eval), deploy form, stock yolo11n-seg (nc=1, from Ultralytics' YAML) fused and unfused.

    Stock is fused by Ultralytics' own `fuse()` — what its users run — not by `reparameterize_model`, whose
    sub-pixel Proto would speed stock up too."""
    import copy

    import skyseg.models
    from ultralytics.nn.tasks import SegmentationModel

    train = skyseg.models.load_model(model).model.eval()
    deploy = skyseg.models.reparameterize_model(train)
    stock_unfused = SegmentationModel("yolo11n-seg.yaml", nc=1, verbose=False).eval()
    stock = copy.deepcopy(stock_unfused).fuse(verbose=False)
    return {"train": train, "deploy": deploy, "stock": stock, "stock_unfused": stock_unfused}


def round_robin_times(models: dict[str, nn.Module], x: torch.Tensor, runs: int, warmup: int) -> dict[str, list[float]]:
    """Forward times in ms of each model per round (one forward of every model per round, in turn)."""
    from skyseg.runtime.timing import round_robin_ms

    with torch.inference_mode():
        return round_robin_ms({name: (lambda m=m: m(x)) for name, m in models.items()}, runs, warmup)


def time_round_robin(models: dict[str, nn.Module], x: torch.Tensor, runs: int, warmup: int) -> dict[str, float]:
    """Median forward time in ms of each model, timed alternately."""
    return {name: statistics.median(t) for name, t in round_robin_times(models, x, runs, warmup).items()}


def paired_ratio(slow: list[float], fast: list[float]) -> tuple[float, float, float]:
    """(median, p10, p90) of the per-round ratios slow/fast. Both forwards of a round ran back to back, so a
    machine that speeds up or slows down between rounds (this dev machine drifts ±15 %) cancels out."""
    ratios = sorted(a / b for a, b in zip(slow, fast))
    def pick(q: float) -> float:
        return ratios[min(len(ratios) - 1, int(q * (len(ratios) - 1) + 0.5))]
    return statistics.median(ratios), pick(0.1), pick(0.9)


def run_bench(config: BenchConfig) -> str:
    """Measure and return the Markdown table."""
    torch.set_num_threads(config.threads)
    models = build_models(config.model)
    rows = [
        f"CPU forward latency, median of {config.runs} after {config.warmup} warm-up, torch {torch.__version__}, "
        f"{config.threads} thread(s), load average {os.getloadavg()[0]:.2f} at start",
        "",
        "| imgsz | train form ms | deploy form ms | train/deploy (≥ 1.3) | per-round train/deploy p10–p90 "
        "| stock yolo11n-seg fused ms | deploy/stock (≤ 1.25) | stock unfused ms | stock unfused/fused |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in config.imgsz:
        x = torch.rand(1, 3, size, size)
        rounds = round_robin_times(models, x, config.runs, config.warmup)
        t = {name: statistics.median(v) for name, v in rounds.items()}
        speedup, low, high = paired_ratio(rounds["train"], rounds["deploy"])
        ratio = paired_ratio(rounds["deploy"], rounds["stock"])[0]
        unfused = paired_ratio(rounds["stock_unfused"], rounds["stock"])[0]
        rows.append(f"| {size} | {t['train']:.1f} | {t['deploy']:.1f} | {speedup:.2f}× "
                    f"{'✓' if speedup >= TARGET_SPEEDUP else '✗'} | {low:.2f}–{high:.2f}× | {t['stock']:.1f} | "
                    f"{ratio:.2f}× {'✓' if ratio <= TARGET_RATIO else '✗'} | {t['stock_unfused']:.1f} | "
                    f"{unfused:.2f}× |")
    rows.append("\nRatios are medians of per-round ratios (each round runs every model once, back to back).")
    rows.append(f"load average at end {os.getloadavg()[0]:.2f}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skyseg bench models", description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--model", default="yolo11n-sky-seg.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname).1s %(name)s: %(message)s")
    config = BenchConfig(tuple(args.imgsz), args.threads, args.runs, args.warmup, args.model)
    sys.stdout.write(run_bench(config) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
