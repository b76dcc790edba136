"""`skyseg build` planning: which network flags and builder flags a precision needs on a given TensorRT version.

Pure functions only (no TensorRT import), so the decisions are tested on any machine:

* TensorRT 11: strongly typed only; there are no FP16/INT8 builder flags and no calibrator. FP16 comes from an
  FP16 ONNX (`skyseg export --half`), INT8 from a Q/DQ ONNX (`skyseg quantize`).
* TensorRT 10.x: INT8 from a Q/DQ ONNX is built as a strongly typed network; FP16 uses the FP16 builder flag;
  an FP32 ONNX with `--calib DIR` takes the legacy implicit-INT8 path (calibrator, deprecated since 10.1).
* TensorRT 8.5/8.6: no strongly typed networks; Q/DQ ONNX builds with the INT8 flag (explicit quantization), FP16
  with its flag, implicit INT8 with a calibrator. `builder_optimization_level` exists from 8.6 on.
* Below 8.5 nothing is built: the runtime's name-based execution API (`num_io_tensors`, `set_input_shape`,
  `execute_async_v3`) needs 8.5 (JetPack 5.1), and an engine the runtime cannot run is no use.
Never a silent downgrade: a precision the ONNX/TensorRT pair cannot give is an error naming what to do.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyseg.export.onnx_info import OnnxInfo
from skyseg.runtime.errors import InputError

PRECISIONS = ("fp32", "fp16", "int8", "best")
MIN_TRT = (8, 5)  # the name-based execution API the runtime uses
MIN_TRT_OPT_LEVEL = (8, 6)  # IBuilderConfig.builder_optimization_level
DLA_TRT_11 = (11, 4, 1)  # first TensorRT 11 with DLA on Linux (Jetson AGX Orin, JetPack 7.2.2+); 11.4.0 has none
CALIB_METHODS = ("entropy", "minmax")


@dataclass(frozen=True)
class BuildConfig:
    """Everything `skyseg build` needs; the CLI builds one from its flags."""

    onnx: Path
    output: Path
    precision: str = "fp16"
    workspace_gib: float | None = None
    timing_cache: Path | None = None
    dla_core: int | None = None
    gpu_fallback: bool = False
    opt_level: int | None = None
    min_batch: int | None = None
    opt_batch: int | None = None
    max_batch: int | None = None
    ultralytics_header: bool = False
    calib_dir: Path | None = None
    calib_cache: Path | None = None
    calib_method: str = "entropy"
    calib_batches: int = 16


@dataclass(frozen=True)
class BuildPlan:
    """The decisions for one build."""

    trt_version: tuple[int, ...]  # (major, minor, patch) as parse_trt_version gives it
    strongly_typed: bool
    builder_flags: tuple[str, ...]  # names in trt.BuilderFlag: "FP16", "INT8", "GPU_FALLBACK"
    calibrator: bool  # legacy implicit INT8
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None  # (min, opt, max) of `images`
    engine_precision: str  # what the sidecar records: fp32/fp16/int8/int8+fp16
    notes: tuple[str, ...] = field(default_factory=tuple)


def parse_trt_version(version: str) -> tuple[int, int, int]:
    """'10.3.0.30' → (10, 3, 0); '11.4' → (11, 4, 0). The patch level matters: 11.4.1 has DLA, 11.4.0 has not."""
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not match:
        raise ValueError(f"cannot parse TensorRT version {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _full(version: tuple[int, ...]) -> tuple[int, int, int]:
    """(major, minor) or (major, minor, patch) → (major, minor, patch); a missing patch counts as 0."""
    padded = tuple(version) + (0, 0, 0)
    return int(padded[0]), int(padded[1]), int(padded[2])


def lint_target(version: tuple[int, ...]) -> str:
    """The `skyseg.export.trt.ops.TARGETS` key whose parser table fits a TensorRT version."""
    major, minor, _ = _full(version)
    if major < 9:
        return "8.5" if (major, minor) < (8, 6) else "8.6"
    if major < 10 or (major == 10 and minor <= 3):
        return "10.3"
    return "10" if major == 10 else "11"


def calib_cache_path(cfg: BuildConfig) -> Path:
    """Where legacy INT8 scales are cached: --calib-cache, else `MODEL.engine.calib` beside the engine, so that the
    equivalent trtexec command can name it (`--calib=`; trtexec does not calibrate from images)."""
    if cfg.calib_cache is not None:
        return Path(cfg.calib_cache)
    out = Path(cfg.output)
    return out.with_name(out.name + ".calib")


def profile_shapes(
    shape: tuple[int | str, ...], imgsz: tuple[int, int], min_batch: int | None, opt_batch: int | None,
    max_batch: int | None,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None:
    """Optimization-profile shapes for `images` [B, 3, H, W]; None for a fully static input."""
    if len(shape) != 4:
        raise InputError(f"input 'images' has rank {len(shape)}, expected 4 ([B, 3, H, W]).")
    dynamic = [i for i, d in enumerate(shape) if not isinstance(d, int)]
    if not dynamic:
        if any(v is not None for v in (min_batch, opt_batch, max_batch)):
            raise InputError(f"--min/--opt/--max-batch need a dynamic-batch ONNX, but 'images' is static {list(shape)}; "
                             "re-export with `skyseg export --dynamic` or drop the batch flags.")
        return None
    lo = min_batch or 1
    opt = opt_batch or lo
    hi = max_batch or max(opt, lo)
    if not 1 <= lo <= opt <= hi:
        raise InputError(f"batch profile must satisfy 1 <= min <= opt <= max, got {lo}/{opt}/{hi}.")

    def at(batch: int) -> tuple[int, ...]:
        b = shape[0] if isinstance(shape[0], int) else batch
        c = shape[1] if isinstance(shape[1], int) else 3
        h = shape[2] if isinstance(shape[2], int) else imgsz[0]
        w = shape[3] if isinstance(shape[3], int) else imgsz[1]
        return (b, c, h, w)

    return at(lo), at(opt), at(hi)


def plan_build(cfg: BuildConfig, trt_version: tuple[int, int], info: OnnxInfo) -> BuildPlan:
    """Decide network/builder flags for `cfg.precision` on `trt_version` given the ONNX's own precision."""
    if cfg.precision not in PRECISIONS:
        raise InputError(f"--precision {cfg.precision!r} is not one of {', '.join(PRECISIONS)}.")
    if cfg.opt_level is not None and not 0 <= cfg.opt_level <= 5:
        raise InputError(f"--opt-level must be 0-5, got {cfg.opt_level}.")
    if cfg.calib_method not in CALIB_METHODS:
        raise InputError(f"--calib-method must be one of {CALIB_METHODS}, got {cfg.calib_method!r}.")
    major, minor, patch = _full(trt_version)
    if (major, minor) < MIN_TRT:
        raise InputError(f"TensorRT {major}.{minor} is too old: skyseg's engines run through the name-based execution "
                         "API of TensorRT 8.5+; on a Jetson upgrade to JetPack 5.1 or newer (TensorRT 8.5.2).")
    if cfg.opt_level is not None and (major, minor) < MIN_TRT_OPT_LEVEL:
        raise InputError(f"--opt-level needs TensorRT 8.6+ (builder_optimization_level); this is TensorRT "
                         f"{major}.{minor}: drop --opt-level.")
    qdq, fp16_onnx = info.qdq_nodes > 0, info.precision == "fp16"
    calib = cfg.calib_dir is not None or cfg.calib_cache is not None
    notes: list[str] = []
    flags: list[str] = []
    strongly_typed = use_calibrator = False
    images = next((t for t in info.inputs if t.name == "images"), None)
    if images is None:
        raise InputError(f"{info.path} has no input named 'images' (found {[t.name for t in info.inputs]}).")
    imgsz = tuple(info.metadata.get("imgsz", (640, 640)))
    profile = profile_shapes(images.shape, (int(imgsz[0]), int(imgsz[-1])), cfg.min_batch, cfg.opt_batch, cfg.max_batch)
    wants_int8 = cfg.precision in ("int8", "best")

    if calib and qdq:
        raise InputError("--calib/--calib-cache is for an FP32 ONNX (implicit INT8); this ONNX already has Q/DQ "
                         "nodes, which carry their own scales: drop the calibration flags.")
    if major >= 11:
        if calib:
            raise InputError(f"TensorRT {major} has no calibrators (implicit INT8 was removed); quantize the ONNX with "
                             "`skyseg quantize` and build the Q/DQ model.")
        if cfg.precision == "int8" and not qdq:
            raise InputError(f"TensorRT {major} builds INT8 only from a Q/DQ ONNX, and {info.path.name} has none; "
                             "run `skyseg quantize` first.")
        if cfg.precision == "fp16" and not fp16_onnx:
            raise InputError(f"TensorRT {major} has no FP16 builder flag, and {info.path.name} is {info.precision}; "
                             "export an FP16 ONNX with `skyseg export --half` and build that.")
        if cfg.precision == "best" and not (qdq or fp16_onnx):
            raise InputError(f"--precision best on TensorRT {major} (strongly typed) with an FP32 ONNX would build FP32; "
                             "build an FP16 (`skyseg export --half`) or Q/DQ (`skyseg quantize`) ONNX instead.")
        if cfg.precision == "fp32" and (qdq or fp16_onnx):
            raise InputError(f"--precision fp32 with a {info.precision} ONNX on TensorRT {major} (strongly typed): "
                             "build the FP32 ONNX instead.")
        strongly_typed = True
        notes.append(f"TensorRT {major} is strongly typed: layer precisions follow the ONNX ({info.precision})")
        engine_precision = {"int8-qdq": "int8", "fp16": "fp16"}.get(info.precision, "fp32")
    elif qdq:
        if cfg.precision in ("fp16", "fp32"):
            raise InputError(f"{info.path.name} is a Q/DQ (INT8) ONNX; build it with --precision int8 or best, or "
                             "build the FP32/FP16 ONNX for --precision " + cfg.precision + ".")
        if major >= 10 and cfg.precision == "int8":
            strongly_typed = True
            engine_precision = "int8"
        else:  # 8.6 explicit quantization, or "best" on 10.x: Q/DQ INT8 with FP16 for the rest
            flags += ["INT8"] + (["FP16"] if cfg.precision == "best" else [])
            engine_precision = "int8+fp16" if "FP16" in flags else "int8"
    else:
        if wants_int8 and not calib:
            raise InputError(f"--precision {cfg.precision} needs INT8 scales: quantize the ONNX with `skyseg quantize` "
                             "(recommended), or pass --calib DIR (and --calib-cache FILE) for TensorRT's legacy "
                             "calibrator.")
        if cfg.precision in ("fp16", "best") or fp16_onnx:
            flags.append("FP16")
        if wants_int8:
            flags.append("INT8")
            use_calibrator = True
            if major >= 10:
                notes.append("implicit INT8 with a calibrator is deprecated since TensorRT 10.1; prefer a Q/DQ ONNX")
        engine_precision = "+".join(p for p in ("int8", "fp16") if p.upper() in flags) or "fp32"
    if cfg.dla_core is not None:
        if major == 11 and (major, minor, patch) < DLA_TRT_11:  # NVIDIA, TensorRT 11.4.1 "Working with DLA"
            raise InputError(f"--dla-core: TensorRT {major}.{minor}.{patch} has no DLA support on Linux (DLA returned in "
                             "11.4.1 for Jetson AGX Orin on JetPack 7.2.2+); build with that, or with JetPack 6's "
                             "TensorRT 10.x.")
        if major >= 11:
            notes.append("DLA on TensorRT 11 needs 11.4.1+ on Jetson AGX Orin with JetPack 7.2.2+ (strongly typed; "
                         "11.4.0 had DLA only on Windows on ARM)")
        if engine_precision == "fp32":
            raise InputError("--dla-core needs --precision fp16, int8 or best: DLA has no FP32 mode.")
        if cfg.gpu_fallback:
            flags.append("GPU_FALLBACK")
        else:
            notes.append("DLA without --gpu-fallback: the build fails if any layer cannot run on DLA")
    elif cfg.gpu_fallback:
        raise InputError("--gpu-fallback only makes sense with --dla-core N.")
    return BuildPlan((major, minor, patch), strongly_typed, tuple(flags), use_calibrator, profile, engine_precision, tuple(notes))


