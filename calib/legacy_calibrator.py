"""Implicit INT8 calibration for TensorRT ≤ 10 (IInt8EntropyCalibrator2 / IInt8MinMaxCalibrator).

TensorRT deprecated implicit INT8 in 10.1 and removed it in 11 (strongly typed networks only; use the Q/DQ ONNX
from `skyseg quantize`). The calibrator class is defined inside `make_calibrator`, so importing skyseg never
needs TensorRT; the batching and cache logic lives in `CalibrationBatcher`, which needs neither TensorRT nor CUDA.

Last batch policy: a short final batch is DROPPED (logged), never padded — padding with copies or zeros would
skew the activation histograms, and random data is never used.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from skyseg.runtime.atomic_file import write_bytes_atomic
from skyseg.runtime.backends.trt import cuda_check, import_cudart
from skyseg.runtime.errors import InputError, MissingDependencyError, SkysegError

log = logging.getLogger(__name__)

EMPTY_CAUSES = (
    "the calibration directory holds no frames (run `skyseg calib select` or `skyseg calib synth`)",
    "every frame failed to decode",
    "fewer frames than one batch (the short last batch is dropped): lower batch_size",
)


class CalibrationBatcher:
    """Groups preprocessed [1, 3, H, W] (or [b, 3, H, W]) float32 arrays into contiguous [batch, 3, H, W] batches
    and reads/writes TensorRT's calibration cache."""

    def __init__(self, batches: Iterable[np.ndarray], cache_path: Path | str | None, batch_size: int = 1) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be ≥ 1, got {batch_size}.")
        self.batch_size = batch_size
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._source = iter(batches)
        self._pending: list[np.ndarray] = []
        self.batches_served = 0
        self.frames_served = 0
        self.dropped = 0
        self.shape: tuple[int, ...] | None = None

    def _frames(self) -> Iterator[np.ndarray]:
        for arr in self._source:
            arr = np.asarray(arr)
            if arr.dtype != np.float32 or arr.ndim != 4 or arr.shape[1] != 3:
                raise InputError(
                    f"calibration batches must be float32 [b, 3, H, W] from skyseg's preprocess, got {arr.dtype} "
                    f"{list(arr.shape)}."
                )
            if self.shape is not None and arr.shape[1:] != self.shape[1:]:
                raise InputError(
                    f"calibration frame shape {list(arr.shape)} differs from the first {list(self.shape)}."
                )
            if self.shape is None:
                self.shape = (self.batch_size, *arr.shape[1:])
            yield from arr

    def next_batch(self) -> np.ndarray | None:
        """The next contiguous [batch_size, 3, H, W] batch, or None at the end (the short remainder is dropped)."""
        if not hasattr(self, "_it"):
            self._it = self._frames()
        frames: list[np.ndarray] = []
        for frame in self._it:
            frames.append(frame)
            if len(frames) == self.batch_size:
                break
        if len(frames) < self.batch_size:
            self.dropped = len(frames)
            if frames:
                log.info("dropping the short last calibration batch (%d of %d frames)", len(frames), self.batch_size)
            if self.batches_served == 0:
                raise InputError(
                    "the calibration set yielded no complete batch; likely causes: " + "; ".join(EMPTY_CAUSES) + "."
                )
            return None
        self.batches_served += 1
        self.frames_served += self.batch_size
        return np.ascontiguousarray(np.stack(frames))

    def read_cache(self) -> bytes | None:
        """The cache's bytes if the file exists (TensorRT then skips calibration), else None."""
        if self.cache_path is not None and self.cache_path.is_file():
            data = self.cache_path.read_bytes()
            log.info("using calibration cache %s (%d bytes)", self.cache_path, len(data))
            return data or None
        return None

    def write_cache(self, data: bytes | memoryview) -> None:
        if self.cache_path is not None:
            write_bytes_atomic(self.cache_path, bytes(data))
            log.info("wrote calibration cache %s", self.cache_path)


def _tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as err:
        raise MissingDependencyError(
            "the legacy INT8 calibrator needs TensorRT's Python package (JetPack's python3-libnvinfer, or "
            "`pip install tensorrt` on x86); TensorRT 11+ has no calibrator — use `skyseg quantize` instead."
        ) from err
    major = int(trt.__version__.split(".")[0])
    if major >= 11:
        raise SkysegError(
            f"TensorRT {trt.__version__} removed implicit INT8 calibration; build from the Q/DQ ONNX written by "
            f"`skyseg quantize` instead."
        )
    return trt


def make_calibrator(
    batches: Iterable[np.ndarray], cache_path: Path | str | None, method: str = "entropy", batch_size: int = 1
) -> Any:
    """A TensorRT IInt8EntropyCalibrator2 (method="entropy") or IInt8MinMaxCalibrator ("minmax") instance.

    `batches` yields float32 arrays from skyseg's `preprocess` (the same tensors the runtime feeds); they are
    copied into one device buffer per batch. Only TensorRT ≤ 10.
    """
    if method not in ("entropy", "minmax"):
        raise InputError(f"legacy calibration method must be 'entropy' or 'minmax', got '{method}'.")
    trt = _tensorrt()
    cudart = import_cudart()
    base = trt.IInt8EntropyCalibrator2 if method == "entropy" else trt.IInt8MinMaxCalibrator

    class SkysegCalibrator(base):  # type: ignore[misc, valid-type]
        """Streams skyseg-preprocessed batches into device memory; caches the scales."""

        def __init__(self) -> None:
            base.__init__(self)
            self.batcher = CalibrationBatcher(batches, cache_path, batch_size)
            self.device_ptr: int | None = None
            self.nbytes = 0

        def get_batch_size(self) -> int:
            return self.batcher.batch_size

        def get_batch(self, names: list[str], p_str: Any = None) -> list[int] | None:
            batch = self.batcher.next_batch()
            if batch is None:
                return None
            if self.device_ptr is None:
                self.nbytes = batch.nbytes
                self.device_ptr = int(cuda_check(cudart.cudaMalloc(self.nbytes), "cudaMalloc"))
            cuda_check(cudart.cudaMemcpy(self.device_ptr, batch.ctypes.data, self.nbytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice), "cudaMemcpy")
            return [self.device_ptr] * len(names)

        def read_calibration_cache(self) -> bytes | None:
            return self.batcher.read_cache()

        def write_calibration_cache(self, cache: Any) -> None:
            self.batcher.write_cache(cache)

        def free(self) -> None:
            if self.device_ptr is not None:
                cuda_check(cudart.cudaFree(self.device_ptr), "cudaFree")
                self.device_ptr = None

        def __del__(self) -> None:
            try:
                self.free()
            except Exception:  # interpreter shutdown: CUDA may already be gone
                pass

    return SkysegCalibrator()


def calibration_batches(calib_dir: Path | str, input_hw: tuple[int, int]) -> Iterator[np.ndarray]:
    """[1, 3, H, W] tensors of a calibration set, preprocessed by the runtime (feed to `make_calibrator`)."""
    from skyseg.calib.calib_set import CalibrationSet, iter_tensors

    for _, tensor, _ in iter_tensors(CalibrationSet.load(calib_dir).entries, input_hw):
        yield tensor
