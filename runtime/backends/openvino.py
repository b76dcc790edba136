"""OpenVINO backend (CPU): the same ONNX file, compiled by OpenVINO, f32 forced by default.

OpenVINO's CPU plug-in picks bf16 on CPUs with AVX-512 BF16 unless told otherwise; whether that is faster depends
on the host (slower on an Intel Xeon without AMX, 1.5x faster on an AMD Zen 4), so the precision hint is f32
unless `precision="bf16"` is asked for (`--backend auto` measures both). Threads are explicit
(`INFERENCE_NUM_THREADS`), one stream, latency hint. INT8: the ONNX Runtime CPU form (`skyseg quantize --ort-cpu`,
uint8 activations) runs right; the TensorRT Q/DQ form (signed INT8 activations) is refused, see
`_refuse_signed_int8`. The ONNX metadata (names, imgsz, the skyseg keys) arrives in the rt_info under `framework`.

Models are compiled and released on one thread of their own (`on_model_thread`). The CPU plug-in gives the thread
that compiles a model an alternate signal stack (`sigaltstack` in `create_plugin_engine`) and frees it when the
compiled model is destroyed, from whichever thread drops the last reference, leaving the compiling thread's alternate
stack pointing at freed memory. When that was the main thread (`skyseg serve` opens its first model there and
switches models from a worker thread), the next signal it received, SIGTERM from systemd, could not be delivered and
killed the process with SIGSEGV (exit 139) before any output was closed. On their own thread, with every
asynchronous signal blocked there, compiling and releasing pair up and no signal is ever delivered on that stack.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import numpy as np

from skyseg.runtime.backends.base import Backend, TensorSpec, parse_metadata
from skyseg.runtime.backends.library_telemetry import switch_off
from skyseg.runtime.errors import MissingDependencyError, ModelContractError

log = logging.getLogger(__name__)

PRECISIONS = ("f32", "bf16")
_OV_TYPES = {"f32": np.float32, "f16": np.float16, "f64": np.float64, "i64": np.int64, "i32": np.int32,
             "u8": np.uint8, "i8": np.int8}


T = TypeVar("T")
_SYNCHRONOUS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT, signal.SIGTRAP}
_model_thread: ThreadPoolExecutor | None = None
_model_thread_lock = threading.Lock()


def _block_async_signals() -> None:
    if hasattr(signal, "pthread_sigmask"):  # POSIX only; elsewhere there is no alternate signal stack to lose
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.valid_signals()) - _SYNCHRONOUS)


def on_model_thread(work: Callable[[], T]) -> T:
    """Run `work` on the one thread that compiles and releases OpenVINO models (see the module docstring)."""
    global _model_thread
    with _model_thread_lock:
        if _model_thread is None:
            _model_thread = ThreadPoolExecutor(1, thread_name_prefix="skyseg-openvino",
                                               initializer=_block_async_signals)
        pool = _model_thread
    try:
        future = pool.submit(work)
    except RuntimeError:  # the interpreter is shutting down: no new threads, so run it here
        return work()
    return future.result()


def import_openvino() -> Any:
    """Import openvino (its telemetry off) or raise MissingDependencyError naming the package."""
    switch_off()
    try:
        import openvino
    except ImportError as err:
        raise MissingDependencyError(f"OpenVINO is not installed ({err}); install it with "
                                     "`pip install 'skyseg[openvino]'` or use --backend ort") from None
    return openvino


def _spec(port: Any) -> TensorSpec:
    type_name = port.get_element_type().get_type_name()
    dtype = _OV_TYPES.get(type_name)
    if dtype is None:
        raise ModelContractError(f"tensor '{port.get_any_name()}' has unsupported type {type_name}")
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorSpec(port.get_any_name(), np.dtype(dtype), shape)


def _framework_metadata(model: Any) -> dict[str, str]:
    info = model.get_rt_info()
    if "framework" not in info:
        return {}
    keys = list(info["framework"].astype(dict)) if hasattr(info["framework"], "astype") else list(info["framework"])
    return {str(k): model.get_rt_info(["framework", str(k)]).astype(str) for k in keys}


def _refuse_signed_int8(model: Any, path: Any) -> None:
    """OpenVINO reads each activation QuantizeLinear→DequantizeLinear pair as FakeQuantize + Convert to the code
    type. With signed INT8 codes (zero point 0, the TensorRT form) its CPU kernels compute wrong values: on the
    real frames skyseg's 192×320 Q/DQ model agrees with ONNX Runtime until the first 1×1 conv that takes a concat
    of INT8 branches (/model.2/cv2/conv: inputs within 0.5 % mean, output off by 44 % mean, a bias), and the sky
    masks fall to IoU 0.0 on some frames, with the f32 hint too. The same model re-expressed with uint8 codes and
    zero point 128 (exact in ONNX semantics: `skyseg quantize --ort-cpu`) matches ONNX Runtime's masks (min IoU
    0.96 vs 0.96 for ONNX Runtime itself). So only signed activation codes are refused, with one sentence."""
    for op in model.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize" or op.input_value(0).get_node().get_type_name() == "Constant":
            continue  # weights: a FakeQuantize on a constant is folded exactly
        targets = [t.get_node() for t in op.output(0).get_target_inputs()]
        if any(t.get_type_name() == "Convert" and t.get_output_element_type(0).get_type_name() == "i8"
               for t in targets):
            raise ModelContractError(
                f"{path} is an INT8 Q/DQ model with signed INT8 activations (the TensorRT form), which OpenVINO's CPU "
                "kernels compute wrong (sky masks down to IoU 0 on real frames); give OpenVINO its ONNX Runtime CPU "
                "form (`skyseg quantize --ort-cpu`), run it with --backend ort (or trt on a GPU), or give OpenVINO "
                "the FP32 model")


class OpenVinoBackend(Backend):
    """ONNX model on OpenVINO's CPU plug-in."""

    kind = "openvino"

    def __init__(self, model_path: str | os.PathLike[str], threads: int | None = None, precision: str = "f32",
                 device: str = "CPU") -> None:
        super().__init__(model_path)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {threads}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.threads = threads
        self.precision = precision
        self.device = device
        self._request: Any = None
        self._compiled: Any = None

    def _open(self) -> None:
        on_model_thread(self._compile)

    def _compile(self) -> None:
        ov = import_openvino()
        core = ov.Core()
        try:
            model = core.read_model(str(self.model_path))
        except Exception as err:  # OpenVINO raises RuntimeError subclasses of its own for unreadable files
            raise ModelContractError(f"OpenVINO cannot read {self.model_path}: {err}") from None
        _refuse_signed_int8(model, self.model_path)
        self.inputs = [_spec(p) for p in model.inputs]
        self.outputs = [_spec(p) for p in model.outputs]
        self.metadata = parse_metadata(_framework_metadata(model))
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY",
                                  "NUM_STREAMS": "1"}
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = self.threads
        try:
            self._compiled = core.compile_model(model, self.device, config)
        except Exception as err:
            raise ModelContractError(f"OpenVINO cannot compile {self.model_path} for {self.device}: {err}") from None
        self._request = self._compiled.create_infer_request()
        self._output_names = [o.name for o in self.outputs]
        log.info("OpenVINO %s on %s (precision %s, threads %s)", ov.__version__, self.device, self.precision,
                 self.threads or "default")

    def _close(self) -> None:
        held = [self._compiled, self._request]  # cleared last to first: the request goes before its compiled model
        self._request = None
        self._compiled = None
        on_model_thread(held.clear)  # the last references go on the thread that compiled the model

    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if self._request is None:
            raise RuntimeError("OpenVINO model is closed")
        self._request.infer({0: images})
        return {name: np.array(self._request.get_output_tensor(i).data, copy=True)
                for i, name in enumerate(self._output_names)}
