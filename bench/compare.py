"""Every skyseg backend against the best Ultralytics paths on the same weights: one table, one run.

    skyseg bench compare [--sizes 320 640] [--frames 10] [--rounds 3] [--threads 1] [--pt W.pt] [--out DIR]
                         [--int8 SIZE=PATH ...] [--calib DIR] [--no-ultralytics]

Frames: synthetic 1280×720 night skies (all-sky and camera, `skyseg.synth`). For each size S the models are
exported at the frames' aspect (S=640 → 384×640) and prepared once in `--out` (bench/compare_prepare.py). Each row
is median ms per frame from pixels to the full-size sky mask: skyseg's `Segmenter` on ONNX Runtime, OpenVINO
(f32) and its INT8 CPU form; Ultralytics' `predict(retina_masks=True)` (masks at the frame's size, then their union)
on the .pt, on skyseg's ONNX and on its own OpenVINO exports. IoU is each row's sky mask against skyseg FP32 on ONNX
Runtime, per frame (mean / min). The process is pinned to `--threads` CPUs and every engine gets that many threads;
rows run interleaved frame by frame in rotating order, for `--rounds` passes, so load changes hit all alike.
Targets (issue 19): skyseg's best ≥ 1.3× faster than Ultralytics' best at IoU ≥ 0.98; INT8 CPU form ≥ 1.8× FP32.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: see skyseg.cli.operate.run

import argparse  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402

from skyseg.bench.calib import SPEEDUP_TARGET as INT8_TARGET  # noqa: E402
from skyseg.bench.compare_prepare import PrepareConfig, Prepared, prepare  # noqa: E402
from skyseg.runtime.backends.base import open_backend  # noqa: E402
from skyseg.runtime.errors import InputError, ModelContractError, SkysegError  # noqa: E402
from skyseg.runtime.process.segmenter import Segmenter  # noqa: E402
from skyseg.runtime.quality.mask_metrics import mask_iou  # noqa: E402

log = logging.getLogger(__name__)

ULTRALYTICS_TARGET = 1.3
IOU_FLOOR = 0.98
FP32_ORT = "skyseg FP32 · ONNX Runtime"
INT8_CPU = "skyseg INT8 CPU form · ONNX Runtime"
BF16 = "skyseg FP32 weights · OpenVINO (bf16 hint)"
Pair = Tuple[np.ndarray, np.ndarray]  # (RGB, BGR) of one frame: each side gets its own convention, untimed


@dataclass
class Row:
    """One way to turn a frame into a sky mask, and what it measured."""

    label: str
    family: str  # "skyseg" or "ultralytics"
    predict: Callable[[Pair], np.ndarray] | None  # frame → full-size bool sky mask; None: no numbers (see note)
    note: str = ""  # why there are no numbers, or why the numbers do not count as best
    counts: bool = True
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
    auto: str = ""
    other_load: float | None = None  # other processes' CPU load while racing, in cores


def bench_frames(count: int, frame_wh: tuple[int, int], seed: int = 4000) -> list[Pair]:
    """Synthetic night skies, all-sky and camera mixed (seeds apart from the calibration and INT8 datasets)."""
    from skyseg.synth import render_scene

    rgbs = [render_scene(seed + i, kind="mixed", size=frame_wh).image for i in range(count)]
    return [(rgb, np.ascontiguousarray(rgb[..., ::-1])) for rgb in rgbs]


def _skyseg_row(stack: contextlib.ExitStack, label: str, model: Path | None, kind: str, threads: int,
                missing: str, **options: str) -> Row:
    if model is None:
        return Row(label, "skyseg", None, missing)
    try:
        backend = stack.enter_context(open_backend(model, kind, threads=threads, **options))
    except SkysegError as err:  # refused by design (Q/DQ on OpenVINO), or the engine is missing here
        word = "refused" if isinstance(err, ModelContractError) else "failed"
        return Row(label, "skyseg", None, f"{word}: {str(err).replace(str(model), 'the model')}")
    seg = Segmenter(backend, conf=0.25, iou=0.7)
    return Row(label, "skyseg", lambda pair: seg.segment(pair[0]).sky_mask)


def skyseg_rows(stack: contextlib.ExitStack, prep: Prepared, threads: int) -> list[Row]:
    int8_missing = (prep.notes or {}).get("int8", "not prepared")
    rows = [_skyseg_row(stack, FP32_ORT, prep.fp32, "ort", threads, ""),
            _skyseg_row(stack, "skyseg FP32 · OpenVINO (f32)", prep.fp32, "openvino", threads, ""),
            _skyseg_row(stack, INT8_CPU, prep.int8_cpu, "ort", threads, int8_missing),
            _skyseg_row(stack, "skyseg INT8 Q/DQ · OpenVINO", prep.int8_qdq, "openvino", threads, int8_missing),
            _skyseg_row(stack, BF16, prep.fp32, "openvino", threads, "", precision="bf16")]
    if rows[4].predict is not None:  # what Ultralytics' OpenVINO export gets by default on CPUs with AVX-512 BF16
        rows[4].note = ("OpenVINO's bf16 hint, reachable from the Python API only (open_backend(m, 'openvino', "
                        "precision='bf16')), not from skyseg run: shown, not counted as skyseg's best")
        rows[4].counts = False
    if prep.int8_refused and rows[2].predict is not None:
        rows[2].note = (f"refused by skyseg quantize ({prep.int8_refused}); its model timed for the record, not "
                        "counted as best")
        rows[2].counts = False
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
        except Exception as err:  # noqa: BLE001 - Ultralytics raises anything; the row says what
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
                t0 = time.perf_counter()
                mask = row.predict(pair)
                row.times.append((time.perf_counter() - t0) * 1e3)
                if rnd == 0:
                    row.ious.append(mask_iou(mask, reference[i]))


def _auto_line(prep: Prepared, threads: int) -> str:
    from skyseg.runtime.backends.auto import NAMES, choose_onnx_backend

    choice = choose_onnx_backend(prep.fp32, threads)
    return f"`--backend auto` picks {NAMES[choice.backend]} for {prep.fp32.name} ({choice.source}: {choice.reason})"


def run_size(cfg: PrepareConfig, size: int, frames: list[Pair], rounds: int) -> SizeResult:
    prep = prepare(cfg, size)
    with contextlib.ExitStack() as stack:
        rows = skyseg_rows(stack, prep, cfg.threads)
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
    return SizeResult(prep, rows, _auto_line(prep, cfg.threads), load.other_cores if load is not None else None)


def best(rows: list[Row], family: str) -> Row | None:
    """The family's fastest row that counts and agrees with FP32 at IoU ≥ 0.98 (mean over the frames)."""
    fit = [r for r in rows if r.family == family and r.counts and r.ms is not None and r.iou[0] >= IOU_FLOOR]
    return min(fit, key=lambda r: r.ms) if fit else None


