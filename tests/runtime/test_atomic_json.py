"""One atomic JSON writer (runtime/atomic_file.py): path first, NumPy values as plain JSON, the folder made."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.atomic_file import write_json_atomic, write_text_atomic


def test_json_with_numpy_values_lands_whole(tmp_path: Path) -> None:
    target = tmp_path / "new" / "report.json"
    doc = {"n": np.int64(3), "ok": np.bool_(True), "ms": np.float32(1.5), "hw": np.array([720, 1280]),
           "model": Path("m.onnx")}
    assert write_json_atomic(target, doc) == target
    assert json.loads(target.read_text()) == {"n": 3, "ok": True, "ms": 1.5, "hw": [720, 1280], "model": "m.onnx"}
    assert target.read_text().endswith("}\n") and [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_unserialisable_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_text_atomic(target, "old\n")
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        write_json_atomic(target, {"x": object()})
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
