"""TensorRT backend (TensorRT 10/11 API): engine file → execute_async_v3 with CUDA Python bindings.

Pinned host buffers, device buffers and one stream come from `cuda.bindings.runtime` (cuda-python ≥ 12.6; the
older `cuda.cudart` module is accepted). Each `infer` copies the input host→device, enqueues the engine and
copies outputs back, all async on the stream, then synchronises once. With static shapes the enqueue can be
captured into a CUDA graph after a warm-up run, which removes per-launch CPU overhead on small Jetson cores.

An engine only runs on the TensorRT version and GPU family it was built for. When deserialisation fails we
compare the sidecar's build facts (`MODEL.engine.json`) with this machine and say which one differs.

Everything that needs no GPU (I/O specs, shape resolution, buffer sizes, the compatibility check) is a pure
function here, tested without TensorRT.
"""
from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from skyseg.runtime.backends.base import Backend, TensorSpec, parse_metadata
from skyseg.runtime.backends.engine_file import read_engine_file
from skyseg.runtime.errors import MissingDependencyError, ModelContractError, SkysegError

log = logging.getLogger(__name__)

_TRT_DTYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "INT64": np.int64,
               "BOOL": np.bool_, "UINT8": np.uint8, "BF16": None, "FP8": None}


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as err:
        raise MissingDependencyError(
            f"the TensorRT backend needs the `tensorrt` Python package ({err}); install TensorRT (JetPack on Jetson, "
            "`pip install tensorrt` on x86) or use --backend ort with the ONNX model"
        ) from None
    return tensorrt


def import_cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            raise MissingDependencyError(
                "the TensorRT backend needs the CUDA Python bindings; `pip install cuda-python` (matching your CUDA "
                "major version)"
            ) from None
    return cudart


