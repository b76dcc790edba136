"""What `--backend auto` races for one ONNX model, and the race: speed on this host, accuracy on real frames.

Candidates (`find_candidates`): the model on ONNX Runtime (FP32, the reference), on OpenVINO f32 and bf16 (bf16
only where the CPU has it), the INT8 forms beside the model: `M.int8.cpu.onnx` (the ONNX Runtime CPU form,
`skyseg quantize --ort-cpu`) on ONNX Runtime and OpenVINO, `M.int8.ov.onnx` (its OpenVINO form,
`python -m skyseg.calib.openvino_form`) on OpenVINO with f32 and bf16 float parts, `M.int8.onnx` (the TensorRT
Q/DQ form) on ONNX Runtime only (OpenVINO computes its signed INT8 activations wrong, see backends/openvino.py),
and TensorRT engines beside it (`M*.engine`, `M*.plan`) when TensorRT is installed. Nothing is quantized here.

Accuracy (`race`): every candidate segments the same real frames; its full-size sky mask is compared with the
reference's (IoU per frame). A candidate is accepted only if its WORST frame reaches the gate: 0.99 for float
forms, 0.98 for INT8. Frames: the folders in $SKYSEG_AUTO_FRAMES (os.pathsep-separated), else the labelled real
frames shipped in the source tree (datasets/realsky: all nine; datasets/realpool/images/val: every third, twelve),
else synthetic night skies from the installed scene renderer. Speed: median ms per inference, timed interleaved.
"""
from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np

from skyseg.runtime.errors import SkysegError
from skyseg.runtime.timing import median_ms

log = logging.getLogger(__name__)

