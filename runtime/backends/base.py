"""The inference-backend interface: one context-managed class per engine kind, and `open_backend`.

A backend acquires its session/engine on `__enter__`, releases it on `__exit__`, checks the model against the
skyseg model-file contract once (input `images` float32 [B,3,H,W]; `output0` [B,4+nc+32,A]; `output1`
[B,32,H/4,W/4]) and checks every `infer()` input against the declared I/O before running. Backends are chosen
by `open_backend`; an explicitly requested backend that is unavailable is an error, never a fallback.
"""
from __future__ import annotations

import ast
import importlib.util
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from skyseg.runtime.errors import InputError, MissingDependencyError, ModelContractError
from skyseg.runtime.train_size import size_mismatch

log = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAMES = ("output0", "output1")
NUM_MASKS = 32
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
Dim = Union[int, str, None]  # a static size, or a symbolic/unknown one


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as declared by the model file."""

    name: str
    dtype: np.dtype
    shape: tuple[Dim, ...]

    def static_dim(self, i: int) -> int | None:
        d = self.shape[i]
        return d if isinstance(d, int) and d > 0 else None

    def describe(self) -> str:
        dims = ", ".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in self.shape)
        return f"{self.name} {np.dtype(self.dtype).name} [{dims}]"


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime needs to know about a model: input size, classes, and the raw metadata."""

    imgsz: tuple[int, int]  # model input (height, width)
    names: dict[int, str]
    stride: int = 32
    task: str = "segment"
    batch: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def nc(self) -> int:
        return len(self.names)


