"""Where the bundled model lives: `skyseg/models/weights/skyseg-n.onnx` inside the installed package.

Found through the import system's spec for `skyseg.models` WITHOUT importing it (its __init__ configures
Ultralytics for the training side; the runtime must not pay for that, nor import PyTorch).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from skyseg.runtime.errors import InputError

BUNDLED_NAME = "skyseg-n.onnx"


def weights_dir() -> Path | None:
    """The installed `skyseg.models/weights` folder, or None when skyseg.models is not installed."""
    spec = importlib.util.find_spec("skyseg.models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "weights"


def bundled_model_path(name: str = BUNDLED_NAME) -> Path:
    """Path of the bundled ONNX model, or InputError saying how to get one."""
    folder = weights_dir()
    path = folder / name if folder is not None else None
    if path is None or not path.is_file():
        where = str(path) if path is not None else f"skyseg/models/weights/{name}"
        raise InputError(f"the bundled model {where} is not installed; pass --model PATH to an .onnx or .engine "
                         "file (export one with `skyseg export`)")
    return path
