"""`skyseg demo`: the whole pipeline end to end on a CPU, in a few minutes, from the bundled weights.

Stages (each timed and logged; the summary lists them):
1. export the weights to ONNX and verify it against the PyTorch deploy model (the export library);
2. draw a calibration set from generated night skies and quantize to Q/DQ INT8 (the calib library, with the
   sensitivity search bounded in time);
3. generate a short night-sky clip and encode it with the runtime's GStreamer video writer;
4. run the clip through a real GStreamer `file://` source with ONNX Runtime and the runtime's sinks (annotated
   video, mask PNGs, CSV and XLSX tables), scoring the sky masks against the clip's exact ground truth;
5. run the FP32 model on the labelled real all-sky frames (datasets/realsky): masks, errors and IoU per frame;
6. cross-verify PyTorch, ONNX FP32 and INT8 on the same frames (`skyseg verify`'s library);
7. benchmark FP32, INT8 and Ultralytics' predictor under the same conditions (`skyseg bench`'s library).
Every file is written to a temp name and renamed into place, so an interrupted demo leaves no half files.
"""
from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from skyseg.runtime.bundled_model import weights_dir
from skyseg.runtime.errors import InputError, MissingDependencyError, VerificationError
from skyseg.bench.sysinfo import CpuLoadMeter

log = logging.getLogger(__name__)

BUNDLED_WEIGHTS = "skyseg-n.pt"
T = TypeVar("T")


@dataclass(frozen=True)
class DemoConfig:
    """`skyseg demo` settings; the defaults fit the 5-minute budget on 2 CPU cores."""

    out: Path
    weights: Path | None = None  # None: the bundled models/weights/skyseg-n.pt
    frames: int = 48  # clip length
    imgsz: tuple[int, int] = (320, 320)  # model input (h, w)
    clip_wh: tuple[int, int] = (640, 360)
    fps: float = 12.0
    calib_frames: int = 40
    int8_budget: float = 0.02  # allowed sky-mask IoU drop of INT8 vs FP32 on every hold-out frame
    sensitivity_s: float = 60.0  # time limit of the mixed-precision search
    bench_frames: int = 20
    bench_threads: int = 1
    verify_frames: int = 16  # fresh synthetic frames (not the calibration set) for the cross-backend check
    seed: int = 7
    run_model: str = "int8"  # which model the clip runs through: int8 | fp32
    realsky: Path | None = None  # labelled real frames (None: datasets/realsky of this checkout, when present)

    def __post_init__(self) -> None:
        if self.frames < 1 or self.bench_frames < 1 or self.calib_frames < 4:
            raise InputError(f"demo needs frames ≥ 1, bench_frames ≥ 1 and calib_frames ≥ 4; got {self.frames}, "
                             f"{self.bench_frames}, {self.calib_frames}")
        if self.run_model not in ("int8", "fp32"):
            raise InputError(f"run_model must be int8 or fp32, got {self.run_model}")


@dataclass
class DemoSummary:
    """Where everything went, how long each stage took, and the headline numbers."""

    out: Path
    stages: dict[str, float] = field(default_factory=dict)  # stage → wall seconds
    cpu: dict[str, float] = field(default_factory=dict)  # stage → CPU seconds of this process (all threads)
    files: dict[str, Path] = field(default_factory=dict)  # what → where
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return sum(self.stages.values())

    def markdown(self) -> str:
        lines = ["# skyseg demo", "", "| stage | wall s | CPU s |", "|---|---:|---:|"]
        lines += [f"| {name} | {sec:.1f} | {self.cpu.get(name, float('nan')):.1f} |" for name, sec in self.stages.items()]
        lines += [f"| **total** | **{self.total_s:.1f}** | **{sum(self.cpu.values()):.1f}** |", ""]
        if self.numbers.get("other CPU load during the demo (cores)") is not None:
            lines += ["Wall time depends on what else runs: see the other CPU load under Numbers.", ""]
        lines += ["## Outputs", ""]
        lines += [f"- {what}: `{path}`" for what, path in self.files.items()]
        if self.numbers:
            lines += ["", "## Numbers", ""]
            lines += [f"- {key}: {value}" for key, value in self.numbers.items()]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