def cuda_check(result: Any, what: str) -> Any:
    """Unpack a cuda-python `(err, *values)` tuple; raise SkysegError naming the call and the CUDA error."""
    if isinstance(result, tuple):
        err, values = result[0], result[1:]
    else:
        err, values = result, ()
    if int(err) != 0:
        raise SkysegError(f"CUDA call {what} failed with {getattr(err, 'name', err)} ({int(err)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def trt_dtype_to_numpy(dtype: Any) -> np.dtype:
    """A TensorRT DataType (enum or its name) → NumPy dtype; unsupported types are a ModelContractError."""
    name = getattr(dtype, "name", str(dtype)).split(".")[-1].upper()
    np_type = _TRT_DTYPES.get(name)
    if np_type is None:
        raise ModelContractError(f"engine tensor type {name} has no NumPy equivalent here; rebuild with FP32 I/O")
    return np.dtype(np_type)


def engine_io_specs(engine: Any, input_mode: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of an ICudaEngine via the name-based TensorRT ≥ 8.5 API; -1 dims become None."""
    inputs, outputs = [], []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        shape = tuple(int(d) if int(d) >= 0 else None for d in engine.get_tensor_shape(name))
        spec = TensorSpec(name, trt_dtype_to_numpy(engine.get_tensor_dtype(name)), shape)
        (inputs if engine.get_tensor_mode(name) == input_mode else outputs).append(spec)
    return inputs, outputs


def resolve_shape(spec: TensorSpec, batch: int, input_hw: tuple[int, int]) -> tuple[int, ...]:
    """Concrete input shape for a possibly dynamic input spec [B, 3, H, W]."""
    fixed = (batch, 3, *input_hw)
    return tuple(d if isinstance(d, int) else fixed[i] for i, d in enumerate(spec.shape))


def buffer_nbytes(shape: Sequence[int], dtype: np.dtype) -> int:
    """Bytes for one tensor; rejects unresolved (None/negative) dims."""
    if any(not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ModelContractError(f"cannot size a buffer for unresolved shape {list(shape)}")
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def compatibility_problem(sidecar: dict[str, Any] | None, trt_version: str, gpu_name: str, compute_capability: str) -> str | None:
    """Why an engine built as the sidecar says may not run here (TensorRT version / GPU), or None if it should."""
    if not sidecar:
        return None
    problems = []
    built_trt = str(sidecar.get("tensorrt_version") or "")
    if built_trt and built_trt != trt_version:
        problems.append(f"it was built with TensorRT {built_trt} and this machine has TensorRT {trt_version}")
    built_cc = str(sidecar.get("compute_capability") or "")
    if built_cc not in ("", "unknown") and compute_capability not in ("", "unknown") and built_cc != compute_capability:
        problems.append(f"it was built for {sidecar.get('gpu_name', 'a GPU')} (compute capability {built_cc}) and this "
                        f"GPU is {gpu_name} (compute capability {compute_capability})")
    return "; ".join(problems) or None


def gpu_identity(cudart: Any, device: int = 0) -> tuple[str, str]:
    """(name, 'major.minor') of a CUDA device."""
    prop = cuda_check(cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    return name.strip("\x00 "), f"{prop.major}.{prop.minor}"


@dataclass
class _Binding:
    spec: TensorSpec
    shape: tuple[int, ...]
    nbytes: int
    device: int  # device pointer
    host_ptr: int  # pinned host pointer
    host: np.ndarray  # NumPy view of the pinned buffer


class TrtBackend(Backend):
    """A serialized TensorRT engine (raw plan or Ultralytics header, with its `.engine.json` sidecar)."""

    kind = "tensorrt"

    def __init__(self, model_path: str | os.PathLike[str], cuda_graph: bool = True, device: int = 0) -> None:
        super().__init__(model_path)
        self.use_cuda_graph = cuda_graph
        self.device = device
        self._trt: Any = None
        self._cudart: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._bindings: dict[str, _Binding] = {}
        self._graph: Any = None
        self._graph_exec: Any = None
        self._runs = 0

    # -- acquire / release -------------------------------------------------------------------------------
    def _open(self) -> None:
        trt = self._trt = import_tensorrt()
        cudart = self._cudart = import_cudart()
        cuda_check(cudart.cudaSetDevice(self.device), "cudaSetDevice")
        ef = read_engine_file(self.model_path)
        self.metadata = parse_metadata(ef.metadata) if ef.metadata else {}
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        self._engine = runtime.deserialize_cuda_engine(ef.plan)
        if self._engine is None:
            gpu, cc = gpu_identity(cudart, self.device)
            why = compatibility_problem(ef.sidecar, trt.__version__, gpu, cc)
            raise ModelContractError(
                f"TensorRT {trt.__version__} could not deserialize {self.model_path.name}"
                + (f": {why}" if why else " (see the TensorRT log above)")
                + "; rebuild the engine on this machine with `skyseg build MODEL.onnx`"
            )
        self.inputs, self.outputs = engine_io_specs(self._engine, trt.TensorIOMode.INPUT)
        self._context = self._engine.create_execution_context()
        self._stream = cuda_check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        log.info("TensorRT %s engine %s: %s → %s", trt.__version__, self.model_path.name,
                 "; ".join(s.describe() for s in self.inputs), "; ".join(s.describe() for s in self.outputs))

    def _allocate(self, batch: int) -> None:
        """Resolve shapes for `batch` and allocate pinned host + device buffers for every I/O tensor."""
        cudart = self._cudart
        self._free_buffers()
        spec_in = self.inputs[0]
        shape_in = resolve_shape(spec_in, batch, self.info.imgsz)
        if not self._context.set_input_shape(spec_in.name, shape_in):
            raise ModelContractError(f"engine rejects input shape {list(shape_in)} for {spec_in.describe()}")
        for spec in (*self.inputs, *self.outputs):
            shape = tuple(int(d) for d in self._context.get_tensor_shape(spec.name))
            nbytes = buffer_nbytes(shape, spec.dtype)
            device = cuda_check(cudart.cudaMalloc(nbytes), f"cudaMalloc({nbytes})")
            host_ptr = cuda_check(cudart.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})")
            raw = (ctypes.c_byte * nbytes).from_address(int(host_ptr))
            host = np.frombuffer(raw, dtype=spec.dtype).reshape(shape)
            self._bindings[spec.name] = _Binding(spec, shape, nbytes, int(device), int(host_ptr), host)
            if not self._context.set_tensor_address(spec.name, int(device)):
                raise SkysegError(f"TensorRT refused the device address for tensor {spec.name}")

    def _free_buffers(self) -> None:
        cudart = self._cudart
        self._drop_graph()
        for b in self._bindings.values():
            cudart.cudaFree(b.device)
            cudart.cudaFreeHost(b.host_ptr)
        self._bindings.clear()
        self._runs = 0

    def _drop_graph(self) -> None:
        if self._graph_exec is not None:
            self._cudart.cudaGraphExecDestroy(self._graph_exec)
        if self._graph is not None:
            self._cudart.cudaGraphDestroy(self._graph)
        self._graph = self._graph_exec = None

    def _close(self) -> None:
        if self._cudart is None:
            return
        if self._stream is not None:
            self._cudart.cudaStreamSynchronize(self._stream)
        self._free_buffers()
        if self._stream is not None:
            self._cudart.cudaStreamDestroy(self._stream)
        self._stream = None
        self._context = None
        self._engine = None

    # -- run -----------------------------------------------------------------------------------------------
    def _enqueue(self) -> None:
        if self._graph_exec is not None:
            cuda_check(self._cudart.cudaGraphLaunch(self._graph_exec, self._stream), "cudaGraphLaunch")
        elif not self._context.execute_async_v3(int(self._stream)):
            raise SkysegError(f"TensorRT execute_async_v3 failed on {self.model_path.name} (see the TensorRT log)")

    def _capture_graph(self) -> None:
        """Record the enqueue into a CUDA graph (static shapes only; after one warm-up run). Any failure → plain
        enqueue from then on (logged), never an error: the graph is an optimisation."""
        cudart = self._cudart
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        cuda_check(cudart.cudaStreamBeginCapture(self._stream, mode), "cudaStreamBeginCapture")
        ok = self._context.execute_async_v3(int(self._stream))
        err, graph = cudart.cudaStreamEndCapture(self._stream)  # an invalidated capture reports an error here
        captured = int(err) == 0
        graph_exec = None
        if ok and captured:
            # cudaGraphInstantiateWithFlags has one signature in CUDA 11.4+ and 12 (cudaGraphInstantiate changed)
            err, graph_exec = cudart.cudaGraphInstantiateWithFlags(graph, 0)
            if int(err) != 0:
                graph_exec = None
        if graph_exec is None:
            if captured:
                cudart.cudaGraphDestroy(graph)
            self.use_cuda_graph = False
            log.info("CUDA graph capture not possible for %s (%s); enqueueing each run", self.model_path.name,
                     "enqueue refused during capture" if not ok else f"CUDA error {err}")
            return
        self._graph, self._graph_exec = graph, graph_exec
        log.info("captured %s into a CUDA graph", self.model_path.name)

    def _launch(self) -> None:
        """Enqueue one inference on the stream (through the CUDA graph once captured); no copies, no sync."""
        static = all(isinstance(d, int) for s in (*self.inputs, *self.outputs) for d in s.shape)
        if self.use_cuda_graph and static and self._graph_exec is None and self._runs >= 1:
            self._capture_graph()
        self._enqueue()
        self._runs += 1

    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        cudart = self._cudart
        name_in = self.inputs[0].name
        if name_in not in self._bindings or self._bindings[name_in].shape != images.shape:
            self._allocate(images.shape[0])
        b_in = self._bindings[name_in]
        np.copyto(b_in.host, images)
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        cuda_check(cudart.cudaMemcpyAsync(b_in.device, b_in.host_ptr, b_in.nbytes, h2d, self._stream), "cudaMemcpyAsync H2D")
        self._launch()
        for spec in self.outputs:
            b = self._bindings[spec.name]
            cuda_check(cudart.cudaMemcpyAsync(b.host_ptr, b.device, b.nbytes, d2h, self._stream), "cudaMemcpyAsync D2H")
        cuda_check(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        # copies: the pinned buffers are overwritten by the next run, results may outlive it
        return {spec.name: self._bindings[spec.name].host.copy() for spec in self.outputs}

    # -- device-resident I/O (GPU pre/post-processing) -----------------------------------------------------
    def cupy_stream(self) -> Any:
        """This backend's CUDA stream as a CuPy ExternalStream, so CuPy kernels order with the engine."""
        from skyseg.runtime.process.gpu_preprocess import cupy_module

        return cupy_module().cuda.ExternalStream(int(self._stream))

    def device_arrays(self, batch: int = 1) -> dict[str, Any]:
        """CuPy arrays viewing the engine's device buffers (input and outputs), allocated for `batch`."""
        from skyseg.runtime.process.gpu_preprocess import cupy_module

        cp = cupy_module()
        name_in = self.inputs[0].name
        if name_in not in self._bindings or self._bindings[name_in].shape[0] != batch:
            self._allocate(batch)
        views = {}
        for name, b in self._bindings.items():
            mem = cp.cuda.UnownedMemory(b.device, b.nbytes, self)
            views[name] = cp.ndarray(b.shape, dtype=b.spec.dtype, memptr=cp.cuda.MemoryPointer(mem, 0))
        return views

    def run_device(self) -> None:
        """Run on whatever the input device buffer holds; outputs land in the device buffers (async on the
        stream: synchronise, or order later CuPy work on `cupy_stream()`)."""
        if self._info is None:
            raise RuntimeError("backend is not open; use it as a context manager (`with open_backend(m) as be:`)")
        if not self._bindings:
            raise RuntimeError("call device_arrays() first: it allocates the device buffers the engine runs on")
        self._launch()
