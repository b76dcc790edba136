"""TensorRT backend: the parts that need no GPU (I/O specs, shapes, buffer sizes, version/GPU check, CUDA error
unpacking) on real inputs; the engine run itself needs TensorRT and a GPU and skips with the reason."""
from __future__ import annotations

import enum
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.backends.base import check_contract
from skyseg.runtime.backends.trt import (
    buffer_nbytes,
    compatibility_problem,
    cuda_check,
    engine_io_specs,
    resolve_shape,
    trt_dtype_to_numpy,
)
from skyseg.runtime.errors import ModelContractError, SkysegError


class DataType(enum.Enum):  # the names TensorRT's DataType enum uses
    FLOAT = 0
    HALF = 1
    INT8 = 2
    BF16 = 7


class Mode(enum.Enum):
    INPUT = 1
    OUTPUT = 2


class StubEngine:
    """The slice of ICudaEngine's name-based API that engine_io_specs reads."""

    def __init__(self, tensors):
        self.tensors = tensors  # (name, mode, shape, dtype)
        self.num_io_tensors = len(tensors)

    def get_tensor_name(self, i):
        return self.tensors[i][0]

    def _t(self, name):
        return next(t for t in self.tensors if t[0] == name)

    def get_tensor_mode(self, name):
        return self._t(name)[1]

    def get_tensor_shape(self, name):
        return self._t(name)[2]

    def get_tensor_dtype(self, name):
        return self._t(name)[3]


def test_engine_io_specs_feed_the_contract_check() -> None:
    engine = StubEngine([
        ("images", Mode.INPUT, (1, 3, 640, 640), DataType.FLOAT),
        ("output0", Mode.OUTPUT, (1, 37, 8400), DataType.FLOAT),
        ("output1", Mode.OUTPUT, (1, 32, 160, 160), DataType.FLOAT),
    ])
    inputs, outputs = engine_io_specs(engine, Mode.INPUT)
    assert [s.name for s in inputs] == ["images"] and [s.name for s in outputs] == ["output0", "output1"]
    assert inputs[0].dtype == np.float32 and outputs[1].shape == (1, 32, 160, 160)
    info = check_contract(inputs, outputs, {"names": {0: "sky"}, "imgsz": [640, 640]}, "m.engine")
    assert info.imgsz == (640, 640) and info.names == {0: "sky"}


def test_dynamic_engine_shapes_resolve_and_size() -> None:
    engine = StubEngine([("images", Mode.INPUT, (-1, 3, -1, -1), DataType.FLOAT),
                         ("output0", Mode.OUTPUT, (-1, 37, -1), DataType.HALF)])
    inputs, outputs = engine_io_specs(engine, Mode.INPUT)
    assert inputs[0].shape == (None, 3, None, None) and outputs[0].dtype == np.float16
    shape = resolve_shape(inputs[0], 2, (384, 640))
    assert shape == (2, 3, 384, 640)
    assert buffer_nbytes(shape, np.float32) == 2 * 3 * 384 * 640 * 4
    assert buffer_nbytes((1, 37, 8400), np.float16) == 37 * 8400 * 2
    with pytest.raises(ModelContractError, match=r"cannot size a buffer for unresolved shape \[1, None\]"):
        buffer_nbytes((1, None), np.float32)


def test_unsupported_engine_dtype() -> None:
    assert trt_dtype_to_numpy(DataType.INT8) == np.int8
    with pytest.raises(ModelContractError, match="engine tensor type BF16 has no NumPy equivalent"):
        trt_dtype_to_numpy(DataType.BF16)


def test_compatibility_problem_names_both_sides() -> None:
    sidecar = {"tensorrt_version": "10.3.0", "gpu_name": "Orin", "compute_capability": "8.7"}
    msg = compatibility_problem(sidecar, "10.7.0", "NVIDIA H100", "9.0")
    assert msg == ("it was built with TensorRT 10.3.0 and this machine has TensorRT 10.7.0; it was built for Orin "
                   "(compute capability 8.7) and this GPU is NVIDIA H100 (compute capability 9.0)")
    assert compatibility_problem(sidecar, "10.3.0", "Orin", "8.7") is None
    assert compatibility_problem(None, "10.3.0", "Orin", "8.7") is None
    assert compatibility_problem({"tensorrt_version": "10.3.0", "compute_capability": "unknown"}, "10.3.0", "x", "9.0") is None