def trtexec_command(cfg: BuildConfig, plan: BuildPlan) -> str:
    """The trtexec command line that builds the same engine (raw plan; trtexec never writes Ultralytics headers)."""
    args = ["trtexec", f"--onnx={cfg.onnx}", f"--saveEngine={cfg.output}"]
    if plan.strongly_typed:
        args.append("--stronglyTyped")
    if "FP16" in plan.builder_flags:
        args.append("--fp16")
    if "INT8" in plan.builder_flags:
        args.append("--int8")
    if plan.calibrator:  # trtexec reads scales only from a cache; skyseg build writes it there
        args.append(f"--calib={calib_cache_path(cfg)}")
    if cfg.workspace_gib is not None:
        args.append(f"--memPoolSize=workspace:{int(cfg.workspace_gib * 1024)}")  # MiB
    if cfg.timing_cache is not None:
        args.append(f"--timingCacheFile={cfg.timing_cache}")
    if cfg.opt_level is not None:
        args.append(f"--builderOptimizationLevel={cfg.opt_level}")
    if cfg.dla_core is not None:
        args.append(f"--useDLACore={cfg.dla_core}")
        if "GPU_FALLBACK" in plan.builder_flags:
            args.append("--allowGPUFallback")
    if plan.profile is not None:
        for flag, shape in zip(("minShapes", "optShapes", "maxShapes"), plan.profile):
            args.append(f"--{flag}=images:{'x'.join(str(d) for d in shape)}")
    return shlex.join(str(a) for a in args)


def sidecar_document(
    metadata: dict[str, Any], plan: BuildPlan, cfg: BuildConfig, *, trt_version: str, gpu_name: str,
    compute_capability: str, build_seconds: float, onnx_sha256: str,
) -> dict[str, Any]:
    """The `MODEL.engine.json` content: model metadata + everything that ties the plan to its build."""
    return {
        "metadata": metadata,
        "tensorrt_version": trt_version,
        "gpu_name": gpu_name,
        "compute_capability": compute_capability,
        "precision": plan.engine_precision,
        "strongly_typed": plan.strongly_typed,
        "build_flags": list(plan.builder_flags),
        "calibrator": f"legacy-{cfg.calib_method}" if plan.calibrator else None,
        "dla_core": cfg.dla_core,
        "workspace_gib": cfg.workspace_gib,
        "opt_level": cfg.opt_level,
        "profile": None if plan.profile is None else {k: list(v) for k, v in zip(("min", "opt", "max"), plan.profile)},
        "source_onnx": str(cfg.onnx),
        "source_onnx_sha256": onnx_sha256,
        "build_seconds": round(build_seconds, 2),
        "trtexec": trtexec_command(cfg, plan),
        "notes": list(plan.notes),
    }