ENV_FRAMES = "SKYSEG_AUTO_FRAMES"
FLOAT_GATE, INT8_GATE = 0.99, 0.98  # min sky-mask IoU vs the reference over every frame
POOL_STEP = 3  # every third frame of datasets/realpool/images/val
_MIN_ROUNDS, _MAX_ROUNDS, _BUDGET_S, _REPEATS = 3, 9, 3.0, 2
_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
_SOURCE_TREE = Path(__file__).resolve().parents[2]
Frames = List[Tuple[str, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a backend, a file and its options."""

    name: str  # e.g. "openvino bf16", "onnxruntime int8"
    backend: str  # "ort", "openvino" or "trt"
    model: Path
    precision: str  # "fp32", "bf16", "fp16" or "int8"
    options: dict[str, str] = field(default_factory=dict)

    @property
    def gate(self) -> float:
        return INT8_GATE if self.precision == "int8" else FLOAT_GATE


@dataclass
class Evidence:
    """What one candidate measured, and whether it may be chosen."""

    candidate: Candidate
    ms: float | None = None
    iou_mean: float | None = None
    iou_min: float | None = None
    worst_frame: str = ""
    rejected: str = ""  # why it can never be chosen here (empty: accepted)

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {"name": c.name, "backend": c.backend, "model": c.model.name, "precision": c.precision,
                "options": dict(c.options), "ms": self.ms, "iou_mean": self.iou_mean, "iou_min": self.iou_min,
                "worst_frame": self.worst_frame, "gate": c.gate, "rejected": self.rejected}


def _stem(model: Path) -> str:
    return model.name[: -len(".onnx")] if model.name.lower().endswith(".onnx") else model.stem


def openvino_has_bf16() -> bool:
    """Whether OpenVINO's CPU plug-in offers bf16 here (AVX-512 BF16 or AMX)."""
    try:
        import openvino as ov

        return "BF16" in list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # no OpenVINO, no CPU plug-in: no bf16
        return False


def find_candidates(model: Path) -> list[Candidate]:
    """The reference first, then every form present beside the model that this host can run."""
    stem, folder = _stem(model), model.parent
    found = [Candidate("onnxruntime fp32", "ort", model, "fp32")]
    has_ov = find_spec("openvino") is not None
    bf16 = has_ov and openvino_has_bf16()
    if has_ov:
        found.append(Candidate("openvino f32", "openvino", model, "fp32"))
        if bf16:
            found.append(Candidate("openvino bf16", "openvino", model, "bf16", {"precision": "bf16"}))
    cpu_form, ov_form, qdq = (folder / f"{stem}.int8.{kind}onnx" for kind in ("cpu.", "ov.", ""))
    if cpu_form.is_file():
        found.append(Candidate("onnxruntime int8", "ort", cpu_form, "int8"))
        if has_ov:
            found.append(Candidate("openvino int8 (cpu form)", "openvino", cpu_form, "int8"))
    if ov_form.is_file() and has_ov:
        found.append(Candidate("openvino int8", "openvino", ov_form, "int8"))
        if bf16:
            found.append(Candidate("openvino int8+bf16", "openvino", ov_form, "int8", {"precision": "bf16"}))
    if qdq.is_file():
        found.append(Candidate("onnxruntime int8 q/dq", "ort", qdq, "int8"))
    if find_spec("tensorrt") is not None:
        for suffix in (".engine", ".plan"):
            for path in sorted(folder.glob(f"{stem}*{suffix}")):
                precision = "int8" if "int8" in path.name.lower() else "fp16"
                found.append(Candidate(f"tensorrt {path.name}", "trt", path, precision))
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(_SUFFIXES))


def frame_files() -> tuple[list[Path], str]:
    """The real frames the accuracy check uses, and where they came from."""
    env = os.environ.get(ENV_FRAMES, "").strip()
    if env:
        files = [f for d in env.split(os.pathsep) if Path(d).is_dir() for f in _files(Path(d))]
        return files, f"${ENV_FRAMES}"
    realsky = _SOURCE_TREE / "datasets" / "realsky" / "images" / "val"
    pool = _SOURCE_TREE / "datasets" / "realpool" / "images" / "val"
    files = (_files(realsky) if realsky.is_dir() else []) + (_files(pool)[::POOL_STEP] if pool.is_dir() else [])
    return files, "datasets/realsky + every third of datasets/realpool/images/val"


def read_frame(path: Path) -> np.ndarray | None:
    """A real accuracy frame's pixels (FITS or image file), or None with a warning when it cannot be read."""
    from skyseg.runtime.sources.fits_reader import read_fits
    from skyseg.runtime.sources.image_reader import read_image

    try:
        return read_fits(path)[0] if ".fit" in path.name.lower() else read_image(path)
    except (SkysegError, OSError, ValueError) as err:
        log.warning("skipping accuracy frame %s (%s)", path.name, err)
        return None


def unchecked_files() -> tuple[list[Path], str]:
    """The real frames shipped in the source tree that the accuracy check does NOT use (two of every three of
    datasets/realpool/images/val): where `skyseg quantize` tunes, so that this check stays an independent one."""
    pool = _SOURCE_TREE / "datasets" / "realpool" / "images" / "val"
    files = [f for i, f in enumerate(_files(pool)) if i % POOL_STEP] if pool.is_dir() else []
    return files, "the datasets/realpool/images/val frames --backend auto does not check on"


def load_frames() -> tuple[Frames, str]:
    """(name, pixels) of the accuracy frames and a one-line description; synthetic skies when none are found."""
    files, where = frame_files()
    frames: Frames = [(path.name, pixels) for path in files if (pixels := read_frame(path)) is not None]
    if frames:
        return frames, f"{len(frames)} real frames ({where})"
    try:
        from skyseg.runtime.sources.synthetic import find_renderer

        render = find_renderer("sky")
        frames = [(f"synthetic {s}", np.asarray(render(s, kind="mixed", size=(1280, 720)).image)) for s in range(8)]
    except Exception as err:  # no renderer installed: no frames at all
        log.warning("backend auto: no accuracy frames (%s)", err)
        return [], "no frames"
    return frames, f"{len(frames)} synthetic frames (no real frames found; set ${ENV_FRAMES} to a folder of them)"


def _masks(backend: Any, inputs: list[tuple[np.ndarray, Any]]) -> list[np.ndarray]:
    from skyseg.runtime.process.postprocess import postprocess

    masks = []
    for x, info in inputs:
        out = backend.infer(x)
        masks.append(postprocess(out["output0"], out["output1"], info, 0.25, 0.7, 300, backend.info.names).sky_mask)
    return masks


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _time(open_ones: list[tuple[Evidence, Any]], x: np.ndarray) -> None:
    times: dict[int, list[float]] = {i: [] for i in range(len(open_ones))}
    start = time.perf_counter()
    for rnd in range(_MAX_ROUNDS):
        if rnd >= _MIN_ROUNDS and time.perf_counter() - start > _BUDGET_S:
            break
        k = rnd % len(open_ones)
        for i in list(range(k, len(open_ones))) + list(range(k)):  # rotating order: load changes hit all alike
            backend = open_ones[i][1]
            times[i].append(median_ms(lambda b=backend: b.infer(x), _REPEATS, warmup=0))
    for i, (ev, _) in enumerate(open_ones):
        ev.ms = round(statistics.median(times[i]), 3)


def race(candidates: list[Candidate], threads: int | None, frames: Frames) -> list[Evidence]:
    """Open every candidate, check its masks against the first (the reference) on every frame, time the accepted.

    The reference must open; a candidate that cannot open or run is rejected with the reason."""
    import contextlib

    from skyseg.runtime.backends.base import open_backend
    from skyseg.runtime.process.preprocess import preprocess

    evidence = [Evidence(c) for c in candidates]
    with contextlib.ExitStack() as stack:
        opened: list[tuple[Evidence, Any]] = []
        for ev in evidence:
            c = ev.candidate
            try:
                backend = stack.enter_context(open_backend(c.model, c.backend, threads=threads, **c.options))
            except SkysegError as err:
                if not opened:
                    raise
                ev.rejected = f"cannot run here: {err}"
                continue
            opened.append((ev, backend))
        ref_ev, ref = opened[0]
        inputs = [preprocess(pixels, ref.input_hw) for _, pixels in frames]
        reference = _masks(ref, inputs)
        ref_ev.iou_mean = ref_ev.iou_min = 1.0 if frames else None
        timed = [opened[0]]
        for ev, backend in opened[1:]:
            if backend.input_hw != ref.input_hw:
                ev.rejected = f"takes {backend.input_hw} input, the model {ref.input_hw}"
                continue
            if not frames:
                ev.rejected = "no frames to check its masks on"
                continue
            try:
                ious = [_iou(m, r) for m, r in zip(_masks(backend, inputs), reference)]
            except SkysegError as err:
                ev.rejected = f"failed on a frame: {err}"
                continue
            worst = int(np.argmin(ious))
            ev.iou_mean, ev.iou_min, ev.worst_frame = float(np.mean(ious)), float(ious[worst]), frames[worst][0]
            if ev.iou_min < ev.candidate.gate:
                ev.rejected = (f"sky IoU {ev.iou_min:.3f} on {ev.worst_frame} < {ev.candidate.gate} "
                               f"({'INT8' if ev.candidate.precision == 'int8' else 'float'} gate, every frame)")
            timed.append((ev, backend))  # timed even when rejected: the evidence shows what it would have given
        x = inputs[0][0] if inputs else np.zeros((1, 3, *ref.input_hw), np.float32)
        for _, backend in timed:
            backend.infer(x)  # first calls allocate and pick kernels
        _time(timed, x)
    return evidence
