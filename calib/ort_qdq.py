"""TensorRT-compatible Q/DQ quantization with ONNX Runtime's static quantizer.

Settings chosen for TensorRT's explicit quantization: QDQ format, signed INT8 for activations and weights with
symmetric ranges (zero point 0), per-channel weights as Q→DQ pairs on the float weights, float biases. Conv
outputs keep their Q/DQ (ONNX Runtime's CPU kernels need DQ→Conv→Q to fuse into an integer conv; TensorRT builds
either placement). Calibration runs once into ONNX Runtime's JSON range cache, so sensitivity trials only
re-quantize (a second or two) without running calibration again.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx

from skyseg.calib.calib_set import CalibEntry, iter_tensors
from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

METHODS = ("entropy", "minmax", "percentile")
CALIB_CHUNK = 16  # frames per collect call: bounds calibration memory


@dataclass(frozen=True)
class QdqSettings:
    """How activations are calibrated and weights quantized."""

    method: str = "entropy"
    percentile: float = 99.999  # for method="percentile"
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown calibration method '{self.method}'; choose one of {', '.join(METHODS)}.")


def _ort_quant():  # a module
    from onnxruntime import quantization  # train-side dependency, imported where used

    return quantization


def _calibration_method(settings: QdqSettings):
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
        # TensorRT's ONNX parser accepts DequantizeLinear only on computed (float-typed) tensors: weights go in as
        # float initializer → QuantizeLinear → DequantizeLinear (folded to INT8 by the parser), and biases stay
        # float (an INT32 bias DQ fails to parse: onnx/onnx-tensorrt#850, microsoft/onnxruntime#14229).
        "AddQDQPairToWeight": True,
        "QuantizeBias": False,
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
        self._it: Iterator | None = None

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = iter(iter_tensors(self.entries, self.input_hw))
        item = next(self._it, None)
        if item is None:
            return None
        self.count += 1
        return {self.input_name: item[1]}

    def rewind(self) -> None:
        self._it = None
        self.count = 0

    def __len__(self) -> int:
        return len(self.entries)


class _DropPreprocessHint(logging.Filter):
    """ONNX Runtime's quantizer logs on the ROOT logger: a "consider pre-processing" warning on every call (about
    ORT's own CPU graph rewriting, skipped on purpose so TensorRT sees the exported graph) and one INFO line per
    adjusted bias scale. Keep its real warnings, drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "root":
            return True
        return record.levelno >= logging.WARNING and "pre-process" not in record.getMessage()


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

    if not entries:
        raise InputError(
            "the calibration split is empty; likely causes: the set has too few frames for --holdout, or selection "
            "found no readable frames."
        )
    log.info("calibrating %s on %d frames (%s)", model_path.name, len(entries), settings.method)
    calibrator = create_calibrator(
        Path(model_path),
        sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
        augmented_model_path=str(scratch_dir / "augmented.onnx"),
        calibrate_method=_calibration_method(settings),
        # no "max_intermediate_outputs": ORT 1.32's MinMax calibrator DISCARDS the outputs when that count is reached
        # (clear without compute); chunking below bounds memory instead
        extra_options={"percentile": settings.percentile},
    )
    chatter = io.StringIO()  # ORT's histogram calibrators print progress to stdout
    with contextlib.redirect_stdout(chatter):
        # ORT's histogram calibrators keep every intermediate output of one collect call in memory (GBs for a few
        # hundred frames); their histograms merge across calls, so feed chunks.
        for start in range(0, len(entries), CALIB_CHUNK):
            calibrator.collect_data(PreprocessedReader(entries[start : start + CALIB_CHUNK], input_name, input_hw))
            log.info("calibration: %d/%d frames", min(start + CALIB_CHUNK, len(entries)), len(entries))
        ranges = calibrator.compute_data()
    log.debug("onnxruntime calibrator: %s", chatter.getvalue().strip())
    staged = scratch_dir / "ranges.staged.json"
    save_tensors_data(ranges, staged)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, cache_path)  # atomic: a cache is either complete or absent


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
