"""GPU letterbox: its NumPy model matches the CPU preprocessing (runs everywhere); the CUDA kernel matches both
(runs where CuPy and a GPU are present, else skips with the reason)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from skyseg.runtime.process.gpu_preprocess import letterbox_reference
from skyseg.runtime.process.preprocess import preprocess

CASES = [((720, 1280, 3), (640, 640)), ((1040, 1392), (640, 640)), ((1699, 1699, 3), (640, 640)),
         ((37, 53, 3), (64, 96)), ((720, 1280, 3), (384, 640)), ((480, 640, 3), (640, 640))]


def _frame(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.5) if min(shape[:2]) > 100 else img


@pytest.mark.parametrize(("shape", "dst"), CASES)
def test_kernel_model_matches_cpu_preprocess(shape: tuple[int, ...], dst: tuple[int, int]) -> None:
    frame = _frame(shape)
    ref, ref_info = preprocess(frame, dst)
    model, info = letterbox_reference(frame, dst)
    assert info == ref_info and model.shape == ref.shape == (1, 3, *dst)
    diff = np.abs(model - ref)
    assert diff.max() <= 1 / 255 + 1e-6
    assert (diff > 0.5 / 255).mean() < 0.2  # most pixels identical; OpenCV's fixed point differs by one level
    pad = (slice(None), slice(None), slice(0, info.pad_top), slice(None))
    np.testing.assert_array_equal(model[pad], ref[pad])  # the padding bit-identical to the CPU path's
    assert ref[pad].size == 0 or ref[pad].min() == ref[pad].max() == np.float32(114) * np.float32(1 / 255)


def _cupy_with_gpu():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed (GPU tests run on the lent GPU machine)")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU visible to CuPy")
    except Exception as err:  # CUDARuntimeError without a driver
        pytest.skip(f"no usable CUDA GPU: {err}")
    return cp


@pytest.mark.gpu
@pytest.mark.parametrize(("shape", "dst"), CASES)
def test_gpu_letterbox_matches_cpu(shape: tuple[int, ...], dst: tuple[int, int]) -> None:
    _cupy_with_gpu()
    from skyseg.runtime.process.gpu_preprocess import GpuPreprocessor

    frame = _frame(shape, 1)
    gpu = GpuPreprocessor(dst)
    out, info = gpu(frame)
    got = out.get()
    ref, ref_info = preprocess(frame, dst)
    assert info == ref_info
    assert np.abs(got - ref).max() <= 1 / 255 + 1e-6
    model, _ = letterbox_reference(frame, dst)
    assert np.abs(got - model).max() <= 1e-6  # the kernel is exactly its NumPy model


@pytest.mark.gpu
def test_gpu_letterbox_writes_into_given_buffer_and_checks_input() -> None:
    cp = _cupy_with_gpu()
    from skyseg.runtime.process.gpu_preprocess import GpuPreprocessor

    gpu = GpuPreprocessor((64, 96))
    buf = cp.zeros((1, 3, 64, 96), dtype=cp.float32)
    out, _ = gpu(_frame((37, 53, 3)), out=buf)
    assert out is buf and float(buf.max()) > 0
    with pytest.raises(ValueError, match="GPU letterbox expects uint8"):
        gpu(np.zeros((10, 10, 3), np.uint16))
