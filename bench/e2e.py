"""End-to-end latency of the runtime against raw ONNX Runtime and Ultralytics on 1280×720 frames.

    skyseg bench e2e --model M.onnx [--threads 1] [--frames 50] [--no-ultralytics]

Prints, per frame (median ms): preprocess / inference / post-processing (NMS + full-resolution sky mask) /
end to end through `Segmenter.segment`, raw `session.run` on a ready input, `ultralytics.YOLO(onnx).predict`
on the same frames, and post-processing alone with 50 instances. The process is pinned to `--threads` CPUs
and every engine gets that many threads. Ultralytics is imported only here, and only for its comparison.
Targets: e2e ≤ 1.10 × raw at ≤ 5 instances; ≥ 1.3 × faster than Ultralytics; 50-instance post ≤ 10 ms.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: see skyseg.cli.operate.run

import argparse
import logging
import sys
import time
from typing import Callable, Sequence

import numpy as np

from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.process.letterbox import LetterboxInfo, letterbox_geometry
from skyseg.runtime.process.postprocess import postprocess
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.timing import median_ms, timed

log = logging.getLogger(__name__)


def night_frames(count: int, size_wh: tuple[int, int] = (1280, 720), seed: int = 0) -> list[np.ndarray]:
    """Simple night-like RGB frames: a sky gradient with stars above a dark, ragged horizon."""
    rng = np.random.default_rng(seed)
    w, h = size_wh
    frames = []
    for _ in range(count):
        sky = np.linspace(70, 15, h, dtype=np.float32)[:, None, None] * np.array([0.7, 0.8, 1.0], np.float32)
        img = np.broadcast_to(sky, (h, w, 3)).copy()
        ys, xs = rng.integers(0, h, 400), rng.integers(0, w, 400)
        img[ys, xs] = 255
        horizon = (0.7 * h + 0.08 * h * np.sin(np.linspace(0, rng.uniform(3, 9), w))).astype(int)
        img[np.arange(h)[:, None] >= horizon[None, :]] = 8
        frames.append(np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8))
    return frames


def fifty_instance_outputs(info: LetterboxInfo, n: int = 50, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(output0, output1): `n` confident, barely overlapping boxes over the frame (all survive NMS and have
    non-empty masks) on smooth random protos."""
    rng = np.random.default_rng(seed)
    ih, iw = info.dst_hw
    yy, xx = np.meshgrid(np.linspace(-1, 1, ih // 4), np.linspace(-1, 1, iw // 4), indexing="ij")
    protos = np.stack([np.tanh(a * xx + b * yy + c) for a, b, c in rng.normal(0, 2, (32, 3))])[None].astype(np.float32)
    anchors = sum((ih // s) * (iw // s) for s in (8, 16, 32))
    out0 = np.zeros((1, 37, anchors), np.float32)
    out0[0, 4] = rng.uniform(0, 0.05, anchors)
    cols = int(np.ceil(np.sqrt(n)))
    (nh, nw), top, left = info.resized_hw, info.pad_top, info.pad_left
    cell_w, cell_h = nw / cols, nh / cols
    for k, j in enumerate(rng.choice(anchors, n, replace=False)):
        cx, cy = left + (k % cols + 0.5) * cell_w, top + (k // cols + 0.5) * cell_h
        out0[0, :5, j] = (cx, cy, 1.6 * cell_w, 1.6 * cell_h, rng.uniform(0.5, 0.95))
        out0[0, 5:, j] = rng.normal(0, 1, 32)
        out0[0, 5, j] = 0.0
    protos[0, 0] = 1.0  # a constant proto with a positive coefficient: every instance has some mask
    out0[0, 5, out0[0, 4] > 0.25] = 50.0
    return out0, protos


def run(model: str, threads: int, frames: int, ultralytics: bool, pin: bool) -> dict[str, float]:
    """Measure; the three paths are interleaved frame by frame so that a load change on a shared CPU hits
    all of them alike."""
    if pin and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:threads]
        os.sched_setaffinity(0, cpus)
        log.info("pinned to CPUs %s", cpus)
    imgs = night_frames(frames)
    res: dict[str, float] = {}
    with open_backend(model, backend="ort", threads=threads) as be:
        seg = Segmenter(be, conf=0.25, iou=0.7)
        hw = be.input_hw
        yolo = _ultralytics_predictor(model, hw, threads) if ultralytics else None
        x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
        session = be.session
        timings: dict[str, list[float]] = {k: [] for k in ("pre", "infer", "post", "e2e", "raw", "ultralytics",
                                                        "ultralytics_full")}
        instances = []
        seg.segment(imgs[0])
        session.run(None, {"images": x})
        def raw(img: np.ndarray) -> None:
            timings["raw"].append(timed(lambda: session.run(None, {"images": x}))[1])

        def ours(img: np.ndarray) -> None:
            r, ms = timed(lambda: seg.segment(img))
            timings["e2e"].append(ms)
            for k in ("pre", "infer", "post"):
                timings[k].append(r.timings[k])
            instances.append(len(r))

        def theirs(key: str, retina: bool) -> Callable[[np.ndarray], None]:
            def path(img: np.ndarray) -> None:
                assert yolo is not None
                timings[key].append(yolo(img, retina))
            return path

        paths = [raw, ours]
        if yolo is not None:
            paths += [theirs("ultralytics", False), theirs("ultralytics_full", True)]
        for i, img in enumerate(imgs):  # rotate the order: no path always runs after another's cache footprint
            for path in paths[i % len(paths):] + paths[: i % len(paths)]:
                path(img)
        for k, v in timings.items():
            if v:
                res[k] = float(np.median(v))
        res["instances_max"] = float(max(instances))
        info = letterbox_geometry((720, 1280), hw)
        out0, out1 = fifty_instance_outputs(info)
        res["post50_instances"] = float(len(postprocess(out0, out1, info)))
        res["post50"] = median_ms(lambda: postprocess(out0, out1, info), 30)
        res["post50_cpu"] = median_ms(lambda: postprocess(out0, out1, info), 30, clock=time.process_time)
    if hasattr(os, "getloadavg"):
        res["load"] = os.getloadavg()[0]
    return res


def _ultralytics_predictor(model: str, hw: tuple[int, int], threads: int) -> Callable[[np.ndarray, bool], float]:
    """A function that runs `YOLO(model).predict` on one RGB frame (`retina`: masks at the frame's full size,
    like ours, instead of the letterboxed input size) and returns its wall time in ms. Its ONNX
    Runtime session is rebuilt with our thread count (Ultralytics leaves ORT's default, a pool sized to every
    core), so the comparison is at equal threads."""
    import skyseg.models  # noqa: F401  - makes Ultralytics offline before it loads
    from ultralytics import YOLO

    from skyseg.bench.ultralytics_ref import match_threads

    yolo = YOLO(model, task="segment")

    def predict(rgb: np.ndarray, retina: bool = False) -> float:
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # Ultralytics takes BGR arrays, as cv2 reads them
        return timed(lambda: yolo.predict(bgr, imgsz=list(hw), conf=0.25, iou=0.7, verbose=False,
                                          retina_masks=retina))[1]

    predict(night_frames(1, seed=99)[0])  # the session is created on first use
    log.info("Ultralytics predict: %s", match_threads(yolo, model, threads))
    predict(night_frames(1, seed=99)[0])  # warm-up of the rebuilt session
    return predict


def report(res: dict[str, float], threads: int) -> str:
    load = f", load average {res['load']:.2f}" if "load" in res else ""
    lines = [
        f"1280x720 frames, {threads} thread(s){load}, median ms per frame (max {res['instances_max']:.0f} "
        "instances/frame)",
        f"  ours: pre {res['pre']:.2f} | infer {res['infer']:.2f} | post {res['post']:.2f} | end-to-end {res['e2e']:.2f}",
        f"  raw session.run: {res['raw']:.2f}  -> e2e / raw = {res['e2e'] / res['raw']:.3f}  (target <= 1.10)",
        f"  pre + post over our own inference: (infer + pre + post) / infer = "
        f"{(res['infer'] + res['pre'] + res['post']) / res['infer']:.3f}  (the same ratio, immune to load drift "
        "between the raw and our calls)",
        f"  post-processing with {res['post50_instances']:.0f} instances: {res['post50']:.2f} ms wall, "
        f"{res['post50_cpu']:.2f} ms CPU  (target <= 10)",
    ]
    if "ultralytics" in res:
        lines.append(f"  ultralytics YOLO(onnx).predict: {res['ultralytics']:.2f}  -> speed-up {res['ultralytics'] / res['e2e']:.2f}x"
                     "  (target >= 1.3)")
        lines.append(f"  ultralytics predict(retina_masks=True), full-size masks like ours: {res['ultralytics_full']:.2f}"
                     f"  -> speed-up {res['ultralytics_full'] / res['e2e']:.2f}x")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skyseg bench e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="ONNX model (skyseg contract)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--no-ultralytics", action="store_true", help="skip the Ultralytics comparison")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to --threads CPUs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname).1s %(name)s: %(message)s")
    from skyseg.runtime.checkpoint_export import resolve_model  # a PyTorch best.pt: its cached ONNX export

    res = run(resolve_model(args.model), args.threads, args.frames, not args.no_ultralytics, not args.no_pin)
    sys.stdout.write(report(res, args.threads) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