def parse_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    """Ultralytics writes metadata values as Python literals (`"{0: 'sky'}"`); parse those, keep other text."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                out[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                out[key] = value
        else:
            out[key] = value
    return out


def _as_int(value: Any) -> int | None:
    """A positive int from metadata (parsed or text), else None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _as_hw(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def check_contract(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], metadata: dict[str, Any], model: str) -> ModelInfo:
    """Validate declared I/O against the skyseg contract and derive ModelInfo; ModelContractError otherwise."""
    found_in = "; ".join(s.describe() for s in inputs) or "none"
    found_out = "; ".join(s.describe() for s in outputs) or "none"
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        raise ModelContractError(f"{model}: expected one input named '{INPUT_NAME}' float32 [B, 3, H, W], found {found_in}")
    spec = inputs[0]
    if np.dtype(spec.dtype) != np.float32 or len(spec.shape) != 4 or spec.static_dim(1) not in (3, None):
        raise ModelContractError(f"{model}: expected input '{INPUT_NAME}' float32 [B, 3, H, W], found {found_in}")
    by_name = {s.name: s for s in outputs}
    if set(by_name) != set(OUTPUT_NAMES):
        raise ModelContractError(
            f"{model}: expected outputs output0 [B, 4+nc+32, A] and output1 [B, 32, H/4, W/4], found {found_out}"
        )
    o0, o1 = by_name["output0"], by_name["output1"]
    if len(o0.shape) != 3 or len(o1.shape) != 4 or o1.static_dim(1) not in (NUM_MASKS, None):
        raise ModelContractError(
            f"{model}: expected outputs output0 [B, 4+nc+32, A] and output1 [B, 32, H/4, W/4], found {found_out}"
        )
    hw = (spec.static_dim(2), spec.static_dim(3))
    meta_hw = _as_hw(metadata.get("imgsz"))
    if hw[0] is None or hw[1] is None:
        if meta_hw is None:
            raise ModelContractError(f"{model}: input size is dynamic ({found_in}) and the metadata has no imgsz")
        hw = meta_hw
    elif meta_hw is not None and meta_hw != hw:
        log.warning("%s: metadata imgsz %s differs from the input shape %s; using the input shape", model, meta_hw, hw)
    h, w = int(hw[0]), int(hw[1])
    mismatch = size_mismatch(Path(model).name, (h, w), _as_int(metadata.get("skyseg_train_imgsz")))
    if mismatch:
        log.warning(mismatch)
    ph, pw = o1.static_dim(2), o1.static_dim(3)
    if (ph is not None and ph * 4 != h) or (pw is not None and pw * 4 != w):
        raise ModelContractError(
            f"{model}: output1 must be [B, 32, {h // 4}, {w // 4}] for a {h}×{w} input, found {o1.describe()}"
        )
    anchors, stride_set = o0.static_dim(2), (8, 16, 32)
    want_anchors = sum((h // s) * (w // s) for s in stride_set)
    if anchors is not None and anchors != want_anchors:
        hint = " (output0 looks transposed: [B, A, C] instead of [B, C, A])" if o0.static_dim(1) == want_anchors else ""
        raise ModelContractError(
            f"{model}: output0 must hold {want_anchors} anchors for a {h}×{w} input (strides 8, 16, 32), "
            f"found {o0.describe()}{hint}"
        )
    channels = o0.static_dim(1)
    names_raw = metadata.get("names")
    names = {int(k): str(v) for k, v in names_raw.items()} if isinstance(names_raw, dict) else None
    if channels is not None:
        nc = channels - 4 - NUM_MASKS
        if nc < 1:
            raise ModelContractError(
                f"{model}: output0 must have 4 + nc + 32 channels with nc ≥ 1, found {o0.describe()}"
            )
        if names is not None and len(names) != nc:
            raise ModelContractError(
                f"{model}: metadata names {names} list {len(names)} classes, so output0 should be "
                f"[B, {4 + len(names) + NUM_MASKS}, A], found {o0.describe()} (nc = {nc})"
            )
        if names is None:
            names = {i: ("sky" if nc == 1 else str(i)) for i in range(nc)}
    if names is None:
        names = {0: "sky"}
    if len(names) > 1 and "sky" not in names.values():
        shown = ", ".join(list(names.values())[:5]) + (", …" if len(names) > 5 else "")
        raise ModelContractError(
            f"{model}: a {len(names)}-class model ({shown}) with no class named 'sky'; skyseg runs sky segmentation "
            "models (export one with `skyseg export`)"
        )
    stride = metadata.get("stride", 32)
    return ModelInfo(
        imgsz=(h, w),
        names=names,
        stride=int(stride) if isinstance(stride, (int, float)) else 32,
        task=str(metadata.get("task", "segment")),
        batch=spec.static_dim(0) or 1,
        metadata=dict(metadata),
    )


class Backend(ABC):
    """One inference engine for one model file. Use as a context manager; `infer` runs one batch."""

    kind: str = "?"

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        self.model_path = Path(model_path)
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self.metadata: dict[str, Any] = {}
        self._info: ModelInfo | None = None

    @abstractmethod
    def _open(self) -> None:
        """Acquire the session/engine and fill `inputs`, `outputs`, `metadata`."""

    @abstractmethod
    def _close(self) -> None:
        """Release everything `_open` acquired (idempotent)."""

    @abstractmethod
    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Run one validated batch; returns {output name: array}."""

    def __enter__(self) -> Backend:
        self._open()
        try:
            self._info = check_contract(self.inputs, self.outputs, self.metadata, str(self.model_path))
        except BaseException:
            self._close()
            raise
        log.info("%s backend: %s, input %s, classes %s", self.kind, self.model_path.name, self._info.imgsz, self._info.names)
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("backend is not open; use it as a context manager (`with open_backend(m) as be:`)")
        return self._info

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.info.imgsz

    def check_input(self, images: np.ndarray) -> None:
        """Name/dtype/shape check against the declared input; ModelContractError naming expected vs found."""
        spec = self.inputs[0]
        if not isinstance(images, np.ndarray) or images.dtype != np.float32 or images.ndim != len(spec.shape):
            found = f"{type(images).__name__} {getattr(images, 'dtype', '?')} {list(getattr(images, 'shape', []))}"
            raise ModelContractError(f"input '{spec.name}' must be {spec.describe()}, got {found}")
        for i, d in enumerate(spec.shape):
            if isinstance(d, int) and d > 0 and images.shape[i] != d:
                raise ModelContractError(f"input '{spec.name}' must be {spec.describe()}, got shape {list(images.shape)}")

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Validate and run one batch [B, 3, H, W] float32 0–1; returns {'output0': ..., 'output1': ...}."""
        if self._info is None:
            raise RuntimeError("backend is not open; use it as a context manager (`with open_backend(m) as be:`)")
        self.check_input(images)
        return self._run(images)


BACKENDS = ("auto", "ort", "trt", "openvino")


def tensorrt_available() -> bool:
    """Whether the `tensorrt` Python package can be imported (found, without importing it)."""
    return importlib.util.find_spec("tensorrt") is not None


def _auto_onnx(path: Path, providers: Sequence[str] | None, threads: int | None,
               options: dict[str, Any]) -> tuple[str, Path, dict[str, Any]]:
    """(backend, file, options) for an ONNX model: the fastest accurate form here, measured once
    (backends/auto.py); explicit ONNX Runtime providers or options keep ONNX Runtime on the given file."""
    if providers or options:
        log.info("backend auto: ONNX Runtime for %s (providers/options given for it)", path.name)
        return "ort", path, options
    from skyseg.runtime.backends.auto import choose_onnx_backend

    choice = choose_onnx_backend(path, threads)
    where = f"; cached in {choice.cache}" if choice.cache and choice.source == "measured" else ""
    log.info("backend auto: %s for %s (%s: %s%s)", choice.name, path.name, choice.source, choice.reason, where)
    model = choice.model if choice.model is not None and choice.model.is_file() else path
    return choice.backend, model, dict(choice.options)


def open_backend(
    model_path: str | os.PathLike[str],
    backend: str = "auto",
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    **options: Any,
) -> Backend:
    """Create (not yet open) the backend for a model file: 'auto', 'ort' (ONNX Runtime), 'trt' (TensorRT) or
    'openvino' (OpenVINO's CPU plug-in, ONNX files)."""
    if str(model_path).startswith("triton://"):  # the network on a Triton server; the rest stays here
        from skyseg.runtime.backends.triton import TritonBackend

        return TritonBackend(str(model_path), **options)
    path = Path(model_path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist; pass --model PATH to an .onnx or .engine file")
    is_engine = path.suffix.lower() in ENGINE_SUFFIXES
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; choose {', '.join(BACKENDS)}")
    if backend == "auto":
        if is_engine:
            backend = "trt"
        else:
            backend, path, options = _auto_onnx(path, providers, threads, options)
            is_engine = path.suffix.lower() in ENGINE_SUFFIXES
    if backend == "trt":
        if not is_engine:
            raise InputError(
                f"the TensorRT backend runs engine files (.engine/.plan), got {path.name}; build one with "
                f"`skyseg build {path.name}` or use --backend ort"
            )
        if not tensorrt_available():
            raise MissingDependencyError(
                f"{path.name} needs TensorRT, but the `tensorrt` Python package is not installed; install TensorRT "
                "(JetPack on Jetson, `pip install tensorrt` elsewhere) or run the ONNX model with --backend ort"
            )
        from skyseg.runtime.backends.trt import TrtBackend

        return TrtBackend(path, **options)
    if backend == "openvino":
        if is_engine:
            raise InputError(f"OpenVINO cannot run the TensorRT engine {path.name}; pass the .onnx model")
        from skyseg.runtime.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(path, threads=threads, **options)
    if is_engine:
        raise InputError(f"ONNX Runtime cannot run the TensorRT engine {path.name}; pass the .onnx model or use --backend trt")
    from skyseg.runtime.backends.ort import OrtBackend

    return OrtBackend(path, providers=providers, threads=threads, **options)
