"""GPU sky-mask assembly: its resample model matches MaskDecoder.to_frame (runs everywhere); the CuPy/CUDA path
matches MaskDecoder.sky_mask at IoU ≥ 0.999 (runs where CuPy and a GPU are present, else skips with the reason)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from skyseg.runtime.process.letterbox import letterbox_geometry
from skyseg.runtime.process.mask_decode import MaskDecoder, bilinear_threshold

FRAMES = [(720, 1280), (480, 640), (1040, 1392), (1699, 1699), (3040, 4056), (333, 517)]


def _case(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    protos = np.stack([cv2.GaussianBlur(rng.standard_normal((160, 160)).astype(np.float32), (0, 0), 8) * 20
                       for _ in range(32)])
    coeffs = rng.standard_normal((n, 32)).astype(np.float32)
    xy = rng.uniform(0, 500, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(40, 400, (n, 2)), 640)], axis=1).astype(np.float32)
    return protos, coeffs, boxes


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize("hw", FRAMES)
def test_frame_resample_is_exact_bilinear(hw: tuple[int, int]) -> None:
    """to_frame against float64 bilinear sampling of the window at every frame pixel centre: only pixels whose
    exact value is within float32 rounding of 0 may differ, whichever OpenCV is installed."""
    protos, coeffs, boxes = _case(20)
    dec = MaskDecoder(protos, letterbox_geometry(hw, (640, 640)))
    union, _ = dec.union_logits(coeffs, boxes)
    got = dec.to_frame(union)
    assert got.shape == hw and 0.2 < got.mean() < 0.95  # a mask with real edges, not all or nothing
    ax, bx, ay, by = dec.frame_affine()
    u = union.astype(np.float64)
    sh, sw = u.shape

    def axis(n, a, b, size):
        f = a * np.arange(n, dtype=np.float64) + b
        i0 = np.floor(f)
        return np.clip(i0, 0, size - 1).astype(int), np.clip(i0 + 1, 0, size - 1).astype(int), f - i0

    x0, x1, fx = axis(hw[1], ax, bx, sw)
    y0, y1, fy = axis(hw[0], ay, by, sh)
    rows = (1 - fx) * u[:, x0] + fx * u[:, x1]
    exact = (1 - fy)[:, None] * rows[y0] + fy[:, None] * rows[y1]
    differ = got != (exact > 0)
    assert np.all(np.abs(exact[differ]) <= 1e-5 * np.abs(u).max()), (differ.sum(), np.abs(exact[differ]).max())
    exact_np = bilinear_threshold(union, (ax, bx, ay, by), hw)  # the GPU kernel's reference, on every OpenCV
    differ = exact_np != (exact > 0)
    assert np.all(np.abs(exact[differ]) <= 1e-5 * np.abs(u).max())


def _cupy_with_gpu():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed (GPU tests run on the lent GPU machine)")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU visible to CuPy")
    except Exception as err:  # CUDARuntimeError without a driver
        pytest.skip(f"no usable CUDA GPU: {err}")
    return cp


@pytest.mark.gpu
@pytest.mark.parametrize("hw", FRAMES)
@pytest.mark.parametrize("n", [0, 1, 5, 50])
def test_gpu_sky_mask_matches_numpy(hw: tuple[int, int], n: int) -> None:
    cp = _cupy_with_gpu()
    from skyseg.runtime.process.gpu_masks import GpuMaskAssembler

    protos, coeffs, boxes = _case(n, seed=n)
    info = letterbox_geometry(hw, (640, 640))
    dec = MaskDecoder(protos, info)
    ref = dec.sky_mask(coeffs, boxes)
    gpu = GpuMaskAssembler()
    got = gpu.sky_mask(cp.asarray(protos), cp.asarray(coeffs), cp.asarray(boxes), info).get()
    assert got.shape == hw and got.dtype == np.bool_
    if n == 0:
        assert not got.any() and not ref.any()
    else:
        assert _iou(ref, got) >= 0.999
    _, ref_nonempty = dec.union_logits(coeffs, boxes)
    _, nonempty = gpu.union_logits(cp.asarray(protos), cp.asarray(coeffs), cp.asarray(boxes), info)
    np.testing.assert_array_equal(nonempty.get(), ref_nonempty)


def test_non_aligned_frames_resample_with_the_exact_numpy_model() -> None:
    protos, coeffs, boxes = _case(5)
    dec = MaskDecoder(protos, letterbox_geometry((1040, 1392), (640, 640)))
    assert not dec.aligned()
    union, _ = dec.union_logits(coeffs, boxes)
    got = dec.to_frame(union)
    assert np.array_equal(got, bilinear_threshold(union, dec.frame_affine(), (1040, 1392)))
    assert 0.05 < got.mean() < 0.95
