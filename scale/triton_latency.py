"""Per-frame latency and throughput of `skyseg run` on a folder for several models (an ONNX file or triton://...),
with N concurrent clients (processes), for the Triton vs local ONNX Runtime comparison in docs/scale.md.

    python -m skyseg.scale.triton_latency FOLDER --model m.onnx --model triton://127.0.0.1:8001/skyseg --clients 2
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import statistics
import sys
import time

log = logging.getLogger(__name__)


def _client(model: str, folder: str, threads: int, queue) -> None:
    from skyseg.runtime.pipeline import RunConfig, run

    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    summary = run(RunConfig(source=folder, model=model, threads=threads, headless=True))
    queue.put((summary.frames, time.perf_counter() - t0, summary.stage_ms))


def measure(model: str, folder: str, clients: int, threads: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(model, folder, threads, queue)) for _ in range(clients)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    frames = sum(r[0] for r in results)
    per_frame = statistics.mean(sum(r[2].values()) for r in results)
    infer = statistics.mean(r[2].get("infer", 0.0) for r in results)
    return {"clients": clients, "frames": frames, "frame_ms": per_frame, "infer_ms": infer,
            "fps_total": frames / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for local models (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for model in args.model:
        for n in args.clients:
            r = measure(model, args.folder, n, args.threads)
            log.info("%s | %d client(s) | %d frames | %.1f ms/frame (infer %.1f ms) | %.2f frames/s in total",
                     model, n, r["frames"], r["frame_ms"], r["infer_ms"], r["fps_total"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
