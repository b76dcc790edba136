"""`skyseg verify`: the same frames through every backend, compared on what matters — the sky mask.

Every backend sees identical inputs from the runtime's `preprocess` and its outputs go through the runtime's
`postprocess`; only the inference call differs (PyTorch deploy form, ONNX Runtime FP32 or Q/DQ INT8, TensorRT).
Per backend we report sky-mask IoU against the reference (a .pt's deploy form, or the first model), the largest
raw output differences (boxes in input pixels, scores, mask coefficients, protos) and how often instance
counts agree. A backend fails when its mean sky-mask IoU is below the threshold (0.99; INT8 models 0.98, the INT8
accuracy target) or it errors; an engine that cannot run here (no TensorRT) is listed as skipped with the reason —
never silently replaced.

JSON (`schema_version` 1): {schema_version, reference: path, min_iou, min_iou_int8, frames: [names], backends: [{label, model,
status: reference|pass|FAIL|error|skipped, reason, input_hw: [H, W], frames, iou_mean, iou_min, worst_frame,
instances_agree (fraction of frames with equal instance counts), instances_mean, max_diff: {boxes_px, scores,
coeffs, protos}}]}. Raw output differences are over all anchors (before NMS), so INT8 shows large box deltas on
anchors that NMS discards; the sky-mask IoU is the verdict.
"""
from __future__ import annotations

import importlib.util
import logging
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.errors import InputError, SkysegError, VerificationError
from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.runtime.process.preprocess import preprocess

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_IMGSZ = (640, 640)


@dataclass(frozen=True)
class VerifyConfig:
    """One `skyseg verify` run."""

    models: tuple[str, ...]
    images: str
    reference: str | None = None
    min_iou: float = 0.99
    min_iou_int8: float = 0.98  # INT8 models and engines: the INT8 accuracy target, not exactness
    max_frames: int = 20
    conf: float = 0.25
    iou: float = 0.7
    threads: int | None = None
    imgsz: tuple[int, int] | None = None  # for .pt references when no static-shape model fixes the size


@dataclass
class BackendResult:
    """One backend's agreement with the reference."""

    label: str
    model: str
    status: str  # reference | pass | FAIL | error | skipped
    reason: str = ""
    input_hw: list[int] | None = None
    frames: int = 0
    iou_mean: float | None = None
    iou_min: float | None = None
    worst_frame: str | None = None
    instances_agree: float | None = None  # fraction of frames with the same instance count
    instances_mean: float | None = None
    max_diff: dict[str, float] = field(default_factory=dict)  # boxes_px, scores, coeffs, protos


