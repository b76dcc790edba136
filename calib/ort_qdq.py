"""TensorRT-compatible Q/DQ quantization with ONNX Runtime's static quantizer.

Settings chosen for TensorRT's explicit quantization: QDQ format, signed INT8 for activations and weights with
symmetric ranges (zero point 0), per-channel weights. Conv outputs keep their Q/DQ (ONNX Runtime's CPU kernels
need DQ→Conv→Q to fuse into an integer conv; TensorRT builds either placement). Calibration runs once and is kept in ONNX Runtime's JSON
range cache, so sensitivity trials re-quantize in about a second without running calibration again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import onnx

from skyseg.calib.calib_set import CalibEntry, iter_tensors
from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

METHODS = ("entropy", "minmax", "percentile")


@dataclass(frozen=True)
class QdqSettings:
    """How activations are calibrated and weights quantized."""

    method: str = "entropy"
    percentile: float = 99.999  # for method="percentile"
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown calibration method '{self.method}'; choose one of {', '.join(METHODS)}.")


def _ort_quant():  # noqa: ANN202 - a module
    from onnxruntime import quantization  # train-side dependency, imported where used

    return quantization


def _calibration_method(settings: QdqSettings):  # noqa: ANN202
    q = _ort_quant()
    return {
        "entropy": q.CalibrationMethod.Entropy,
        "minmax": q.CalibrationMethod.MinMax,
        "percentile": q.CalibrationMethod.Percentile,
    }[settings.method]


def _extra_options(settings: QdqSettings) -> dict:
    return {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
    }


class PreprocessedReader:
    """ONNX Runtime CalibrationDataReader over stored frames, preprocessed by the runtime's `preprocess`."""

    def __init__(self, entries: list[CalibEntry], input_name: str, input_hw: tuple[int, int]) -> None:
        if not entries:
            raise InputError(
                "the calibration split is empty; likely causes: the set has too few frames for --holdout, "
                "or selection found no readable frames."
            )
        self.entries = entries
        self.input_name = input_name
        self.input_hw = input_hw
        self.count = 0
        self._it: Iterable | None = None

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = iter(iter_tensors(self.entries, self.input_hw))
        item = next(self._it, None)  # type: ignore[call-overload]
        if item is None:
            return None
        self.count += 1
        if self.count % 50 == 0:
            log.info("calibration: %d/%d frames", self.count, len(self.entries))
        return {self.input_name: item[1]}

    def rewind(self) -> None:
        self._it = None
        self.count = 0

    def __len__(self) -> int:
        return len(self.entries)


class _DropPreprocessHint(logging.Filter):
    """quantize_static logs a "consider pre-processing" hint on the root logger on every call. It is about ORT's
    own CPU graph rewriting, which we skip on purpose so the graph TensorRT sees stays the exported one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage()


def _quiet_ort_root_warnings() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _DropPreprocessHint) for f in root.filters):
        root.addFilter(_DropPreprocessHint())


def calibrate(
    model_path: Path,
    entries: list[CalibEntry],
    input_name: str,
    input_hw: tuple[int, int],
    settings: QdqSettings,
    cache_path: Path,
    scratch_dir: Path,
) -> None:
    """Run calibration once and store the activation ranges in `cache_path` (ONNX Runtime's JSON range cache).

    Uses the same calibrator, op types and options `quantize_static` would, without its quantization pass.
    """
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    reader = PreprocessedReader(entries, input_name, input_hw)
    log.info("calibrating %s on %d frames (%s)", model_path.name, len(entries), settings.method)
    calibrator = create_calibrator(
        Path(model_path),
        sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
        augmented_model_path=str(scratch_dir / "augmented.onnx"),
        calibrate_method=_calibration_method(settings),
        extra_options={"max_intermediate_outputs": 16, "percentile": settings.percentile},
    )
    calibrator.collect_data(reader)
    if reader.count == 0:
        raise InputError("calibration read 0 frames; the calibration set is empty or unreadable.")
    save_tensors_data(calibrator.compute_data(), cache_path)


def quantize_cached(
    model_path: Path,
    output_path: Path,
    cache_path: Path,
    settings: QdqSettings,
    nodes_to_exclude: list[str],
    nodes_to_quantize: list[str] | None = None,
) -> onnx.ModelProto:
    """Quantize with ranges from `cache_path`, skipping `nodes_to_exclude` (and, if given, only `nodes_to_quantize`)."""
    q = _ort_quant()
    _quiet_ort_root_warnings()
    q.quantize_static(
        str(model_path),
        str(output_path),
        calibration_data_reader=None,
        quant_format=q.QuantFormat.QDQ,
        activation_type=q.QuantType.QInt8,
        weight_type=q.QuantType.QInt8,
        per_channel=settings.per_channel,
        reduce_range=False,
        nodes_to_exclude=list(nodes_to_exclude),
        nodes_to_quantize=list(nodes_to_quantize) if nodes_to_quantize else None,
        calibrate_method=_calibration_method(settings),
        extra_options=_extra_options(settings),
        calibration_cache_path=str(cache_path),
    )
    return onnx.load(str(output_path))
