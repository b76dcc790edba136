"""`skyseg export`: weights → reparameterized deploy model → ONNX → simplified → metadata → verified → renamed.

We call `torch.onnx.export` ourselves (the TorchScript exporter, as Ultralytics does) instead of Ultralytics'
Exporter, because the exported module must be the very module verification compares against, the opset must
default to what JetPack 5's TensorRT 8.6 parses (17), and nothing may be written next to the weights. The file
appears at its destination only after verification passed (temp file in the same folder + rename).

Simplifier: onnxslim. It is what Ultralytics itself runs for `simplify=True`, is pure Python (no native build, so it
installs on Jetson/aarch64 and in CI alike), and folds the shape arithmetic of the Segment head's decode into
constants; onnxsim needs a compiled wheel per platform and brings nothing more for this graph.
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from skyseg.export.fp16 import to_fp16
from skyseg.export.metadata import build_metadata, set_onnx_metadata
from skyseg.runtime.file_digest import file_sha256
from skyseg.export.verify import FP16_TOLERANCES, FP32_TOLERANCES, VerificationReport, verify_onnx
from skyseg.runtime.atomic_file import temp_beside
from skyseg.runtime.errors import InputError, ModelContractError, VerificationError
from skyseg.runtime.train_size import size_mismatch

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17  # the newest opset TensorRT 8.6 (JetPack 5) parses; 10.x and 11.x accept it too
MIN_OPSET = 11
DYNAMIC_MODES = (False, True, "auto", "batch", "full")


@dataclass(frozen=True)
class ExportConfig:
    """Everything `skyseg export` needs; the CLI builds one from its flags."""

    weights: Path
    output: Path
    imgsz: tuple[int, int] = (640, 640)  # (height, width)
    batch: int = 1
    dynamic: bool | str = False  # False, True (= "auto"), "batch" or "full"; see resolve_dynamic
    opset: int = DEFAULT_OPSET
    half: bool = False
    simplify: bool = True
    verify: bool = True
    verify_images: Path | None = None
    synth_frames: int = 4
    lint_targets: tuple[str, ...] = ("8.6", "10", "11")


@dataclass
class ExportResult:
    """What the export produced and how long it took."""

    path: Path
    seconds: float
    size_bytes: int
    metadata: dict[str, Any]
    verification: VerificationReport | None = None
    io: dict[str, list[Any]] = field(default_factory=dict)


class ExportVerificationError(VerificationError):
    """Verification failed; carries the report so the CLI can print the table before the one-line error."""

    def __init__(self, message: str, report: VerificationReport) -> None:
        super().__init__(message)
        self.report = report


def _check_config(cfg: ExportConfig) -> None:
    h, w = cfg.imgsz
    if h <= 0 or w <= 0:
        raise InputError(f"--imgsz must be positive, got {h}x{w}.")
    if cfg.batch < 1:
        raise InputError(f"--batch must be at least 1, got {cfg.batch}.")
    if cfg.dynamic not in DYNAMIC_MODES:
        raise InputError(f"--dynamic takes {', '.join(m for m in DYNAMIC_MODES if isinstance(m, str))}, got {cfg.dynamic!r}.")
    if cfg.dynamic and cfg.batch != 1:
        raise InputError("--dynamic and --batch N are exclusive: a dynamic model takes any batch at run time.")
    if not MIN_OPSET <= cfg.opset <= onnx.defs.onnx_opset_version():
        raise InputError(f"--opset {cfg.opset} is outside {MIN_OPSET}-{onnx.defs.onnx_opset_version()} (the installed "
                         "onnx's range); use 17 for TensorRT 8.6.")
    if cfg.output.suffix != ".onnx":
        raise InputError(f"-o {cfg.output} must end in .onnx.")
    if cfg.verify_images is not None and not Path(cfg.verify_images).is_dir():
        raise InputError(f"--verify-images {cfg.verify_images} is not a folder.")


def static_spatial_blocks(net: Any) -> list[str]:
    """Names of the modules that fix the input's height and width at export: SS2D's selective scan is unrolled
    over the H·W tokens when traced (the chunk loops are Python loops, by design: no ONNX Loop/Scan)."""
    from skyseg.models.ss2d import SS2D

    return [name for name, m in net.named_modules() if isinstance(m, SS2D)]


def resolve_dynamic(requested: bool | str, static_blocks: list[str]) -> str:
    """'none', 'batch' or 'full': `--dynamic` (auto) is full unless the graph has SS2D, then batch only."""
    if not requested:
        return "none"
    if requested == "full" and static_blocks:
        raise InputError(
            f"--dynamic full is impossible for this model: its SS2D block(s) ({', '.join(static_blocks[:3])}) unroll "
            "the selective scan over the H·W tokens at export, so height and width are fixed; use --dynamic batch "
            "and export one model per input size.")
    if requested in (True, "auto"):
        if static_blocks:
            log.info("dynamic batch only: SS2D fixes height and width at export (the scan is unrolled over H·W)")
            return "batch"
        return "full"
    return str(requested)


def _dynamic_axes(mode: str) -> dict[str, dict[int, str]] | None:
    if mode == "none":
        return None
    if mode == "batch":
        return {"images": {0: "batch"}, "output0": {0: "batch"}, "output1": {0: "batch"}}
    return {
        "images": {0: "batch", 2: "height", 3: "width"},
        "output0": {0: "batch", 2: "anchors"},
        "output1": {0: "batch", 2: "mask_height", 3: "mask_width"},
    }


def _io_shapes(model: onnx.ModelProto) -> dict[str, list[Any]]:
    def dims(vi: onnx.ValueInfoProto) -> list[Any]:
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]

    inits = {i.name for i in model.graph.initializer}
    return {vi.name: dims(vi) for vi in [*model.graph.input, *model.graph.output] if vi.name not in inits}


def _check_contract(io: dict[str, list[Any]], batch: int | str, imgsz: tuple[int, int], mode: str) -> None:
    """The exported graph must be `images` → `output0`, `output1` with the contract's shapes."""
    if set(io) != {"images", "output0", "output1"}:
        raise ModelContractError(f"exported graph has I/O {sorted(io)}, expected images, output0, output1.")
    if mode == "batch":
        batch = "batch"
    if mode != "full":
        h, w = imgsz
        want = {"images": [batch, 3, h, w], "output1": [batch, 32, h // 4, w // 4]}
        for name, shape in want.items():
            if io[name] != shape:
                raise ModelContractError(f"exported {name} has shape {io[name]}, expected {shape}.")
        if io["output0"][0] != batch or io["output0"][1] < 4 + 1 + 32:
            raise ModelContractError(f"exported output0 has shape {io['output0']}, expected [{batch}, 4+nc+32, A].")


def _pin_dims(model: onnx.ModelProto, dims: dict[str, dict[int, int]]) -> None:
    """Set known static sizes on graph outputs whose dims the exporter left symbolic."""
    for vi in model.graph.output:
        for axis, size in dims.get(vi.name, {}).items():
            dim = vi.type.tensor_type.shape.dim[axis]
            if not dim.HasField("dim_value"):
                dim.dim_value = size


def _source_hash(weights: Path) -> str:
    """SHA-256 of the weights file; an untrained packaged config (no file) is recorded by name instead."""
    return file_sha256(weights) if Path(weights).is_file() else f"untrained-config:{Path(weights).name}"


def _torch_export(net: Any, cfg: ExportConfig, mode: str, target: Path) -> None:
    import torch

    dummy = torch.zeros(cfg.batch, 3, *cfg.imgsz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape arithmetic are expected and noisy
        torch.onnx.export(
            net,
            dummy,
            str(target),
            opset_version=cfg.opset,
            input_names=["images"],
            output_names=["output0", "output1"],
            dynamic_axes=_dynamic_axes(mode),
            do_constant_folding=True,
            dynamo=False,
        )


def export_onnx(cfg: ExportConfig) -> ExportResult:
    """Export, simplify, tag and verify; the file appears at `cfg.output` only if everything passed."""
    from skyseg.export.deploy_model import load_deploy_model, set_head_dynamic  # torch/Ultralytics
    from skyseg.export.verify_frames import folder_frames, synthetic_frames

    _check_config(cfg)
    start = time.perf_counter()
    deploy = load_deploy_model(cfg.weights)
    mode = resolve_dynamic(cfg.dynamic, static_spatial_blocks(deploy.module))
    set_head_dynamic(deploy.module, mode == "full")
    h, w = cfg.imgsz
    if h % deploy.stride or w % deploy.stride:
        raise InputError(f"--imgsz {h}x{w} must be a multiple of the model stride {deploy.stride}.")
    mismatch = size_mismatch(Path(cfg.weights).name, (h, w), deploy.train_imgsz)
    if mismatch:
        log.warning(mismatch)
    out = Path(cfg.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(out.with_name(out.stem), suffix=".tmp.onnx")
    os.close(fd)
    try:
        log.info("exporting %s at %dx%d (batch %s, opset %d)", cfg.weights, h, w, f"dynamic ({mode})" if mode != "none" else cfg.batch, cfg.opset)
        _torch_export(deploy.module, cfg, mode, tmp)
        model = onnx.load(str(tmp))
        if cfg.simplify:
            import onnxslim

            model = onnxslim.slim(model)
        if mode != "none":  # tracing leaves output0's channel count symbolic; it is fixed by the head
            _pin_dims(model, {"output0": {1: 4 + len(deploy.names) + 32}, "output1": {1: 32}})
        if cfg.half:
            model = to_fp16(model)
        metadata = build_metadata(
            names=deploy.names, stride=deploy.stride, imgsz=cfg.imgsz, batch=cfg.batch, dynamic=mode,
            half=cfg.half, opset=cfg.opset, simplify=cfg.simplify, source_sha256=_source_hash(cfg.weights),
            source_name=Path(cfg.weights).name, precision="fp16" if cfg.half else "fp32", channels=deploy.channels,
            train_imgsz=deploy.train_imgsz,
        )
        set_onnx_metadata(model, metadata)
        io = _io_shapes(model)
        _check_contract(io, cfg.batch, cfg.imgsz, mode)
        onnx.save(model, str(tmp))
        report = None
        if cfg.verify:
            frames = synthetic_frames(cfg.synth_frames)
            if cfg.verify_images is not None:
                frames += folder_frames(cfg.verify_images)
            report = verify_onnx(
                tmp, deploy.module, frames, cfg.imgsz, batch=cfg.batch, dynamic=mode,
                tolerances=FP16_TOLERANCES if cfg.half else FP32_TOLERANCES, lint_targets=cfg.lint_targets,
            )
            if not report.ok:
                raise ExportVerificationError(
                    f"export verification failed ({len(report.failures)} problem(s), first: {report.failures[0]}); "
                    f"nothing was written to {out}.", report)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    return ExportResult(out, seconds, out.stat().st_size, metadata, report, io)
