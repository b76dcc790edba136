"""The TensorRT side of `skyseg build` and `skyseg inspect`: everything here imports `tensorrt` lazily.

Flag decisions live in `skyseg.export.trt.build` (pure, tested anywhere); this module turns a `BuildPlan` into TensorRT API
calls, writes the engine + sidecar through `skyseg.runtime.backends.engine_file`, and reads engines back for inspection.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from skyseg.runtime.file_digest import file_sha256
from skyseg.export.onnx_info import read_onnx_info
from skyseg.export.trt.build import (
    BuildConfig,
    BuildPlan,
    calib_cache_path,
    lint_target,
    parse_trt_version,
    plan_build,
    sidecar_document,
    trtexec_command,
)
from skyseg.export.trt.lint import lint_onnx
from skyseg.runtime.atomic_file import write_bytes_atomic
from skyseg.runtime.backends.engine_file import write_engine_file
from skyseg.runtime.errors import InputError, MissingDependencyError, SkysegError

log = logging.getLogger(__name__)

INSTALL_TENSORRT = (
    "TensorRT's Python bindings are not installed: on a Jetson install JetPack's python3-libnvinfer "
    "(`sudo apt install python3-libnvinfer`), on a desktop or server install NVIDIA's TensorRT wheels "
    "(`pip install tensorrt`), then rerun the command."
)


def import_tensorrt() -> Any:
    """`import tensorrt`, or MissingDependencyError (exit 2) with the one sentence saying what to install."""
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependencyError(INSTALL_TENSORRT) from None
    return trt


def gpu_identity() -> tuple[str, str]:
    """(GPU name, compute capability 'major.minor') of device 0, best effort; ('unknown', 'unknown') if no probe works."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            cudart = None
    if cudart is not None:
        err, prop = cudart.cudaGetDeviceProperties(0)
        if int(err) == 0:
            name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
            return name.strip("\x00 "), f"{prop.major}.{prop.minor}"
    try:
        import torch  # the export side may have it

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return torch.cuda.get_device_name(0), f"{major}.{minor}"
    except ImportError:
        pass
    return "unknown", "unknown"


@dataclass
class BuildResult:
    """What `build_engine` wrote."""

    path: Path
    plan: BuildPlan
    seconds: float
    size_bytes: int
    trtexec: str
    sidecar: dict[str, Any]


