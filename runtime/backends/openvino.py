"""OpenVINO backend (CPU): the same ONNX file, compiled by OpenVINO, f32 forced by default.

OpenVINO's CPU plug-in picks bf16 on CPUs with AVX-512 BF16 unless told otherwise; on this project's dev machine
(AVX-512 VNNI/BF16, no AMX) that is slower and rounds activations, so the inference precision hint is f32 unless
`precision="bf16"` is asked for. Threads are explicit (`INFERENCE_NUM_THREADS`), one stream, latency hint. INT8
Q/DQ models are refused (see `_refuse_quantized`): OpenVINO's INT8 kernels paint other pixels than ONNX Runtime.
The ONNX metadata (names, imgsz, the skyseg keys) arrives in the model's rt_info under `framework`.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from skyseg.runtime.backends.base import Backend, TensorSpec, parse_metadata
from skyseg.runtime.errors import MissingDependencyError, ModelContractError

log = logging.getLogger(__name__)

PRECISIONS = ("f32", "bf16")
_OV_TYPES = {"f32": np.float32, "f16": np.float16, "f64": np.float64, "i64": np.int64, "i32": np.int32,
             "u8": np.uint8, "i8": np.int8}


def import_openvino() -> Any:
    """Import openvino or raise MissingDependencyError naming the package."""
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


def _refuse_quantized(model: Any, path: Any) -> None:
    """OpenVINO turns Q/DQ pairs into FakeQuantize and runs them in its own INT8 kernels; on skyseg's INT8 models
    those paint different pixels than ONNX Runtime on the same file (measured on the nine labelled real frames:
    mask IoU ORT vs OpenVINO mean 0.88 / min 0.53 for the TensorRT Q/DQ form, 0.98 / 0.87 for the CPU form).
    A wrong mask at exit 0 is worse than no INT8, so such models are refused with one sentence."""
    if any(op.get_type_name() == "FakeQuantize" for op in model.get_ordered_ops()):
        raise ModelContractError(
            f"{path} is an INT8 Q/DQ model, and OpenVINO's INT8 kernels give skyseg's Q/DQ models different masks "
            "than ONNX Runtime (IoU down to 0.53 on real frames); run it with --backend ort (or trt on a GPU), or "
            "give OpenVINO the FP32 model")


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
        ov = import_openvino()
        core = ov.Core()
        try:
            model = core.read_model(str(self.model_path))
        except Exception as err:  # OpenVINO raises RuntimeError subclasses of its own for unreadable files
            raise ModelContractError(f"OpenVINO cannot read {self.model_path}: {err}") from None
        _refuse_quantized(model, self.model_path)
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
        self._request = None
        self._compiled = None

    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if self._request is None:
            raise RuntimeError("OpenVINO model is closed")
        self._request.infer({0: images})
        return {name: np.array(self._request.get_output_tensor(i).data, copy=True)
                for i, name in enumerate(self._output_names)}