@contextmanager
def _stage(summary: DemoSummary, name: str) -> Iterator[None]:
    log.info("── demo stage: %s", name)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    try:
        yield
    finally:
        summary.stages[name] = round(time.perf_counter() - t0, 2)
        summary.cpu[name] = round(_cpu_seconds() - c0, 2)
        log.info("── %s done in %.1f s (CPU %.1f s)", name, summary.stages[name], summary.cpu[name])


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and its waited-for children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bundled_weights() -> Path:
    """The bundled checkpoint inside the installed skyseg.models package, or an InputError saying what to do."""
    folder = weights_dir()
    path = (folder if folder is not None else Path("skyseg/models/weights")) / BUNDLED_WEIGHTS
    if not path.is_file():
        raise InputError(f"the bundled weights {BUNDLED_WEIGHTS} are not in this installation (looked in "
                         f"{path.parent}); pass --weights WEIGHTS.pt (e.g. from `skyseg train`)")
    return path


def _export(config: DemoConfig, weights: Path, summary: DemoSummary) -> Path:
    from skyseg.export.onnx_export import ExportConfig, export_onnx
    from skyseg.runtime.atomic_file import write_text_atomic

    result = export_onnx(ExportConfig(weights=weights, output=config.out / "model" / "skyseg.onnx",
                                      imgsz=config.imgsz, verify=True))
    summary.files["ONNX model (FP32, verified)"] = result.path
    if result.verification is not None:
        table = write_text_atomic(config.out / "model" / "export_verification.txt",
                                  result.verification.format_table() + "\n")
        summary.files["export verification"] = table
        summary.numbers["export: min sky-mask IoU ONNX vs PyTorch"] = round(result.verification.min_iou(), 5)
    return result.path


def _quantize(config: DemoConfig, fp32: Path, summary: DemoSummary) -> Path:
    from skyseg.calib.quantize import QuantizeConfig, quantize_model
    from skyseg.calib.selection import SynthCalibConfig, synth_calibration_set

    calib_dir = config.out / "calib"
    manifest = synth_calibration_set(SynthCalibConfig(output=calib_dir, n=config.calib_frames, seed=1000))
    summary.files["calibration set (synthetic night skies)"] = manifest
    int8 = config.out / "model" / "skyseg.int8.onnx"
    qcfg = QuantizeConfig(model=fp32, calib_dir=calib_dir, output=int8, budget=config.int8_budget,
                          time_limit_s=config.sensitivity_s, holdout=0.25, max_holdout=10)
    try:
        result = quantize_model(qcfg)
        summary.numbers["INT8: blocks kept float"] = result.kept_float_blocks or "none"
        summary.numbers["INT8: convs quantized / float"] = f"{result.quantized_convs} / {result.float_convs}"
        if result.mixed is not None:
            summary.numbers["INT8: worst hold-out frame sky-mask IoU vs FP32"] = round(result.mixed.final_iou, 4)
    except VerificationError as err:
        if not int8.is_file():
            raise
        # The model was written for inspection; the demo goes on and says so loudly (verify below shows it too).
        log.warning("INT8 accuracy budget not met: %s", err)
        summary.notes.append(f"INT8 accuracy budget ({config.int8_budget}) NOT met: {err}")
    summary.files["INT8 Q/DQ model (TensorRT form)"] = int8
    return int8


def _cpu_form(config: DemoConfig, int8: Path, summary: DemoSummary) -> Path:
    """ONNX Runtime's CPU form of the Q/DQ model (uint8 activation codes): what a CPU runs fastest."""
    from skyseg.calib.ort_cpu import write_ort_cpu_form

    path = write_ort_cpu_form(int8, config.out / "model" / "skyseg.int8.ort-cpu.onnx")
    summary.files["INT8 model, ONNX Runtime CPU form"] = path
    return path


