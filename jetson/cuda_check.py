"""install.sh's CUDA check: the CUDA runtime bindings exactly as skyseg's TensorRT backend uses them.

Imports the bindings through the backend's own `import_cudart` (cuda.bindings.runtime, or the older cuda.cudart),
checks that every `cudart.<name>` the backend calls exists in this cuda-python, then does what one inference does:
pinned and device buffers, a stream, copies both ways, and a captured CUDA graph launched once. Exit 0 and one
line on success; exit 1 and one sentence naming the failing call otherwise.
"""
from __future__ import annotations

import inspect
import re
import sys

import numpy as np


def backend_calls() -> set:
    """Names the TensorRT backend reads from its cudart module (`cudart.cudaMalloc`, ...)."""
    from skyseg.runtime.backends import trt as backend

    return set(re.findall(r"cudart\.(\w+)", inspect.getsource(backend)))


def round_trip(cudart, check) -> None:
    """Host → device → host through a stream, then the same copy as a captured graph."""
    nbytes = 64
    check(cudart.cudaSetDevice(0), "cudaSetDevice")
    stream = check(cudart.cudaStreamCreate(), "cudaStreamCreate")
    device = check(cudart.cudaMalloc(nbytes), "cudaMalloc")
    host = check(cudart.cudaMallocHost(nbytes), "cudaMallocHost")
    data = np.arange(nbytes, dtype=np.uint8)
    back = np.zeros(nbytes, dtype=np.uint8)
    kind = cudart.cudaMemcpyKind
    try:
        check(cudart.cudaMemcpyAsync(device, data.ctypes.data, nbytes, kind.cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync")
        check(cudart.cudaStreamBeginCapture(stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal),
              "cudaStreamBeginCapture")
        check(cudart.cudaMemcpyAsync(host, device, nbytes, kind.cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync")
        graph = check(cudart.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        graph_exec = check(cudart.cudaGraphInstantiateWithFlags(graph, 0), "cudaGraphInstantiateWithFlags")
        check(cudart.cudaGraphLaunch(graph_exec, stream), "cudaGraphLaunch")
        check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        check(cudart.cudaMemcpyAsync(back.ctypes.data, host, nbytes, kind.cudaMemcpyHostToHost, stream), "cudaMemcpyAsync")
        check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        check(cudart.cudaGraphExecDestroy(graph_exec), "cudaGraphExecDestroy")
        check(cudart.cudaGraphDestroy(graph), "cudaGraphDestroy")
    finally:
        cudart.cudaFree(device)
        cudart.cudaFreeHost(host)
        cudart.cudaStreamDestroy(stream)
    if not np.array_equal(back, data):
        raise RuntimeError("bytes copied to the GPU and back came back different")


def main() -> int:
    from skyseg.runtime.backends.trt import cuda_check, import_cudart
    from skyseg.runtime.errors import SkysegError

    try:
        cudart = import_cudart()
        missing = sorted(name for name in backend_calls() if not hasattr(cudart, name))
        if missing:
            print(f"CUDA bindings {cudart.__name__} lack {', '.join(missing)}, which skyseg's TensorRT backend calls; "
                  "install the cuda-python release that matches this CUDA (see install.sh --cuda-python).")
            return 1
        round_trip(cudart, cuda_check)
        prop = cuda_check(cudart.cudaGetDeviceProperties(0), "cudaGetDeviceProperties")
    except (SkysegError, RuntimeError) as err:
        print(f"CUDA check failed: {err}.")
        return 1
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    print(f"CUDA runtime bindings {cudart.__name__}: copies and a CUDA graph ran on {name.strip(chr(0) + ' ')} "
          f"(compute {prop.major}.{prop.minor})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
