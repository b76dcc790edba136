"""Segmenter (the embedding API) and the end-to-end bench entry point, on real frames and a real ONNX model."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.frame import Frame
from skyseg.runtime.process.postprocess import postprocess
from skyseg.runtime.process.preprocess import preprocess
from skyseg.runtime.process.segmenter import Segmenter



@pytest.fixture(scope="module")
def backend(core_models):
    with open_backend(core_models.oracle_onnx(320), backend="ort", threads=1) as be:
        yield be


@pytest.fixture(scope="module")
def fits_frame(realsky_dir: Path) -> np.ndarray:
    from astropy.io import fits

    return np.squeeze(fits.getdata(realsky_dir / "iceact_cloudy.fits"))  # 16-bit gray, 480×640


def test_segment_equals_preprocess_infer_postprocess(backend, fits_frame: np.ndarray) -> None:
    seg = Segmenter(backend, conf=0.25, iou=0.7)
    res = seg.segment(fits_frame)
    x, info = preprocess(fits_frame, backend.input_hw)  # THE shared preprocessing
    out = backend.infer(x)
    ref = postprocess(out["output0"], out["output1"], info)
    assert np.array_equal(res.sky_mask, ref.sky_mask) and np.array_equal(res.scores, ref.scores)
    assert res.sky_mask.shape == fits_frame.shape and 0.1 < res.sky_fraction < 1.0
    assert set(res.timings) == {"pre", "infer", "post"} and all(v > 0 for v in res.timings.values())



def test_record_is_the_whole_frame_or_an_error_row(backend, fits_frame: np.ndarray) -> None:
    from skyseg.runtime.frame import Frame

    seg = Segmenter(backend, conf=0.25, iou=0.7)
    record = seg.record(Frame(fits_frame, 5, "cam", 123.0, "/night/a.fits"))
    assert record.ok and record.error is None and record.path == "/night/a.fits" and record.stem() == "a"
    assert record.rgb8.shape == (*fits_frame.shape, 3) and record.rgb8.dtype == np.uint8  # gray shown as RGB
    assert (record.result.index, record.result.source_id, record.result.timestamp) == (5, "cam", 123.0)
    assert np.array_equal(record.result.sky_mask, seg.segment(fits_frame).sky_mask)
    bad = seg.record(Frame(np.zeros((4, 4, 5), np.uint8), 6, "cam", 124.0, "/night/b.png"))
    assert not bad.ok and bad.rgb8 is None and "shape" in bad.error.message and bad.error.index == 6


def test_gray_frames_letterbox_as_one_channel_with_the_same_bytes(fits_frame: np.ndarray) -> None:
    from skyseg.runtime.process.letterbox import letterbox
    from skyseg.runtime.process.preprocess import to_display8, to_rgb8

    gray = to_display8(fits_frame)
    assert gray.shape == fits_frame.shape and gray.dtype == np.uint8
    for hw in ((320, 320), (256, 448), (480, 640)):
        one, info1 = letterbox(gray, hw)
        three, info3 = letterbox(to_rgb8(fits_frame), hw)
        assert info1 == info3 and one.shape == (*hw, 3) and np.array_equal(one, three)


def test_segment_frame_carries_identity(backend, fits_frame: np.ndarray) -> None:
    seg = Segmenter(backend)
    frame = Frame(pixels=fits_frame, index=7, source_id="night", timestamp=1.7e9, path="/x/iceact.fits")
    res = seg.segment_frame(frame)
    assert (res.index, res.source_id, res.path, res.timestamp) == (7, "night", "/x/iceact.fits", 1.7e9)
    rgb = np.repeat((fits_frame >> 8).astype(np.uint8)[..., None], 3, axis=2)
    assert seg.segment(rgb).sky_mask.shape == fits_frame.shape  # 8-bit RGB frames too


def test_segmenter_rejects_bad_thresholds(backend) -> None:
    with pytest.raises(ValueError, match="need 0 ≤ conf, iou ≤ 1 and max_det ≥ 1"):
        Segmenter(backend, conf=1.5)


def test_bench_e2e_prints_all_numbers(core_models) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "skyseg.bench.e2e", "--model", str(core_models.oracle_onnx(320)),
         "--frames", "3", "--no-ultralytics", "--no-pin"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "end-to-end" in proc.stdout and "e2e / raw" in proc.stdout
    assert "post-processing with 50 instances" in proc.stdout


def test_segmenter_choice(backend) -> None:
    from skyseg.runtime.errors import InputError
    from skyseg.runtime.pipeline import RunConfig, make_segmenter

    cfg = RunConfig(source="x", model="m.onnx")
    assert type(make_segmenter(backend, cfg)) is Segmenter  # ONNX Runtime: pre/post on the CPU
    with pytest.raises(InputError, match=r"--gpu-prepost on\) needs the TensorRT backend"):
        make_segmenter(backend, RunConfig(source="x", model="m.onnx", gpu_prepost="on"))


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_gpu_segmenter_matches_cpu(realsky_dir: Path) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (not installable on this CPU machine)")
    pytest.importorskip("cupy", reason="CuPy is not installed")
    from astropy.io import fits

    from skyseg.runtime.process.segmenter_gpu import GpuSegmenter

    engine = Path(__file__).resolve().parents[3] / "models" / "weights" / "skyseg-n.engine"
    if not engine.is_file():
        pytest.skip(f"no engine at {engine}; build one with `skyseg build` on the GPU machine")
    frame = np.squeeze(fits.getdata(realsky_dir / "magic_20180817_0055.fits"))
    with open_backend(engine, backend="trt") as be:
        cpu = Segmenter(be).segment(frame)
        gpu = GpuSegmenter(be).segment(frame)
    union = (cpu.sky_mask | gpu.sky_mask).sum()
    assert union == 0 or (cpu.sky_mask & gpu.sky_mask).sum() / union >= 0.99
