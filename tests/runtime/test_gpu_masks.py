"""GPU sky-mask assembly: its resample model matches MaskDecoder.to_frame (runs everywhere); the CuPy/CUDA path
matches MaskDecoder.sky_mask at IoU ≥ 0.999 (runs where CuPy and a GPU are present, else skips with the reason)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from skyseg.runtime.gpu_masks import frame_affine, resample_reference
from skyseg.runtime.letterbox import letterbox_geometry
from skyseg.runtime.mask_decode import MaskDecoder

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
def test_resample_model_matches_mask_decoder(hw: tuple[int, int]) -> None:
    protos, coeffs, boxes = _case(20)
    dec = MaskDecoder(protos, letterbox_geometry(hw, (640, 640)))
    union, _ = dec.union_logits(coeffs, boxes)
    ref = dec.to_frame(union)
    assert 0.2 < ref.mean() < 0.95  # a mask with real edges, not all or nothing
    got = resample_reference(union, frame_affine(dec), hw)
    assert got.shape == hw
    assert _iou(ref, got) >= 0.9999


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
    from skyseg.runtime.gpu_masks import GpuMaskAssembler

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