def _calibration_batches(cfg: BuildConfig, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Preprocessed [B, 3, H, W] batches from --calib DIR, via the runtime's preprocessing."""
    from skyseg.export.verify_frames import folder_frames
    from skyseg.runtime.process.preprocess import preprocess

    batch, _, h, w = shape
    frames = folder_frames(cfg.calib_dir, limit=batch * cfg.calib_batches) if cfg.calib_dir else []
    for i in range(0, len(frames) - batch + 1, batch):
        yield np.concatenate([preprocess(f.pixels, (h, w))[0] for f in frames[i : i + batch]], axis=0)


def build_engine(cfg: BuildConfig) -> BuildResult:
    """Build and write the engine (+ sidecar, + timing cache) for `cfg`."""
    trt = import_tensorrt()  # first: without TensorRT nothing else matters
    info = read_onnx_info(cfg.onnx)
    plan = plan_build(cfg, parse_trt_version(trt.__version__), info)
    log.info("equivalent trtexec command: %s", trtexec_command(cfg, plan))
    lint = lint_onnx(cfg.onnx, targets=(lint_target(plan.trt_version),), expect_static=plan.profile is None)
    for finding in lint.findings:  # the parser has the last word; the lint explains what it may reject
        log.log(logging.WARNING if finding.severity != "info" else logging.INFO, "lint %s %s: %s",
                finding.severity, finding.code, finding.message)
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    net_flags = 0
    if plan.strongly_typed and plan.trt_version[0] < 11:  # 11 is strongly typed by default (the flag is deprecated)
        net_flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif plan.trt_version[0] < 10:
        net_flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(net_flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(cfg.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SkysegError(f"TensorRT {trt.__version__} could not parse {cfg.onnx}: {errors or 'no details'}; "
                          "run `skyseg inspect` on it and check the TensorRT lint.")
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # lets `skyseg inspect` list layer precisions
    if cfg.workspace_gib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_gib * (1 << 30)))
    if cfg.opt_level is not None:  # plan_build refused it below TensorRT 8.6, where the attribute does not exist
        config.builder_optimization_level = cfg.opt_level
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if cfg.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = cfg.dla_core
    profile = None
    if plan.profile is not None:
        profile = builder.create_optimization_profile()
        profile.set_shape("images", *plan.profile)
        config.add_optimization_profile(profile)
    cache = attach_timing_cache(config, cfg.timing_cache) if cfg.timing_cache is not None else None
    if plan.calibrator:
        from skyseg.calib.legacy_calibrator import make_calibrator

        shape = plan.profile[1] if plan.profile else tuple(int(d) for d in info.inputs[0].shape)
        batches = list(_calibration_batches(cfg, shape))
        cached = cfg.calib_cache is not None and cfg.calib_cache.is_file()
        if not batches and not cached:
            raise InputError(f"legacy INT8 calibration found no frames in --calib {cfg.calib_dir} and no cache at "
                             f"--calib-cache {cfg.calib_cache}; pass a folder of representative night frames.")
        scales = calib_cache_path(cfg)
        if cfg.calib_cache is None:  # our own file beside the engine: calibrate afresh, never reuse an old run's
            scales.unlink(missing_ok=True)
        # one device buffer must hold the whole input tensor TensorRT calibrates with (the profile's opt shape)
        config.int8_calibrator = make_calibrator(batches, scales, method=cfg.calib_method, batch_size=int(shape[0]))
        if profile is not None:
            config.set_calibration_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise SkysegError(f"TensorRT {trt.__version__} failed to build an engine from {cfg.onnx} (see the TensorRT "
                          "log above); try --workspace with more GiB or another --precision.")
    seconds = time.perf_counter() - start
    final_cache = config.get_timing_cache() if cache is not None else None
    if final_cache is not None:
        write_bytes_atomic(cfg.timing_cache, bytes(final_cache.serialize()))
    gpu, cc = gpu_identity()
    metadata = dict(info.metadata)
    metadata["skyseg_precision"] = plan.engine_precision
    sidecar = sidecar_document(metadata, plan, cfg, trt_version=trt.__version__, gpu_name=gpu, compute_capability=cc,
                               build_seconds=seconds, onnx_sha256=file_sha256(cfg.onnx))
    path = write_engine_file(cfg.output, bytes(serialized), metadata, cfg.ultralytics_header, sidecar=sidecar)
    return BuildResult(path, plan, seconds, path.stat().st_size, sidecar["trtexec"], sidecar)


def attach_timing_cache(config: Any, path: Path) -> Any:
    """Load `path` (or start empty) into the builder config; the cache object, or None when TensorRT gives none.

    `IBuilderConfig.create_timing_cache` returns None on failure (NVIDIA's samples treat that as an error) and
    `set_timing_cache` returns False for a cache another TensorRT version or GPU wrote; either way the build goes on
    with a fresh cache, or, failing that, without one (logged; nothing is written back).
    """
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return cache
    if blob:
        log.warning("timing cache %s does not fit this TensorRT/GPU; starting a fresh one", path)
        cache = config.create_timing_cache(b"")
        if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
            return cache
    log.warning("TensorRT could not create a timing cache; building without one (%s is left as it is)", path)
    return None


def engine_layers(plan_bytes: bytes) -> dict[str, Any]:
    """Deserialize a plan and return I/O and per-layer information from TensorRT's engine inspector."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.ERROR)
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan_bytes)
    if engine is None:
        raise SkysegError(f"TensorRT {trt.__version__} could not deserialize this engine: it was built with another "
                          "TensorRT version or for another GPU; rebuild it on this machine with `skyseg build`.")
    io = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        io.append({"name": name, "mode": str(engine.get_tensor_mode(name)).split(".")[-1],
                   "dtype": str(engine.get_tensor_dtype(name)).split(".")[-1],
                   "shape": list(engine.get_tensor_shape(name))})
    inspector = engine.create_engine_inspector()
    raw = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    try:
        layers = json.loads(raw).get("Layers", [])
    except json.JSONDecodeError:
        layers = []
    return {"io": io, "layers": layers, "tensorrt_version": trt.__version__}
