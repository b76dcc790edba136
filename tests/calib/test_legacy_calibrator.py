"""Legacy (TensorRT ≤ 10) calibrator: batching and cache logic without TensorRT; the factory's import guard."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skyseg.calib.legacy_calibrator import CalibrationBatcher, calibration_batches, make_calibrator
from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.runtime.process.preprocess import preprocess


def _frames(n: int, hw: tuple[int, int] = (8, 8)) -> list[np.ndarray]:
    return [np.full((1, 3, *hw), i / 10, dtype=np.float32) for i in range(n)]


@pytest.mark.parametrize(("n", "batch", "served", "dropped"), [(7, 3, 2, 1), (6, 3, 2, 0), (5, 1, 5, 0)])
def test_batches_are_contiguous_and_short_last_batch_is_dropped(n: int, batch: int, served: int,
                                                                dropped: int) -> None:
    b = CalibrationBatcher(_frames(n), None, batch)
    got = []
    while (x := b.next_batch()) is not None:
        assert x.shape == (batch, 3, 8, 8) and x.flags.c_contiguous and x.dtype == np.float32
        got.append(x)
    assert len(got) == served and b.dropped == dropped and b.frames_served == served * batch
    values = np.concatenate(got)[:, 0, 0, 0]
    np.testing.assert_allclose(values, np.arange(served * batch) / 10, rtol=1e-6)  # order kept, no padding
    assert b.next_batch() is None


def test_multi_frame_arrays_are_split_into_frames() -> None:
    b = CalibrationBatcher([np.zeros((4, 3, 8, 8), np.float32)], None, 2)
    assert b.next_batch().shape == (2, 3, 8, 8) and b.next_batch().shape == (2, 3, 8, 8) and b.next_batch() is None


@pytest.mark.parametrize("frames", [[], _frames(2)])
def test_empty_set_is_an_error_listing_causes(frames: list[np.ndarray]) -> None:
    b = CalibrationBatcher(frames, None, batch_size=4)
    with pytest.raises(InputError, match="no complete batch; likely causes: .*calib select.*failed to decode.*batch"):
        b.next_batch()


def test_wrong_dtype_or_shape_is_rejected() -> None:
    with pytest.raises(InputError, match="float32 \\[b, 3, H, W\\]"):
        CalibrationBatcher([np.zeros((1, 3, 8, 8), np.uint8)], None).next_batch()
    b = CalibrationBatcher([np.zeros((1, 3, 8, 8), np.float32), np.zeros((1, 3, 4, 4), np.float32)], None)
    b.next_batch()
    with pytest.raises(InputError, match="differs from the first"):
        b.next_batch()


def test_cache_round_trip(tmp_path: Path) -> None:
    cache = tmp_path / "sub" / "calib.cache"
    b = CalibrationBatcher([], cache)
    assert b.read_cache() is None
    payload = b"TRT-8601-EntropyCalibration2\nimages: 3c010a14\n"
    b.write_cache(memoryview(payload))
    assert cache.read_bytes() == payload
    assert CalibrationBatcher([], cache).read_cache() == payload
    assert not list(cache.parent.glob(".*"))  # atomic write left no temp file


def test_batches_come_from_the_runtime_preprocess(synth_calib: Path) -> None:
    from skyseg.calib.calib_set import CalibrationSet, read_rgb

    got = list(calibration_batches(synth_calib, (64, 96)))
    entries = CalibrationSet.load(synth_calib).entries
    assert len(got) == len(entries)
    assert np.array_equal(got[0], preprocess(read_rgb(entries[0].path), (64, 96))[0])


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_factory_without_tensorrt_names_the_package() -> None:
    with pytest.raises(MissingDependencyError, match="TensorRT's Python package"):
        make_calibrator(_frames(2), None)


def test_factory_with_tensorrt() -> None:
    trt = pytest.importorskip("tensorrt", reason="needs TensorRT ≤ 10 and a GPU")
    if int(trt.__version__.split(".")[0]) >= 11:
        pytest.skip("TensorRT 11 has no implicit INT8 calibrator")
    calibrator = make_calibrator(_frames(2), None, "minmax")
    assert isinstance(calibrator, trt.IInt8MinMaxCalibrator) and calibrator.get_batch_size() == 1
