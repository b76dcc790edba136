"""Model metadata: Ultralytics' keys (so `ultralytics.YOLO("model.onnx")` loads it) plus skyseg's own.

ONNX keeps metadata as string `metadata_props`; Ultralytics writes every value with `str()` (Python literals such as
`"{0: 'sky'}"`) and reads them back with `ast.literal_eval`. We do the same, and give engines the decoded dict.
"""
from __future__ import annotations

import ast
import importlib.metadata
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import onnx

from skyseg.runtime.process.letterbox import PAD_VALUE

SKYSEG_PREFIX = "skyseg_"
# Values Ultralytics itself decodes from strings; skyseg's structured keys are decoded the same way.
_LITERAL_KEYS = {"stride", "batch", "channels", "imgsz", "names", "kpt_shape", "args", "end2end", "dynamic"}
_SKYSEG_LITERAL_KEYS = {"skyseg_preprocess", "skyseg_input_shape", "skyseg_calibration", "skyseg_train_imgsz"}


def preprocess_contract() -> dict[str, Any]:
    """What a consumer must do to frames before the model: the contract `skyseg.runtime.process.preprocess` implements."""
    return {
        "letterbox": "ultralytics LetterBox(auto=False, center=True), bilinear resize",
        "pad_value": PAD_VALUE,
        "scale": "0-1 (uint8 / 255)",
        "channel_order": "RGB",
        "layout": "NCHW",
        "dtype": "float32",
        "stretch": "skyseg.runtime.process.stretch.stretch_to_uint8 (percentile 0.5-99.9 + asinh) for >8-bit frames",
    }


def build_metadata(
    *,
    names: dict[int, str],
    stride: int,
    imgsz: tuple[int, int],
    batch: int,
    dynamic: str,
    half: bool,
    opset: int,
    simplify: bool,
    source_sha256: str,
    source_name: str,
    precision: str,
    channels: int = 3,
    description: str | None = None,
    train_imgsz: int | None = None,
) -> dict[str, Any]:
    """The metadata dict (decoded values) for an exported model; `dynamic` is 'none', 'batch' or 'full'."""
    try:
        skyseg_version = importlib.metadata.version("skyseg")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        skyseg_version = "unknown"
    try:  # the distribution's version, without importing (and configuring) Ultralytics
        ul_version = importlib.metadata.version("ultralytics")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - export always has Ultralytics
        ul_version = "unknown"
    return {
        "description": description or f"skyseg night-sky segmentation model from {source_name}",
        "author": "skyseg",
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "version": ul_version,  # Ultralytics reads this as the exporter's Ultralytics version
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "stride": int(stride),
        "task": "segment",
        "batch": int(batch),
        "imgsz": [int(imgsz[0]), int(imgsz[1])],
        "names": {int(k): str(v) for k, v in names.items()},
        "args": {
            "batch": int(batch),
            "imgsz": [int(imgsz[0]), int(imgsz[1])],
            "half": bool(half),
            "dynamic": dynamic != "none",
            "simplify": bool(simplify),
            "opset": int(opset),
            "nms": False,
        },
        "channels": int(channels),
        "end2end": False,
        "skyseg_version": skyseg_version,
        "skyseg_source": source_name,
        "skyseg_source_sha256": source_sha256,
        "skyseg_preprocess": preprocess_contract(),
        "skyseg_precision": precision,
        "skyseg_dynamic_axes": {"none": "", "batch": "batch", "full": "batch,height,width"}[dynamic],
        "skyseg_train_imgsz": int(train_imgsz) if train_imgsz else "",  # "" when unknown (a .yaml, no training)
    }


def encode_value(value: Any) -> str:
    """A metadata value as Ultralytics stores it in ONNX: `str()` of the Python value (strings unchanged)."""
    return value if isinstance(value, str) else str(value)


def decode_metadata(props: dict[str, str]) -> dict[str, Any]:
    """ONNX string metadata → Python values for the keys that hold literals; other strings stay strings."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key in _LITERAL_KEYS or key in _SKYSEG_LITERAL_KEYS:
            try:
                out[key] = ast.literal_eval(value)
                continue
            except (ValueError, SyntaxError):
                pass
        out[key] = value
    return out


def set_onnx_metadata(model: onnx.ModelProto, metadata: dict[str, Any]) -> None:
    """Replace `model.metadata_props` with `metadata`, encoded as Ultralytics does."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(key), encode_value(value)


def read_onnx_metadata(model: onnx.ModelProto | str | os.PathLike[str]) -> dict[str, Any]:
    """Decoded metadata of an ONNX model (or file; weights are not loaded)."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(Path(model)), load_external_data=False)
    return decode_metadata({p.key: p.value for p in model.metadata_props})
