"""Engine files: raw plan vs Ultralytics header, the sidecar, and every corrupt-header case."""
from __future__ import annotations

import json
import struct

import pytest

from skyseg.runtime.backends.engine_file import (
    MAX_HEADER_BYTES,
    PLAN_MAGIC,
    read_engine_file,
    sidecar_path,
    split_engine_bytes,
    write_engine_file,
)
from skyseg.runtime.errors import InputError, ModelContractError

PLAN = PLAN_MAGIC + bytes(range(256)) * 4  # looks like a TensorRT plan: the tag, then opaque bytes
META = {"task": "segment", "imgsz": [384, 640], "names": {"0": "sky"}, "stride": 32, "batch": 1}


def test_raw_plan_is_written_byte_for_byte_with_sidecar(tmp_path):
    path = write_engine_file(tmp_path / "m.engine", PLAN, META, ultralytics_header=False,
                             sidecar={"metadata": META, "tensorrt_version": "10.3.0", "precision": "fp16"})
    assert path.read_bytes() == PLAN  # trtexec/DeepStream read exactly the plan
    doc = json.loads(sidecar_path(path).read_text())
    assert doc["metadata"] == META and doc["tensorrt_version"] == "10.3.0" and doc["layout"] == "raw-plan"
    assert doc["plan_bytes"] == len(PLAN)
    eng = read_engine_file(path)
    assert eng.plan == PLAN and not eng.has_header and eng.metadata == META  # metadata from the sidecar


def test_ultralytics_header_layout_round_trips(tmp_path):
    path = write_engine_file(tmp_path / "m.engine", PLAN, META, ultralytics_header=True)
    data = path.read_bytes()
    (length,) = struct.unpack("<i", data[:4])
    assert json.loads(data[4 : 4 + length]) == META  # the layout Ultralytics' AutoBackend reads
    assert data[4 + length :] == PLAN
    sidecar_path(path).unlink()  # the header alone is enough
    eng = read_engine_file(path)
    assert eng.has_header and eng.plan == PLAN and eng.metadata == META and eng.sidecar is None


def test_no_temp_files_left(tmp_path):
    write_engine_file(tmp_path / "m.engine", PLAN, META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.engine", "m.engine.json"]


def _with_header(length: int, body: bytes) -> bytes:
    return struct.pack("<i", length) + body


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_with_header(5000, b'{"a": 1}' + PLAN), "claiming 5000 bytes but the file holds"),  # length past EOF
        (_with_header(-7, b'{"a": 1}' + PLAN), "length field -7"),  # negative
        (_with_header(0, PLAN), "length field 0"),
        (_with_header(8, b"not json" + PLAN), "not UTF-8 JSON"),  # non-JSON
        (_with_header(4, b"\xff\xfe\xfd\xfc" + PLAN), "not UTF-8 JSON"),
        (_with_header(2, b"[]" + PLAN), "holds a JSON list"),
        (_with_header(8, b'{"a": 1}'), "no plan after it"),  # truncated after the header
        (_with_header(8, b'{"a": 1}' + b"garbage!"), "do not start with TensorRT"),
        (b"\x01\x00", "too short"),  # truncated inside the length field
        (b"", "too short"),
        (_with_header(MAX_HEADER_BYTES + 1, b"{}"), f"claiming {MAX_HEADER_BYTES + 1} bytes"),
    ],
)
def test_corrupt_headers_raise_clear_errors(tmp_path, data, fragment):
    with pytest.raises(ModelContractError, match="rebuild") as err:
        split_engine_bytes(data, name="m.engine")
    assert fragment in str(err.value)
    path = tmp_path / "bad.engine"
    path.write_bytes(data)
    with pytest.raises(ModelContractError):
        read_engine_file(path)


def test_truncated_plan_after_valid_header_is_reported(tmp_path):
    full = _with_header(len(b'{"x":1}'), b'{"x":1}') + PLAN
    with pytest.raises(ModelContractError, match="claiming"):
        split_engine_bytes(full[:6])  # cut inside the JSON


def test_missing_engine_and_corrupt_sidecar(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_engine_file(tmp_path / "none.engine")
    path = write_engine_file(tmp_path / "m.engine", PLAN, META)
    sidecar_path(path).write_text("{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        read_engine_file(path)
