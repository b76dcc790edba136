"""Models for cross-backend verification: a tiny exported model, an exact copy, and two broken variants."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

IMGSZ = 160


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(weights.pt, model.onnx): stock yolo11n-seg layout, nc=1, frame-dependent scores, exported by Ultralytics."""
    import skyseg.models  # noqa: F401 - offline Ultralytics
    from ultralytics import YOLO

    from skyseg.export.fresh_weights import build_fresh_checkpoint

    root = tmp_path_factory.mktemp("verify-model")
    pt = build_fresh_checkpoint(root / "tiny.pt", imgsz=IMGSZ, active_fraction=0.01)
    return pt, Path(YOLO(str(pt)).export(format="onnx", imgsz=IMGSZ, simplify=True, verbose=False))


@pytest.fixture(scope="session")
def frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic night frames as 8-bit PNG files (what --images points at)."""
    from skyseg.synth import render_scene

    root = tmp_path_factory.mktemp("verify-frames")
    for i in range(8):
        img = render_scene(100 + i, kind="mixed", size=(320, 240)).image
        cv2.imwrite(str(root / f"night{i:02d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="session")
def copy_model(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("verify-copy") / "copy.onnx"
    shutil.copyfile(tiny_model[1], target)
    return target


@pytest.fixture(scope="session")
def perturbed_model(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same graph with one early Conv's weights scrambled by noise of 3× their spread."""
    model = onnx.load(str(tiny_model[1]))
    inits = {t.name: t for t in model.graph.initializer}
    conv = [n for n in model.graph.node if n.op_type == "Conv"][3]
    tensor = inits[conv.input[1]]
    weights = numpy_helper.to_array(tensor)
    noise = np.random.default_rng(0).normal(0.0, 3.0 * weights.std(), weights.shape).astype(weights.dtype)
    tensor.CopyFrom(numpy_helper.from_array(weights + noise, tensor.name))
    target = tmp_path_factory.mktemp("verify-broken") / "perturbed.onnx"
    onnx.save(model, str(target))
    return target


class _Reader:
    """ONNX Runtime calibration reader over a few preprocessed synthetic frames."""

    def __init__(self, count: int) -> None:
        from skyseg.runtime.process.preprocess import preprocess
        from skyseg.synth import render_scene

        self._items = iter([{"images": preprocess(render_scene(i, size=(320, 240)).image, (IMGSZ, IMGSZ))[0]}
                            for i in range(count)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


@pytest.fixture(scope="session")
def naive_int8_model(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Q/DQ INT8 of everything, the head's output Concat included: box pixels and 0–1 scores share one scale."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(_Reader, CalibrationDataReader):
        pass

    target = tmp_path_factory.mktemp("verify-int8") / "naive.int8.onnx"
    quantize_static(str(tiny_model[1]), str(target), Reader(4), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    return target
