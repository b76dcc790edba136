"""Every skyseg backend against the best Ultralytics paths on the same weights: one table, one run.

    skyseg bench compare [--sizes 320 640] [--frames 10] [--rounds 3] [--threads 1] [--pt W.pt] [--out DIR]
                         [--int8 SIZE=PATH ...] [--calib DIR] [--no-ultralytics] [--json FILE]

Frames: synthetic 1280×720 night skies (all-sky and camera, `skyseg.synth`). For each size S the models are
exported at the frames' aspect (S=640 → 384×640) and prepared once in `--out` (bench/compare_prepare.py). Each row
is median ms per frame from pixels to the full-size sky mask: skyseg's `Segmenter` on ONNX Runtime, OpenVINO
(f32, bf16) and the INT8 CPU form on both, and what `skyseg run --backend auto` picks for the FP32 export (auto races
the same forms on this host and gates them on real frames; its choice is made before the timing, in this process);
Ultralytics' `predict(retina_masks=True)` (masks at the frame's size, then their union) on the .pt, on skyseg's
ONNX and on its own OpenVINO exports. IoU is each row's sky mask against skyseg FP32 on ONNX Runtime, per frame
(mean / min). The process is pinned to `--threads` CPUs and every engine gets that many threads; rows run
interleaved frame by frame in rotating order, for `--rounds` passes, so load changes hit all alike.
Targets (issues 19, 27): what auto picks ≥ 1.3× faster than Ultralytics' best at IoU ≥ 0.98 on every frame;
the best INT8 form ≥ 1.8× FP32 on the same backend. `--json FILE` writes the same numbers (compare_report.py).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: see skyseg.cli.operate.run

import argparse
import contextlib
import logging
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, Tuple

import numpy as np

from skyseg.bench.compare_prepare import PrepareConfig, Prepared, prepare
from skyseg.bench.compare_report import conditions_line, markdown, to_json
from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.errors import InputError, ModelContractError, SkysegError
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.runtime.timing import timed

log = logging.getLogger(__name__)

FP32_ORT = "skyseg FP32 · ONNX Runtime"
BF16 = "skyseg FP32 · OpenVINO (bf16 hint)"
INT8_CPU = "skyseg INT8 CPU form · ONNX Runtime"
INT8_CPU_OV = "skyseg INT8 CPU form · OpenVINO"
INT8_OV = "skyseg INT8 OpenVINO form · OpenVINO"
INT8_OV_BF16 = "skyseg INT8 OpenVINO form · OpenVINO (bf16 float islands)"
AUTO = "skyseg run --backend auto (its pick)"
Pair = Tuple[np.ndarray, np.ndarray]  # (RGB, BGR) of one frame: each side gets its own convention, untimed


@dataclass
class Row:
    """One way to turn a frame into a sky mask, and what it measured."""

    label: str
    family: str  # "skyseg" or "ultralytics"
    predict: Callable[[Pair], np.ndarray] | None  # frame → full-size bool sky mask; None: no numbers (see note)
    note: str = ""  # why there are no numbers, or why the numbers do not count as best
    counts: bool = True
    backend: str = ""  # "onnxruntime", "openvino", "pytorch"
    precision: str = ""  # "fp32", "bf16", "int8", "int8+bf16"
    reachable: bool = False  # whether `skyseg run` can run exactly this (a flag, a model file or auto's pick)
    times: list[float] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)

    @property
    def ms(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def iou(self) -> tuple[float, float] | None:
        return (float(np.mean(self.ious)), float(np.min(self.ious))) if self.ious else None


@dataclass
class SizeResult:
    prep: Prepared
    rows: list[Row]
    auto: Any = None  # auto's AutoChoice for the FP32 export
    other_load: float | None = None  # other processes' CPU load while racing, in cores


def bench_frames(count: int, frame_wh: tuple[int, int], seed: int = 4000) -> list[Pair]:
    """Synthetic night skies, all-sky and camera mixed (seeds apart from the calibration and INT8 datasets)."""
    from skyseg.synth import render_scene

    rgbs = [render_scene(seed + i, kind="mixed", size=frame_wh).image for i in range(count)]
    return [(rgb, np.ascontiguousarray(rgb[..., ::-1])) for rgb in rgbs]


def _skyseg_row(stack: contextlib.ExitStack, label: str, model: Path | None, kind: str, threads: int,
                missing: str, form: str, **options: str) -> Row:
    """One skyseg row; `form` is the precision it runs at ("fp32", "bf16", "int8", "int8+bf16")."""
    info = {"backend": {"ort": "onnxruntime"}.get(kind, kind), "precision": form, "reachable": True}
    if model is None:
        return Row(label, "skyseg", None, missing, **info)
    try:
        backend = stack.enter_context(open_backend(model, kind, threads=threads, **options))
    except SkysegError as err:  # refused by design (signed INT8 on OpenVINO), or the engine is missing here
        word = "refused" if isinstance(err, ModelContractError) else "failed"
        return Row(label, "skyseg", None, f"{word}: {str(err).replace(str(model), 'the model')}", **info)
    seg = Segmenter(backend, conf=0.25, iou=0.7)
    return Row(label, "skyseg", lambda pair: seg.segment(pair[0]).sky_mask, **info)


def skyseg_rows(stack: contextlib.ExitStack, prep: Prepared, threads: int, auto: Any) -> list[Row]:
    int8_missing = (prep.notes or {}).get("int8", "not prepared")
    rows = [_skyseg_row(stack, FP32_ORT, prep.fp32, "ort", threads, "", "fp32"),
            _skyseg_row(stack, "skyseg FP32 · OpenVINO (f32)", prep.fp32, "openvino", threads, "", "fp32"),
            _skyseg_row(stack, BF16, prep.fp32, "openvino", threads, "", "bf16", precision="bf16"),
            _skyseg_row(stack, INT8_CPU, prep.int8_cpu, "ort", threads, int8_missing, "int8"),
            _skyseg_row(stack, INT8_CPU_OV, prep.int8_cpu, "openvino", threads, int8_missing, "int8"),
            _skyseg_row(stack, INT8_OV, prep.int8_ov, "openvino", threads, int8_missing, "int8"),
            _skyseg_row(stack, INT8_OV_BF16, prep.int8_ov, "openvino", threads, int8_missing, "int8+bf16",
                        precision="bf16"),
            _skyseg_row(stack, "skyseg INT8 Q/DQ (TensorRT form) · OpenVINO", prep.int8_qdq, "openvino", threads,
                        int8_missing, "int8")]
    picked = (auto.model.resolve(), auto.backend, dict(auto.options)) if auto is not None else None
    for row, model in ((rows[2], prep.fp32), (rows[6], prep.int8_ov)):  # no `skyseg run` flag asks for bf16
        row.reachable = model is not None and picked == (model.resolve(), "openvino", {"precision": "bf16"})
        if not row.reachable and row.predict is not None:
            row.note = ("OpenVINO's bf16 hint: reachable from `skyseg run` only when --backend auto picks it (and "
                        "from the Python API: open_backend(m, 'openvino', precision='bf16'))")
    if prep.int8_refused:
        for row in rows[3:7]:
            if row.predict is not None:
                row.note = (f"refused by skyseg quantize ({prep.int8_refused}); its model timed for the record, "
                            "not counted as best")
                row.counts = False
    if auto is not None:
        row = _skyseg_row(stack, AUTO, auto.model, auto.backend, threads, "", auto.name, **auto.options)
        if row.predict is not None:
            row.note = (f"`skyseg run --backend auto` picks {auto.name} ({auto.model.name}); its evidence is in the "
                        "summary below and in `skyseg inspect MODEL`")
        rows.append(row)
    return rows


def ultralytics_rows(prep: Prepared, pt: Path, threads: int) -> list[Row]:
    from skyseg.bench.ultralytics_ref import sky_mask_predictor

    notes = prep.notes or {}
    specs = [("Ultralytics YOLO(.pt).predict · PyTorch", prep.ul_pt or pt, prep.size, ""),
             ("Ultralytics YOLO(skyseg ONNX).predict · ONNX Runtime", prep.fp32, list(prep.hw), ""),
             ("Ultralytics OpenVINO export FP32 · predict", prep.ul_openvino, list(prep.hw), notes.get("ul_openvino")),
             ("Ultralytics OpenVINO export INT8 · predict", prep.ul_openvino_int8, list(prep.hw),
              notes.get("ul_openvino_int8"))]
    rows = []
    for label, model, imgsz, why in specs:
        if model is None:
            rows.append(Row(label, "ultralytics", None, f"failed: {why}"))
            continue
        try:
            with contextlib.redirect_stdout(sys.stderr):
                fn = sky_mask_predictor(str(model), imgsz, threads)
        except Exception as err:  # Ultralytics raises anything; the row says what
            rows.append(Row(label, "ultralytics", None, f"failed: {type(err).__name__}: {err}"[:240]))
            continue
        note = _openvino_precision_note() if "OpenVINO" in label else ""
        rows.append(Row(label, "ultralytics", lambda pair, fn=fn: fn(pair[1]), note))
    return rows


def _openvino_precision_note() -> str:
    """Ultralytics compiles its OpenVINO exports with OpenVINO's default precision: say which that is here."""
    import openvino as ov

    hint = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    return f"runs at OpenVINO's default inference precision on this CPU: {getattr(hint, 'type_name', hint)}"


