"""Forward-latency benchmark: skyseg n model train form vs deploy form, and deploy form vs stock yolo11n-seg.

`python -m skyseg.models.bench [--imgsz 320 640] [--threads 1] [--runs 20]` prints a Markdown table. The models
are timed round-robin (one forward each per round) so load from other processes hits all of them alike; the
median of the rounds is reported, after warm-up, with torch's thread count fixed.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
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
    """Train form (eval), deploy form, stock yolo11n-seg (nc=1, from Ultralytics' YAML) fused and unfused."""
    import skyseg.models
    from ultralytics.nn.tasks import SegmentationModel

    train = skyseg.models.load_model(model).model.eval()
    deploy = skyseg.models.reparameterize_model(train)
    stock_unfused = SegmentationModel("yolo11n-seg.yaml", nc=1, verbose=False).eval()
    stock = skyseg.models.reparameterize_model(stock_unfused)  # Ultralytics' own fuse() on a copy
    return {"train": train, "deploy": deploy, "stock": stock, "stock_unfused": stock_unfused}


def time_round_robin(models: dict[str, nn.Module], x: torch.Tensor, runs: int, warmup: int) -> dict[str, float]:
    """Median forward time in ms of each model, timed alternately."""
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for i in range(warmup + runs):
            for name, m in models.items():
                start = time.perf_counter()
                m(x)
                if i >= warmup:
                    times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def run_bench(config: BenchConfig) -> str:
    """Measure and return the Markdown table."""
    torch.set_num_threads(config.threads)
    models = build_models(config.model)
    rows = [
        f"CPU forward latency, median of {config.runs} after {config.warmup} warm-up, torch {torch.__version__}, "
        f"{config.threads} thread(s), load average {os.getloadavg()[0]:.2f} at start",
        "",
        "| imgsz | train form ms | deploy form ms | train/deploy (≥ 1.3) | stock yolo11n-seg fused ms "
        "| deploy/stock (≤ 1.25) | stock unfused ms | stock unfused/fused |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in config.imgsz:
        x = torch.rand(1, 3, size, size)
        t = time_round_robin(models, x, config.runs, config.warmup)
        speedup, ratio = t["train"] / t["deploy"], t["deploy"] / t["stock"]
        rows.append(f"| {size} | {t['train']:.1f} | {t['deploy']:.1f} | {speedup:.2f}× "
                    f"{'✓' if speedup >= TARGET_SPEEDUP else '✗'} | {t['stock']:.1f} | {ratio:.2f}× "
                    f"{'✓' if ratio <= TARGET_RATIO else '✗'} | {t['stock_unfused']:.1f} | "
                    f"{t['stock_unfused'] / t['stock']:.2f}× |")
    rows.append(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.models.bench", description=__doc__.splitlines()[0])
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