class _GroundTruthScore:
    """A sink that scores each frame's sky mask against the clip's exact mask (IoU)."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth
        self.ious: list[float] = []

    def write(self, record: Any) -> None:
        if record.result is None:
            return
        from skyseg.runtime.quality.mask_metrics import mask_iou

        self.ious.append(mask_iou(record.result.sky_mask, self.truth))

    def close(self) -> None:
        return None

    def outputs(self) -> list[Path]:
        return []


def _run_clip(config: DemoConfig, model: Path, clip: Any, summary: DemoSummary) -> None:
    """The runtime's run loop on a GStreamer file:// source, with the --save-dir sinks; the table as results.xlsx,
    derived from the durable results.csv beside it (one table sink: the rows go to the CSV once)."""
    from skyseg.runtime.pipeline import Hooks, Pipeline, RunConfig, StopRequest

    run_dir = config.out / "run"
    uri = f"file://{clip.path.resolve()}"
    run_cfg = RunConfig(source=uri, model=str(model), backend="ort", save_dir=str(run_dir), headless=True,
                        table=str(run_dir / "results.xlsx"), prior="off", min_free_mb=0)
    score = _GroundTruthScore(clip.sky_mask)
    with StopRequest() as stop:
        hooks = Hooks(stop=lambda: stop.reason is not None, sinks=[score])
        with Pipeline(run_cfg, hooks=hooks) as pipeline:
            progress = pipeline.run()
        outputs = pipeline.outputs
        seconds = time.perf_counter() - progress.start
    if stop.reason is not None:
        raise InputError(f"demo stopped by {stop.reason} during the clip run; completed files were kept")
    for path in outputs:
        if path.suffix in (".mp4", ".mkv", ".webm", ".avi"):
            summary.files["annotated video"] = path
        elif path.suffix in (".csv", ".xlsx", ".jsonl"):
            summary.files[f"results table ({path.suffix[1:].upper()})"] = path
    masks = [p for p in outputs if p.name.endswith("_mask.png")]
    if masks:
        summary.files[f"sky mask PNGs ({len(masks)}, 255 = sky)"] = masks[0].parent
    summary.numbers["run: frames processed / errors"] = f"{progress.frames} / {progress.errors}"
    summary.numbers["run: throughput incl. decode + sinks (frames/s)"] = round(progress.frames / max(seconds, 1e-9), 2)
    if score.ious:
        summary.numbers["run: sky-mask IoU vs the clip's true mask (mean)"] = round(float(np.mean(score.ious)), 4)


def _verify(config: DemoConfig, weights: Path, models: tuple[Path, ...], summary: DemoSummary) -> None:
    from skyseg.calib.selection import SynthCalibConfig, synth_calibration_set
    from skyseg.export.cross_verify import VerifyConfig, cross_verify
    from skyseg.runtime.atomic_file import write_json_atomic, write_text_atomic

    frames = config.out / "verify" / "frames"  # held out: another seed range than the calibration set
    synth_calibration_set(SynthCalibConfig(output=frames, n=config.verify_frames, seed=2000, write_masks=False))
    report = cross_verify(VerifyConfig(models=tuple(map(str, models)), reference=str(weights),
                                       images=str(frames), max_frames=config.verify_frames))
    summary.files["cross-backend verification"] = write_text_atomic(config.out / "verify" / "verify.md",
                                                                    report.markdown())
    write_json_atomic(config.out / "verify" / "verify.json", report.to_json())
    for b in report.backends[1:]:
        summary.numbers[f"verify: {b.label} sky-mask IoU vs PyTorch (mean/min)"] = (
            f"{b.iou_mean:.4f} / {b.iou_min:.4f} → {b.status}" if b.iou_mean is not None else b.status)
    for b in report.failed:
        log.warning("verify: %s %s disagrees with PyTorch: %s", b.label, Path(b.model).name, b.reason)
        summary.notes.append(f"verify: {b.label} {Path(b.model).name} below IoU {report.min_iou}: {b.reason}")


def _bench(config: DemoConfig, fp32: Path, int8: Path, summary: DemoSummary) -> None:
    from skyseg.bench.ultralytics_ref import measure_ultralytics
    from skyseg.bench.throughput import BenchConfig, run_bench
    from skyseg.bench.report import SCHEMA_VERSION, comparison_table, plot_reports
    from skyseg.runtime.atomic_file import write_json_atomic, write_text_atomic

    common = dict(frames=config.bench_frames, warmup=3, threads=config.bench_threads, frame_wh=config.clip_wh)
    reports = [
        run_bench(BenchConfig(model=str(fp32), label="fp32", compare_ultralytics=True, **common),
                  compare_runner=measure_ultralytics),
        run_bench(BenchConfig(model=str(int8), label="int8-cpu", **common)),
    ]
    bench_dir = config.out / "bench"
    text = "# skyseg bench: FP32 vs INT8 vs Ultralytics\n\n" + comparison_table(reports) + "\n"
    text += "\n".join(r.markdown() for r in reports)
    summary.files["bench report (markdown)"] = write_text_atomic(bench_dir / "bench.md", text)
    summary.files["bench report (JSON)"] = write_json_atomic(
        bench_dir / "bench.json", {"schema_version": SCHEMA_VERSION, "runs": [r.to_json() for r in reports]})
    try:
        summary.files["bench plot"] = plot_reports(reports, bench_dir / "bench.png")
    except MissingDependencyError as err:  # matplotlib missing: the tables stand alone
        summary.notes.append(f"bench plot skipped: {err}")
    fp, q = reports
    summary.numbers["bench: FP32 p50 pre+infer+post (ms)"] = fp.end_to_end.p50_ms if fp.end_to_end else None
    summary.numbers["bench: INT8 p50 pre+infer+post (ms)"] = q.end_to_end.p50_ms if q.end_to_end else None
    if fp.compare is not None:
        summary.numbers["bench: Ultralytics p50 predict() (ms)"] = fp.compare.stages["total"].p50_ms
        summary.numbers["bench: skyseg FP32 speed vs Ultralytics"] = f"{fp.compare.ratio_p50:.2f}×"
    summary.numbers["bench: other CPU load during FP32 run (cores)"] = fp.conditions["cpu_load"]["other_cores"]


def _timed(summary: DemoSummary, name: str, fn: Callable[[], T]) -> T:
    with _stage(summary, name):
        return fn()


def run_demo(config: DemoConfig) -> DemoSummary:
    """Run every stage into `config.out`; returns the summary (also written to OUT/SUMMARY.md)."""
    from skyseg.demo.clip import write_clip
    from skyseg.demo.realsky import default_realsky, run_realsky
    from skyseg.bench.report import preload_plotting
    from skyseg.runtime.atomic_file import write_text_atomic

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(out=out)
    try:
        preload_plotting()  # must precede GStreamer in this process (FreeType clash, see preload_plotting)
    except MissingDependencyError as err:
        summary.notes.append(f"bench plot will be skipped: {err}")
    weights = Path(config.weights) if config.weights is not None else bundled_weights()
    if not weights.is_file():
        raise InputError(f"weights {weights} do not exist; pass --weights WEIGHTS.pt")
    summary.files["weights"] = weights
    meter = CpuLoadMeter().start()
    fp32 = _timed(summary, "export + verify ONNX", lambda: _export(config, weights, summary))
    int8 = _timed(summary, "calibration set + INT8 quantization", lambda: _quantize(config, fp32, summary))
    int8_cpu = _timed(summary, "INT8 ONNX Runtime CPU form", lambda: _cpu_form(config, int8, summary))
    clip = _timed(summary, "night-sky clip", lambda: write_clip(out / "clip" / "night_sky.mp4", config.seed,
                                                                config.frames, config.clip_wh, config.fps))
    summary.files["night-sky clip (input)"] = clip.path
    run_model = int8_cpu if config.run_model == "int8" else fp32
    _timed(summary, f"GStreamer file pipeline ({config.run_model}, ONNX Runtime)",
           lambda: _run_clip(config, run_model, clip, summary))
    realsky = config.realsky or default_realsky()
    if realsky is not None:
        _timed(summary, "real skies (labelled frames)",
               lambda: run_realsky(fp32, Path(realsky), out, config.bench_threads, summary))
    else:
        summary.notes.append("real skies skipped: datasets/realsky is not beside this installation")
    _timed(summary, "cross-backend verification", lambda: _verify(config, weights, (fp32, int8, int8_cpu), summary))
    _timed(summary, "bench FP32 / INT8 / Ultralytics", lambda: _bench(config, fp32, int8_cpu, summary))
    load = meter.stop()
    summary.numbers["other CPU load during the demo (cores)"] = f"{load.other_cores:.2f} of {os.cpu_count()}"
    summary.files["this summary"] = out / "SUMMARY.md"
    write_text_atomic(out / "SUMMARY.md", summary.markdown())
    log.info("demo finished in %.1f s; outputs:", summary.total_s)
    for what, path in summary.files.items():
        log.info("  %-45s %s", what, path)
    return summary