def race(rows: list[Row], frames: list[Pair], rounds: int) -> None:
    """Time every row on every frame, interleaved in rotating order; IoU against the first row's masks."""
    live = [r for r in rows if r.predict is not None]
    reference = [live[0].predict(pair) for pair in frames]  # also the first row's warm-up
    for row in live[1:]:
        row.predict(frames[0])  # warm-up: first calls allocate and pick kernels
    for rnd in range(rounds):
        for i, pair in enumerate(frames):
            k = (rnd * len(frames) + i) % len(live)
            for row in live[k:] + live[:k]:
                mask, ms = timed(lambda row=row, pair=pair: row.predict(pair))
                row.times.append(ms)
                if rnd == 0:
                    row.ious.append(mask_iou(mask, reference[i]))


def auto_choice(prep: Prepared, threads: int) -> Any:
    """What `skyseg run --backend auto` runs the FP32 export on here (measured now if the cache does not match)."""
    from skyseg.runtime.backends.auto import choose_onnx_backend

    choice = choose_onnx_backend(prep.fp32, threads)
    if choice.model is None:
        from dataclasses import replace

        choice = replace(choice, model=prep.fp32)
    log.info("size %d: --backend auto picks %s (%s)", prep.size, choice.name, choice.source)
    return choice


def run_size(cfg: PrepareConfig, size: int, frames: list[Pair], rounds: int) -> SizeResult:
    prep = prepare(cfg, size)
    auto = auto_choice(prep, cfg.threads)
    with contextlib.ExitStack() as stack:
        rows = skyseg_rows(stack, prep, cfg.threads, auto)
        if rows[0].predict is None:
            raise SkysegError(f"the reference {prep.fp32} does not open on ONNX Runtime: {rows[0].note}")
        if cfg.ultralytics:
            rows += ultralytics_rows(prep, cfg.pt, cfg.threads)
        log.info("size %d (%dx%d): racing %d rows on %d frames x %d rounds", size, prep.hw[1], prep.hw[0],
                 sum(r.predict is not None for r in rows), len(frames), rounds)
        from skyseg.bench.sysinfo import CpuLoadMeter

        with CpuLoadMeter() as meter:
            race(rows, frames, rounds)
    load = meter.result
    return SizeResult(prep, rows, auto, load.other_cores if load is not None else None)


