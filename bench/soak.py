"""`skyseg bench soak`: run many frames through the whole `skyseg run` path and print memory growth.

A night camera runs for months, so memory that grows per frame is a slow crash. This soak feeds a looped folder of
generated 16-bit night frames (decoded every time, as a camera folder would be) through the same segmenter and
sinks `skyseg run --save-dir` builds — masks, annotated video or images, results table — and samples the process's
resident memory every `--every` frames. Growth is the least-squares slope of RSS over frames after the warm-up
share, in KiB per 1 000 frames; numbers, not a pass/fail.

    skyseg bench soak [--model M.onnx] [--frames 2000] [--every 100] [--size 1280 720] [--threads 1]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

WARMUP_SHARE = 0.1  # samples before this share of the frames are not used for the slope
UNIQUE_FRAMES = 12


def rss_kib() -> int:
    """Resident set size of this process now, in KiB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class SoakReport:
    frames: int
    errors: int
    seconds: float
    samples: list[tuple[int, int]] = field(default_factory=list)  # (frames done, RSS KiB)
    outputs: int = 0

    def growth_kib_per_1000(self) -> float:
        """Least-squares slope of RSS over frames, after the warm-up share; KiB per 1 000 frames."""
        cut = self.frames * WARMUP_SHARE
        pts = [(n, r) for n, r in self.samples if n >= cut]
        if len(pts) < 2:
            return float("nan")
        x = np.array([p[0] for p in pts], dtype=np.float64)
        y = np.array([p[1] for p in pts], dtype=np.float64)
        return float(np.polyfit(x, y, 1)[0] * 1000.0)

    def markdown(self) -> str:
        first, last = self.samples[0][1] / 1024, self.samples[-1][1] / 1024
        return "\n".join([
            "| frames | errors | seconds | fps | RSS first (MiB) | RSS last (MiB) | growth (KiB / 1 000 frames) | files written |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {self.frames} | {self.errors} | {self.seconds:.1f} | {self.frames / max(self.seconds, 1e-9):.1f} | "
            f"{first:.1f} | {last:.1f} | {self.growth_kib_per_1000():+.1f} | {self.outputs} |",
            "",
        ])


def write_frames(folder: Path, count: int, size_wh: tuple[int, int], seed: int = 0) -> None:
    """`count` generated 16-bit night frames as PNG files in `folder`."""
    from skyseg.synth import render_scene

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        scene = render_scene(seed + i, kind="mixed", size=size_wh, bit_depth=16)
        image = scene.image if scene.image.ndim == 2 else cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"night{i:03d}.png"), image)


def soak(model: str, frames: int, every: int, size_wh: tuple[int, int], threads: int | None,
         save_dir: Path) -> SoakReport:
    from skyseg.runtime.pipeline import Hooks, Pipeline, RunConfig

    frames_dir = save_dir / "frames"
    write_frames(frames_dir, UNIQUE_FRAMES, size_wh)
    config = RunConfig(source=str(frames_dir), model=model, threads=threads, save_dir=str(save_dir / "out"),
                       headless=True, max_frames=frames, prior="off", min_free_mb=0)
    samples: list[tuple[int, int]] = []

    def sampled(items: Iterable) -> Iterator:
        for i, item in enumerate(items):
            if i % every == 0:
                samples.append((i, rss_kib()))
            yield item

    with Pipeline(config, hooks=Hooks(pace=sampled), loop=True) as pipeline:
        start = time.perf_counter()
        progress = pipeline.run()
    seconds = time.perf_counter() - start
    outputs = pipeline.outputs
    samples.append((progress.frames + progress.errors, rss_kib()))
    return SoakReport(progress.frames, progress.errors, seconds, samples, len(outputs))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skyseg bench soak", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the bundled skyseg-n.onnx)")
    parser.add_argument("--frames", type=int, default=2000, help="frames to run (default 2000)")
    parser.add_argument("--every", type=int, default=100, help="sample RSS every N frames (default 100)")
    parser.add_argument("--size", type=int, nargs=2, default=(1280, 720), metavar=("W", "H"))
    parser.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="write frames and outputs here and keep them (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.every < 1:
        parser.error("--frames and --every must be ≥ 1")
    from skyseg.runtime.bundled_model import bundled_model_path

    from skyseg.runtime.checkpoint_export import resolve_model  # a PyTorch best.pt: its cached ONNX export

    model = resolve_model(args.model) if args.model else str(bundled_model_path())
    if args.keep is not None:
        report = soak(model, args.frames, args.every, tuple(args.size), args.threads, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="skyseg-soak-") as tmp:
            report = soak(model, args.frames, args.every, tuple(args.size), args.threads, Path(tmp))
    sys.stdout.write(report.markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