@dataclass
class VerifyReport:
    """All backends compared on the same frames."""

    reference: str
    min_iou: float
    frames: list[str]
    backends: list[BackendResult]
    min_iou_int8: float | None = None

    @property
    def failed(self) -> list[BackendResult]:
        return [b for b in self.backends if b.status in ("FAIL", "error")]

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "reference": self.reference, "min_iou": self.min_iou,
                "min_iou_int8": self.min_iou_int8, "frames": self.frames, "backends": [asdict(b) for b in self.backends]}

    def markdown(self) -> str:
        def num(v: float | None, fmt: str) -> str:
            return "—" if v is None else format(v, fmt)

        lines = [f"### skyseg verify: {len(self.frames)} frame(s), reference {Path(self.reference).name}, "
                 f"pass when mean sky-mask IoU ≥ {self.min_iou}"
                 + (f" (INT8: ≥ {self.min_iou_int8})" if self.min_iou_int8 is not None else ""), "",
                 "| backend | model | status | input | sky IoU mean | sky IoU min | instances agree | "
                 "max Δ boxes px | max Δ scores | max Δ coeffs | max Δ protos |",
                 "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for b in self.backends:
            hw = "×".join(map(str, b.input_hw)) if b.input_hw else "—"
            d = b.max_diff
            lines.append(
                f"| {b.label} | {Path(b.model).name} | {b.status} | {hw} | {num(b.iou_mean, '.4f')} | "
                f"{num(b.iou_min, '.4f')} | {num(b.instances_agree, '.0%')} | {num(d.get('boxes_px'), '.3g')} | "
                f"{num(d.get('scores'), '.3g')} | {num(d.get('coeffs'), '.3g')} | {num(d.get('protos'), '.3g')} |")
        for b in self.backends:
            if b.reason:
                lines.append(f"- {b.label}: {b.reason}")
        return "\n".join(lines) + "\n"

    def raise_for_failures(self) -> None:
        if self.failed:
            names = ", ".join(f"{b.label} ({Path(b.model).name}: {b.reason or 'below threshold'})" for b in self.failed)
            raise VerificationError(f"{len(self.failed)} backend(s) disagree with the reference "
                                    f"{Path(self.reference).name}: {names}.")


def onnx_precision(model_path: str) -> str:
    """'fp32' for a float model; 'int8-qdq' for TensorRT's Q/DQ form (int8 activation codes); 'int8-cpu' for
    ONNX Runtime's CPU form of it (uint8 activation codes, `skyseg.calib.ort_cpu`)."""
    import onnx

    try:
        graph = onnx.load(model_path, load_external_data=False).graph
    except Exception as err:  # onnx raises DecodeError/RuntimeError variants for non-ONNX bytes
        raise InputError(f"{model_path} is not a readable ONNX model ({type(err).__name__}: {err})") from None
    quantize = [node for node in graph.node if node.op_type == "QuantizeLinear"]
    if not quantize:
        return "fp32"
    zero_points = {init.name: init.data_type for init in graph.initializer}
    uint8 = any(len(q.input) > 2 and zero_points.get(q.input[2]) == onnx.TensorProto.UINT8 for q in quantize)
    return "int8-cpu" if uint8 else "int8-qdq"


def is_int8(model_path: str, label: str) -> bool:
    """Whether a model runs INT8: a Q/DQ ONNX (either form), or an engine whose sidecar says int8/best."""
    if label.startswith("ort-int8"):
        return True
    if label == "trt":
        from skyseg.runtime.backends.engine_file import read_sidecar

        sidecar = read_sidecar(model_path) or {}
        return str(sidecar.get("precision", "")).lower() in ("int8", "best")
    return False


def backend_label(model_path: str) -> tuple[str, str]:
    """(label, backend kind) for a model file: torch-deploy, ort-fp32, ort-int8-qdq, ort-int8-cpu, trt."""
    suffix = Path(model_path).suffix.lower()
    if suffix == ".pt":
        return "torch-deploy", "torch"
    if suffix == ".onnx":
        return f"ort-{onnx_precision(model_path)}", "ort"
    if suffix in (".engine", ".plan"):
        return "trt", "trt"
    raise InputError(f"cannot verify {model_path}: expected .pt, .onnx, .engine or .plan")


def _skip_reason(kind: str) -> str | None:
    if kind == "trt" and importlib.util.find_spec("tensorrt") is None:
        return ("skipped: the tensorrt Python package is not installed here (JetPack's python3-libnvinfer on a "
                "Jetson, NVIDIA's tensorrt wheels on a desktop GPU)")
    return None


def _open(kind: str, model: str, threads: int | None) -> AbstractContextManager:
    if kind == "torch":
        from skyseg.export.torch_backend import open_torch_backend

        return open_torch_backend(model, threads=threads)
    from skyseg.runtime.backends.base import open_backend

    return open_backend(model, backend=kind, threads=threads)


def read_frames(folder: str, limit: int) -> list[tuple[str, np.ndarray]]:
    """Up to `limit` frames from a folder via the runtime's sources (FITS, 8/16-bit images); errors are skipped."""
    from skyseg.runtime.frame import FrameError
    from skyseg.runtime.sources.uri import open_source

    if not Path(folder).is_dir():
        raise InputError(f"--images {folder} is not a folder; pass a folder of FITS/PNG/JPEG/TIFF frames")
    frames: list[tuple[str, np.ndarray]] = []
    failed: list[str] = []
    with open_source(str(folder)) as source:
        for item in source:
            if isinstance(item, FrameError):
                failed.append(f"{Path(item.path or str(item.index)).name}: {item.message}")
                continue
            frames.append((Path(item.path).name if item.path else f"frame{item.index}", item.pixels))
            if len(frames) >= limit:
                break
    if not frames:
        raise InputError(f"no readable frames in {folder} ({len(failed)} failed: {'; '.join(failed[:3])})")
    for msg in failed:
        log.warning("skipped unreadable frame %s", msg)
    return frames


def _input_hw(backend: Any, fallback: tuple[int, int]) -> tuple[int, int]:
    shape = tuple(backend.inputs[0].shape)
    h, w = shape[2], shape[3]
    if isinstance(h, (int, np.integer)) and isinstance(w, (int, np.integer)) and h > 0 and w > 0:
        return int(h), int(w)
    return fallback


@dataclass
class _Outputs:
    output0: np.ndarray
    output1: np.ndarray
    mask: np.ndarray
    count: int


def _run_backend(backend: Any, frames: list[tuple[str, np.ndarray]], hw: tuple[int, int],
                 config: VerifyConfig) -> list[_Outputs]:
    from skyseg.runtime.process.postprocess import postprocess

    outs = []
    for _, pixels in frames:
        tensor, info = preprocess(pixels, hw)
        raw = backend.infer(tensor)
        res = postprocess(raw["output0"], raw["output1"], info, conf=config.conf, iou=config.iou)
        outs.append(_Outputs(raw["output0"], raw["output1"], res.sky_mask, len(res)))
    return outs


def _static_hw(models: list[str], config: VerifyConfig) -> tuple[int, int]:
    """The size a dynamic (torch) reference runs at: --imgsz, else the first static ONNX model's, else 640."""
    if config.imgsz is not None:
        return config.imgsz
    for model in models:
        if Path(model).suffix.lower() == ".onnx":
            import onnx

            dims = onnx.load(model, load_external_data=False).graph.input[0].type.tensor_type.shape.dim
            if len(dims) == 4 and dims[2].dim_value > 0 and dims[3].dim_value > 0:
                return dims[2].dim_value, dims[3].dim_value
    return DEFAULT_IMGSZ


def _compare(result: BackendResult, outs: list[_Outputs], ref: list[_Outputs], names: list[str]) -> None:
    ious = [mask_iou(o.mask, r.mask) for o, r in zip(outs, ref)]
    worst = int(np.argmin(ious))
    result.iou_mean, result.iou_min, result.worst_frame = float(np.mean(ious)), float(ious[worst]), names[worst]
    result.instances_agree = float(np.mean([o.count == r.count for o, r in zip(outs, ref)]))
    result.instances_mean = float(np.mean([o.count for o in outs]))
    if all(o.output0.shape == r.output0.shape and o.output1.shape == r.output1.shape for o, r in zip(outs, ref)):
        nc = ref[0].output0.shape[1] - 4 - ref[0].output1.shape[1]
        parts = {"boxes_px": slice(0, 4), "scores": slice(4, 4 + nc), "coeffs": slice(4 + nc, None)}
        for key, rows in parts.items():
            result.max_diff[key] = float(max(np.abs(o.output0[:, rows] - r.output0[:, rows]).max()
                                             for o, r in zip(outs, ref)))
        result.max_diff["protos"] = float(max(np.abs(o.output1 - r.output1).max() for o, r in zip(outs, ref)))
    else:
        result.reason = "input size differs from the reference: masks compared, raw outputs not"


def cross_verify(config: VerifyConfig) -> VerifyReport:
    """Run every model on the same frames and compare each with the reference. Raises nothing on disagreement:
    call `report.raise_for_failures()` (the CLI does, after printing the table)."""
    if not config.models:
        raise InputError("verify needs at least one model file")
    for model in (*config.models, *([config.reference] if config.reference else [])):
        if not Path(model).is_file():
            raise InputError(f"model {model} does not exist")
    frames = read_frames(config.images, config.max_frames)
    names = [name for name, _ in frames]
    ordered = ([config.reference] if config.reference else []) + [m for m in config.models if m != config.reference]
    fallback_hw = _static_hw(ordered, config)
    log.info("verifying %d model(s) on %d frame(s) from %s", len(ordered), len(frames), config.images)
    results: list[BackendResult] = []
    ref_outs: list[_Outputs] | None = None
    for i, model in enumerate(ordered):
        label, kind = backend_label(model)
        result = BackendResult(label=label, model=model, status="pending")
        results.append(result)
        reason = _skip_reason(kind)
        if reason is not None:
            if i == 0:
                raise InputError(f"the reference {model} cannot run here: {reason}")
            result.status, result.reason = "skipped", reason
            log.warning("%s %s: %s", label, model, reason)
            continue
        try:
            with _open(kind, model, config.threads) as backend:
                hw = _input_hw(backend, fallback_hw)
                result.input_hw = list(hw)
                outs = _run_backend(backend, frames, hw, config)
        except SkysegError as err:
            if i == 0:
                raise
            result.status, result.reason = "error", str(err)
            log.error("%s %s failed: %s", label, model, err)
            continue
        result.frames = len(outs)
        if ref_outs is None:
            ref_outs = outs
            result.status = "reference"
            result.iou_mean = result.iou_min = 1.0
            result.instances_agree = 1.0
            result.instances_mean = float(np.mean([o.count for o in outs]))
            continue
        _compare(result, outs, ref_outs, names)
        threshold = config.min_iou_int8 if is_int8(model, label) else config.min_iou
        ok = result.iou_mean is not None and result.iou_mean >= threshold
        result.status = "pass" if ok else "FAIL"
        if not ok:
            result.reason = (f"mean sky-mask IoU {result.iou_mean:.4f} < {threshold} (worst frame "
                             f"{result.worst_frame}: {result.iou_min:.4f})")
        log.info("%s: sky IoU mean %.4f min %.4f → %s", label, result.iou_mean, result.iou_min, result.status)
    return VerifyReport(reference=ordered[0], min_iou=config.min_iou, frames=names, backends=results,
                        min_iou_int8=config.min_iou_int8)