def test_cuda_check_unpacks_and_raises() -> None:
    class Err(enum.IntEnum):
        cudaSuccess = 0
        cudaErrorMemoryAllocation = 2

    assert cuda_check((Err.cudaSuccess, 1234), "cudaMalloc") == 1234
    assert cuda_check((Err.cudaSuccess,), "cudaFree") is None
    assert cuda_check((Err.cudaSuccess, 1, 2), "x") == (1, 2)
    with pytest.raises(SkysegError, match=r"CUDA call cudaMalloc\(64\) failed with cudaErrorMemoryAllocation \(2\)"):
        cuda_check((Err.cudaErrorMemoryAllocation, 0), "cudaMalloc(64)")


@pytest.mark.tensorrt
@pytest.mark.gpu
class _Cudart:
    """cuda-python's calling convention ((err, value) tuples, enum namespaces) for the graph-capture calls,
    with scripted errors; records every call."""

    class cudaStreamCaptureMode(enum.Enum):  # cuda-python's name
        cudaStreamCaptureModeGlobal = 0

    def __init__(self, end_err: int = 0, inst_err: int = 0) -> None:
        self.end_err, self.inst_err, self.calls = end_err, inst_err, []

    def cudaStreamBeginCapture(self, stream, mode):
        self.calls.append("begin")
        return (0,)

    def cudaStreamEndCapture(self, stream):
        self.calls.append("end")
        return self.end_err, ("graph" if self.end_err == 0 else None)

    def cudaGraphInstantiateWithFlags(self, graph, flags):
        self.calls.append("instantiate")
        return self.inst_err, ("exec" if self.inst_err == 0 else None)

    def cudaGraphDestroy(self, graph):
        self.calls.append(f"destroy {graph}")
        return (0,)


class _Context:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def execute_async_v3(self, stream: int) -> bool:
        return self.ok


@pytest.mark.parametrize(("end_err", "inst_err", "enqueue_ok", "calls", "captured"), [
    (0, 0, True, ["begin", "end", "instantiate"], True),
    (901, 0, True, ["begin", "end"], False),  # capture invalidated: EndCapture reports it, no graph to destroy
    (0, 1, True, ["begin", "end", "instantiate", "destroy graph"], False),  # instantiate failed: graph freed
    (0, 0, False, ["begin", "end", "destroy graph"], False),  # TensorRT refused to enqueue during capture
])
def test_cuda_graph_capture_falls_back_to_plain_enqueue(end_err, inst_err, enqueue_ok, calls, captured) -> None:
    from skyseg.runtime.backends.trt import TrtBackend

    backend = TrtBackend("model.engine")
    backend._cudart, backend._context, backend._stream = _Cudart(end_err, inst_err), _Context(enqueue_ok), 7
    backend._capture_graph()  # never raises: the graph is an optimisation
    assert backend._cudart.calls == calls
    assert (backend._graph_exec == "exec") is captured and backend.use_cuda_graph is captured


def test_engine_runs_like_onnx(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (not installable on this CPU machine)")
    cudart_spec = importlib.util.find_spec("cuda")
    if cudart_spec is None:
        pytest.skip("CUDA Python bindings (cuda-python) not installed")
    from skyseg.runtime.backends.base import open_backend

    engine = Path(__file__).resolve().parents[3] / "models" / "weights" / "skyseg-n.engine"
    if not engine.is_file():
        pytest.skip(f"no engine at {engine}; build one with `skyseg build` on the GPU machine")
    with open_backend(engine, backend="trt") as be:
        out = be.infer(np.full((1, 3, *be.input_hw), 0.5, np.float32))
        again = be.infer(np.full((1, 3, *be.input_hw), 0.5, np.float32))  # second run: through the CUDA graph
    assert np.allclose(out["output0"], again["output0"], atol=1e-3)
    assert out["output1"].shape[2:] == (be.input_hw[0] // 4, be.input_hw[1] // 4)