def _verdict(value: float, target: float) -> str:
    return f"target ≥ {target}×: {'met' if value >= target else 'NOT met'}"


def summary_lines(res: SizeResult) -> list[str]:
    size = f"{res.prep.size} ({res.prep.hw[0]}×{res.prep.hw[1]})"
    by_label = {r.label: r for r in res.rows}
    ours, theirs = best(res.rows, "skyseg"), best(res.rows, "ultralytics")
    lines = []
    if ours and theirs:
        ratio = theirs.ms / ours.ms
        lines.append(f"- {size}: skyseg best = {ours.label} {ours.ms:.1f} ms vs Ultralytics best = {theirs.label} "
                     f"{theirs.ms:.1f} ms → **{ratio:.2f}×** ({_verdict(ratio, ULTRALYTICS_TARGET)})")
    elif ours:
        lines.append(f"- {size}: skyseg best = {ours.label} {ours.ms:.1f} ms (no Ultralytics row at IoU ≥ "
                     f"{IOU_FLOOR})")
    fp32, int8 = by_label[FP32_ORT], by_label[INT8_CPU]
    if int8.ms is not None:
        caveat = "; over quantize's IoU budget" if not int8.counts else ""
        lines.append(f"- {size}: INT8 CPU form vs FP32 on ONNX Runtime: {fp32.ms:.1f} / {int8.ms:.1f} ms = "
                     f"**{fp32.ms / int8.ms:.2f}×** ({_verdict(fp32.ms / int8.ms, INT8_TARGET)}; INT8 sky IoU "
                     f"{int8.iou[0]:.3f} mean, {int8.iou[1]:.3f} min{caveat})")
    else:
        lines.append(f"- {size}: INT8 CPU form vs FP32: no INT8 numbers ({int8.note})")
    lines.append(f"- {size}: {res.auto}")
    return lines


def markdown(results: list[SizeResult], conditions: str) -> str:
    notes: list[str] = []

    def cells(row: Row | None) -> list[str]:
        if row is None:
            return ["—", "—"]
        mark = ""
        if row.note:
            if row.note not in notes:
                notes.append(row.note)
            mark = f" [{notes.index(row.note) + 1}]"
        if row.ms is None:
            word = row.note.split(":")[0] if row.note.startswith(("refused", "failed")) else "n/a"
            return [f"{word}{mark}", "—"]
        return [f"{row.ms:.1f}{mark}", f"{row.iou[0]:.3f} / {row.iou[1]:.3f}"]

    head = ["variant"] + [c for r in results for c in (f"{r.prep.size} ({r.prep.hw[0]}×{r.prep.hw[1]}) ms/frame",
                                                       f"{r.prep.size} sky IoU vs FP32 ORT (mean / min)")]
    labels = list(dict.fromkeys(row.label for r in results for row in r.rows))
    lines = [conditions, "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for label in labels:
        row_cells = [c for r in results for c in cells(next((x for x in r.rows if x.label == label), None))]
        lines.append(f"| {label} | " + " | ".join(row_cells) + " |")
    lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    lines += [""] + [line for r in results for line in summary_lines(r)]
    return "\n".join(lines) + "\n"


def conditions_line(threads: int, cpus: list[int] | None, frames: int, rounds: int, frame_wh: tuple[int, int],
                    results: list[SizeResult]) -> str:
    from skyseg.bench.sysinfo import cpu_model, library_versions

    versions = library_versions(("onnxruntime", "openvino", "torch", "ultralytics", "nncf"))
    load = ", ".join(f"{r.other_load:.2f} cores at {r.prep.size}" for r in results
                     if r.other_load is not None) or "unknown"
    return (f"{cpu_model()}, {threads} thread(s) per engine, process pinned to CPUs {cpus}, {frames} synthetic "
            f"{frame_wh[0]}×{frame_wh[1]} frames × {rounds} rounds (median ms per frame, frame → full-size sky "
            "mask); "
            f"other processes' load while timing: {load}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items()))


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
    parser.add_argument("--int8-budget", type=float, default=0.01, help="quantize's hold-out IoU budget (0.01)")
    parser.add_argument("--no-ultralytics", action="store_true", help="only skyseg's rows (no PyTorch needed)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to --threads CPUs")
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
    sys.stdout.write(markdown(results, conditions_line(args.threads, cpus, args.frames, args.rounds, cfg.frame_wh,
                                                       results)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
