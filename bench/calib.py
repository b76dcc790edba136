"""INT8 vs FP32 on the CPU with ONNX Runtime: latency (same threads, pinned) and sky-mask IoU vs FP32.

    skyseg bench calib --fp32 M.onnx --int8 M.int8.onnx [--threads 1] [--imgsz 320] [--runs 30]

The INT8 model is timed in its ONNX Runtime CPU form (`ort_cpu.to_ort_cpu_form`, bit-exact activation codes);
the TensorRT form as written by `skyseg quantize` is timed too, for the record. Runs are interleaved
(FP32, INT8, FP32, ...) so that load from other processes hits both alike; that load is measured and printed.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx

from skyseg.calib.compare import OrtModel
from skyseg.calib.ort_cpu import to_ort_cpu_form
from skyseg.calib.report import IOU_TARGET, AccuracyConfig, evaluate_frames, real_frames, synthetic_frames
from skyseg.runtime.errors import InputError, SkysegError
from skyseg.runtime.process.preprocess import preprocess
from skyseg.runtime.timing import timed

log = logging.getLogger(__name__)

SPEEDUP_TARGET = 1.8


@dataclass(frozen=True)
class CpuBenchConfig:
    fp32: Path
    int8: Path
    threads: int = 1
    imgsz: tuple[int, int] | None = None
    runs: int = 30
    warmup: int = 5
    synth_frames: int = 24
    realsky: Path | None = None
    pin: bool = True


def _timed(model: OrtModel, tensor: np.ndarray) -> float:
    return timed(lambda: model(tensor))[1]


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(ordered[int(0.9 * (len(ms) - 1))], 2),
            "min_ms": round(ordered[0], 2)}


def run_cpu_bench(cfg: CpuBenchConfig) -> dict[str, Any]:
    """Latency of FP32, INT8 (ORT CPU form) and INT8 (TensorRT form), and INT8 sky-mask IoU vs FP32."""
    from skyseg.bench.sysinfo import CpuLoadMeter, cpu_model

    for p in (cfg.fp32, cfg.int8):
        if not p.is_file():
            raise InputError(f"model {p} does not exist.")
    cpu_bytes = to_ort_cpu_form(onnx.load(str(cfg.int8))).SerializeToString()
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pinned = None
    if cfg.pin and before is not None:
        pinned = sorted(before)[-cfg.threads:]  # the last CPUs: the first tends to take interrupts
        os.sched_setaffinity(0, pinned)
    try:
        fp32 = OrtModel(cfg.fp32, cfg.threads)
        int8_cpu = OrtModel(cpu_bytes, cfg.threads)
        int8_trt = OrtModel(cfg.int8, cfg.threads)
        hw = fp32.input_hw
        if cfg.imgsz is not None and tuple(cfg.imgsz) != hw:
            raise InputError(f"--imgsz {list(cfg.imgsz)} but the models' static input is {list(hw)}; export at "
                             f"that size first.")
        if int8_cpu.input_hw != hw:
            raise InputError(f"FP32 input {list(hw)} and INT8 input {list(int8_cpu.input_hw)} differ.")
        from skyseg.synth import render_scene

        tensor, _ = preprocess(render_scene(7, size=(hw[1] * 2, hw[0] * 3 // 2)).image, hw)
        models = {"fp32": fp32, "int8_ort_cpu": int8_cpu, "int8_trt_form": int8_trt}
        for m in models.values():
            for _ in range(cfg.warmup):
                m(tensor)
        times: dict[str, list[float]] = {k: [] for k in models}
        with CpuLoadMeter() as meter:
            for _ in range(cfg.runs):
                for name, m in models.items():
                    times[name].append(_timed(m, tensor))
        load = meter.result
        accuracy = {}
        acfg = AccuracyConfig(cfg.fp32, cfg.int8, synth_frames=cfg.synth_frames, realsky=cfg.realsky)
        if cfg.synth_frames:
            accuracy["synthetic"] = evaluate_frames(fp32, int8_cpu, synthetic_frames(acfg))["overall"]
        if cfg.realsky is not None:
            accuracy["realsky"] = evaluate_frames(fp32, int8_cpu, real_frames(cfg.realsky))["overall"]
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, before)
    lat = {k: _stats(v) for k, v in times.items()}
    speedup = lat["fp32"]["median_ms"] / lat["int8_ort_cpu"]["median_ms"]
    return {
        "cpu": cpu_model(), "threads": cfg.threads, "pinned_cpus": pinned, "input_hw": list(hw), "runs": cfg.runs,
        "latency": lat, "speedup_int8_vs_fp32": round(speedup, 3), "speedup_target": SPEEDUP_TARGET,
        "other_cpu_load_cores": None if load is None else load.other_cores,
        "accuracy_vs_fp32": accuracy, "iou_target": IOU_TARGET,
        "meets_targets": bool(speedup >= SPEEDUP_TARGET and all(
            (a["sky_iou_mean"] or 0) >= IOU_TARGET for a in accuracy.values())),
    }


def format_bench(res: dict[str, Any]) -> str:
    lines = [f"CPU: {res['cpu']} | threads {res['threads']} pinned to {res['pinned_cpus']} | input "
             f"{res['input_hw'][1]}x{res['input_hw'][0]} | {res['runs']} interleaved runs | other processes' "
             f"load during timing: {res['other_cpu_load_cores']} cores"]
    for name, s in res["latency"].items():
        lines.append(f"  {name:<14} median {s['median_ms']:7.2f} ms   p90 {s['p90_ms']:7.2f} ms   "
                     f"min {s['min_ms']:7.2f} ms")
    lines.append(f"  speed-up INT8 (ORT CPU form) vs FP32: {res['speedup_int8_vs_fp32']:.2f}x "
                 f"(target ≥ {res['speedup_target']}x)")
    for name, a in res["accuracy_vs_fp32"].items():
        lines.append(f"  sky-mask IoU vs FP32 on {name}: mean {a['sky_iou_mean']} min {a['sky_iou_min']} over "
                     f"{a['frames']} frames; instances FP32 {a['instances_fp32']} / INT8 {a['instances_int8']} "
                     f"(target ≥ {res['iou_target']})")
    lines.append(f"  targets met: {res['meets_targets']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skyseg bench calib", description=__doc__.splitlines()[0])
    parser.add_argument("--fp32", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--imgsz", type=int, nargs="+", default=None, help="expected input size (H [W])")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--synth", type=int, default=24, help="synthetic val frames for the IoU check")
    parser.add_argument("--realsky", type=Path, default=None, help="folder of real frames for the IoU check")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    imgsz = None if args.imgsz is None else (args.imgsz[0], args.imgsz[-1])
    try:
        res = run_cpu_bench(CpuBenchConfig(args.fp32, args.int8, args.threads, imgsz, args.runs,
                                           synth_frames=args.synth, realsky=args.realsky, pin=not args.no_pin))
    except SkysegError as err:
        log.error("%s", err)
        return err.exit_code
    sys.stdout.write(format_bench(res) + "\n")
    if args.json is not None:
        from skyseg.runtime.atomic_file import write_json_atomic

        write_json_atomic(args.json, res)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
