"""ONNX Runtime backend: CPU, or the CUDA / TensorRT execution providers when the installed build has them.

Threads are explicit: `intra_op_num_threads` (None = ORT's default), one inter-op thread, and spin-waiting off
by default — on a small shared CPU (a Jetson, a Pi beside a camera) spinning threads steal the core other work
needs and make latency erratic (measured ~3× slower here under load).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np

from skyseg.runtime.backends.base import Backend, TensorSpec, parse_metadata
from skyseg.runtime.backends.library_telemetry import switch_off
from skyseg.runtime.errors import MissingDependencyError, ModelContractError

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
}


def import_onnxruntime() -> Any:
    """Import onnxruntime (its telemetry off) or raise MissingDependencyError naming the package."""
    switch_off()
    try:
        import onnxruntime
    except ImportError as err:
        raise MissingDependencyError(
            f"ONNX Runtime is not installed ({err}); install `onnxruntime` (CPU) or `onnxruntime-gpu`"
        ) from None
    return onnxruntime


def choose_providers(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Providers to ask for: the requested ones (all must be available) or the best available by preference."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise MissingDependencyError(
                f"ONNX Runtime provider(s) {', '.join(missing)} requested but this onnxruntime build offers only "
                f"{', '.join(available)}; install onnxruntime-gpu (CUDA/TensorRT providers) or drop the request"
            )
        return list(requested)
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    return chosen or list(available)


def spec_from_ort(arg: Any) -> TensorSpec:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        raise ModelContractError(f"tensor '{arg.name}' has unsupported type {arg.type}")
    shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, np.dtype(dtype), shape)


def ort_session(model: str | os.PathLike[str] | bytes, threads: int | None = None,
                providers: Sequence[str] | None = None, *, allow_spinning: bool | None = None, quiet: bool = False,
                profile_prefix: str | None = None) -> Any:
    """The one place an ONNX Runtime session is built, from a path or the model's bytes: `threads` intra-op threads
    (ORT's choice when None), one inter-op thread, sequential execution, every graph optimisation, spinning as asked
    (ORT's default when None), on `providers` (the CPU when None). ModelContractError when ORT cannot load it."""
    ort = import_onnxruntime()
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if allow_spinning is not None:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    if quiet:
        opts.log_severity_level = 3  # errors only
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as err:  # ORT raises its own Fail/InvalidGraph/... types; all mean "cannot load this file"
        name = "the model bytes" if isinstance(model, bytes) else model
        raise ModelContractError(f"ONNX Runtime cannot load {name}: {err}") from None


class OrtBackend(Backend):
    """ONNX model on ONNX Runtime."""

    kind = "onnxruntime"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        allow_spinning: bool = False,
    ) -> None:
        super().__init__(model_path)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {threads}")
        self.requested_providers = list(providers) if providers else None
        self.threads = threads
        self.allow_spinning = allow_spinning
        self.session: Any = None
        self.providers: list[str] = []

    def _open(self) -> None:
        ort = import_onnxruntime()
        providers = choose_providers(self.requested_providers, ort.get_available_providers())
        self.session = ort_session(self.model_path, self.threads, providers, allow_spinning=self.allow_spinning)
        active = self.session.get_providers()
        if self.requested_providers and active[: len(providers)] != providers:
            # ORT silently drops a provider whose libraries fail to load; an explicit request must not degrade
            self._close()
            raise MissingDependencyError(
                f"requested ONNX Runtime providers {providers} but the session runs on {active}; check the CUDA/"
                "TensorRT libraries onnxruntime-gpu needs, or drop the provider request"
            )
        self.providers = list(active)
        self.inputs = [spec_from_ort(a) for a in self.session.get_inputs()]
        self.outputs = [spec_from_ort(a) for a in self.session.get_outputs()]
        self.metadata = parse_metadata(dict(self.session.get_modelmeta().custom_metadata_map))
        self._output_names = [o.name for o in self.outputs]
        log.info(
            "ONNX Runtime %s on %s (intra-op threads %s, spinning %s)",
            ort.__version__, ", ".join(active), self.threads or "default", "on" if self.allow_spinning else "off",
        )

    def _close(self) -> None:
        self.session = None

    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if self.session is None:
            raise RuntimeError("ONNX Runtime session is closed")
        values = self.session.run(self._output_names, {self.inputs[0].name: images})
        return dict(zip(self._output_names, values))