def _int8_arg(text: str) -> tuple[int, Path]:
    size, sep, path = text.partition("=")
    if not sep or not size.isdigit():
        raise argparse.ArgumentTypeError(f"expected SIZE=PATH (e.g. 640=m.int8.onnx), got {text!r}")
    return int(size), Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    from skyseg.runtime.bundled_model import weights_dir

    parser = argparse.ArgumentParser(prog="skyseg bench compare", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640], metavar="S",
                        help="input sizes on the frames' long side (default 320 640)")
    parser.add_argument("--frames", type=int, default=10, help="frames per round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="threads per engine (default 1)")
    parser.add_argument("--pt", type=Path, default=None, help="weights (default: the bundled skyseg-n.pt)")
    parser.add_argument("--out", type=Path, default=Path("bench-compare"),
                        help="prepared models, kept between runs (default ./bench-compare)")
    parser.add_argument("--int8", type=_int8_arg, action="append", default=[], metavar="SIZE=PATH",
                        help="a prepared INT8 model for SIZE (TensorRT Q/DQ or CPU form) instead of quantizing")
    parser.add_argument("--calib", type=Path, default=None, help="calibration set for quantizing (default: synthetic)")
    parser.add_argument("--calib-frames", type=int, default=40, help="synthetic calibration frames (40)")
    parser.add_argument("--int8-budget", type=float, default=0.02,
                        help="quantize's allowed sky-mask IoU drop on every hold-out frame (0.02)")
    parser.add_argument("--no-ultralytics", action="store_true", help="only skyseg's rows (no PyTorch needed)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to --threads CPUs")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write every row, auto's pick and the best Ultralytics row as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    pt = args.pt or ((weights_dir() or Path("skyseg/models/weights")) / "skyseg-n.pt")
    cfg = PrepareConfig(pt=pt, out=args.out, threads=args.threads, calib=args.calib, calib_frames=args.calib_frames,
                        int8_budget=args.int8_budget, int8_given=tuple(args.int8), ultralytics=not args.no_ultralytics)
    small = [f"--{k} {v}" for k, v in (("frames", args.frames), ("rounds", args.rounds), ("threads", args.threads))
             if v < 1] + [f"--sizes {s}" for s in args.sizes if s < 32]
    if small:
        raise InputError(f"{', '.join(small)}: frames, rounds and threads must be at least 1 and sizes at least 32.")
    unknown = sorted({s for s, _ in args.int8} - set(args.sizes))
    if unknown:
        raise InputError(f"--int8 names size(s) {unknown} that --sizes {args.sizes} does not race.")
    cpus, before = None, None
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        before = os.sched_getaffinity(0)
        cpus = sorted(before)[-args.threads:]  # the last CPUs: the first tends to take interrupts
        os.sched_setaffinity(0, cpus)
    try:
        frames = bench_frames(args.frames, cfg.frame_wh)
        results = [run_size(cfg, size, frames, args.rounds) for size in args.sizes]
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    conditions = conditions_line(args.threads, cpus, args.frames, args.rounds, cfg.frame_wh, results)
    sys.stdout.write(markdown(results, conditions))
    if args.json is not None:
        from skyseg.runtime.atomic_file import write_json_atomic

        log.info("wrote %s", write_json_atomic(args.json, to_json(results, conditions)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
