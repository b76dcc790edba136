"""TensorRT engine files: the plan, an optional Ultralytics metadata header, and the JSON sidecar.

Two on-disk layouts are written and read:

* raw plan (default): exactly the bytes `IHostMemory` serialized, so trtexec, DeepStream and C++ load it;
* Ultralytics' layout: int32 little-endian length N, N bytes of UTF-8 JSON metadata, then the plan. Ultralytics'
  AutoBackend reads it; trtexec and DeepStream cannot (Ultralytics issues #19423, #22910).

Either way the metadata is ALSO written to `MODEL.engine.json` next to the engine, with the build facts
(TensorRT version, GPU, compute capability, precision, flags), so a raw plan is never anonymous.

Telling the layouts apart: serialized TensorRT plans begin with the ASCII tag ``ftrt`` (the plan header's
``kPLAN_MAGIC_TAG`` that TensorRT asserts on load, NVIDIA/TensorRT issue #2915; torch-tensorrt's engine
serializer tests ``startswith(b"ftrt")`` the same way). As an int32 length ``ftrt`` would be ~1.9 GB, far past any
metadata header, so the two layouts cannot be confused. Standard library only: the PyTorch-free
runtime imports it.
"""
from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyseg.runtime.atomic_file import temp_beside
from skyseg.runtime.errors import InputError, ModelContractError

log = logging.getLogger(__name__)

PLAN_MAGIC = b"ftrt"
SIDECAR_SUFFIX = ".json"  # MODEL.engine → MODEL.engine.json
MAX_HEADER_BYTES = 16 * 1024 * 1024  # metadata is a few KB; anything larger is corruption, not metadata
_LENGTH = struct.Struct("<i")  # Ultralytics writes len(meta).to_bytes(4, byteorder="little", signed=True)


@dataclass(frozen=True)
class EngineFile:
    """An engine read from disk: the plan bytes, the metadata (header, else sidecar), and the layout found."""

    plan: bytes
    metadata: dict[str, Any] = field(default_factory=dict)
    has_header: bool = False
    sidecar: dict[str, Any] | None = None  # the full sidecar, when one exists


def sidecar_path(engine_path: str | os.PathLike[str]) -> Path:
    """`MODEL.engine` → `MODEL.engine.json`."""
    p = Path(engine_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_header(metadata: dict[str, Any]) -> bytes:
    """Ultralytics' header for `metadata`: int32 LE length + compact UTF-8 JSON."""
    payload = json.dumps(metadata, separators=(",", ":"), default=str).encode("utf-8")
    return _LENGTH.pack(len(payload)) + payload


def write_engine_file(
    path: str | os.PathLike[str],
    plan: bytes,
    metadata: dict[str, Any],
    ultralytics_header: bool = False,
    sidecar: dict[str, Any] | None = None,
) -> Path:
    """Write the engine (raw plan, or Ultralytics header + plan) and always its `.engine.json` sidecar.

    `sidecar` is the full sidecar document (metadata plus build facts); it defaults to `{"metadata": metadata}`.
    Both files are written atomically. Returns the engine path.
    """
    plan = bytes(plan)
    if not plan.startswith(PLAN_MAGIC):
        log.warning("plan does not start with TensorRT's %r tag; writing it anyway", PLAN_MAGIC)
    target = Path(path)
    data = encode_header(metadata) + plan if ultralytics_header else plan
    doc = dict(sidecar) if sidecar is not None else {"metadata": metadata}
    doc.setdefault("metadata", metadata)
    doc["layout"] = "ultralytics-header" if ultralytics_header else "raw-plan"
    doc["plan_bytes"] = len(plan)
    _atomic_write(sidecar_path(target), (json.dumps(doc, indent=2, default=str) + "\n").encode("utf-8"))
    _atomic_write(target, data)
    return target


def split_engine_bytes(data: bytes, name: str = "engine") -> tuple[bytes, dict[str, Any] | None]:
    """Split raw file bytes into (plan, header metadata or None), validating every length before slicing."""
    if data.startswith(PLAN_MAGIC):
        return data, None
    if len(data) < _LENGTH.size:
        raise ModelContractError(
            f"{name} is {len(data)} bytes: too short for a TensorRT plan (expected the {PLAN_MAGIC!r} tag) or an "
            "Ultralytics header (4-byte length); rebuild the engine with `skyseg build`."
        )
    (length,) = _LENGTH.unpack_from(data, 0)
    if length <= 0:
        raise ModelContractError(
            f"{name} starts with neither TensorRT's {PLAN_MAGIC!r} tag nor a valid metadata header (length field "
            f"{length}, expected a positive byte count); the file is corrupt or not an engine, rebuild it."
        )
    end = _LENGTH.size + length
    if length > MAX_HEADER_BYTES or end > len(data):
        raise ModelContractError(
            f"{name} has a metadata header claiming {length} bytes but the file holds {len(data) - _LENGTH.size} "
            "after the length field; the file is truncated or not an engine, rebuild it."
        )
    raw = data[_LENGTH.size : end]
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelContractError(
            f"{name} has a {length}-byte metadata header that is not UTF-8 JSON ({err.__class__.__name__}: {err}); "
            "the file is corrupt, rebuild it."
        ) from None
    if not isinstance(metadata, dict):
        raise ModelContractError(
            f"{name} metadata header holds a JSON {type(metadata).__name__}, expected an object; rebuild the engine."
        )
    plan = data[end:]
    if not plan:
        raise ModelContractError(f"{name} has a metadata header but no plan after it; the file is truncated, rebuild it.")
    if not plan.startswith(PLAN_MAGIC):
        raise ModelContractError(
            f"{name} has a metadata header but the {len(plan)} bytes after it do not start with TensorRT's "
            f"{PLAN_MAGIC!r} tag; the file is corrupt, rebuild it."
        )
    return plan, metadata


def read_sidecar(engine_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The `.engine.json` sidecar as a dict, or None when absent; a corrupt sidecar is an InputError."""
    p = sidecar_path(engine_path)
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"engine sidecar {p} is not valid JSON ({err}); delete it or rebuild the engine.") from None
    if not isinstance(doc, dict):
        raise InputError(f"engine sidecar {p} holds a JSON {type(doc).__name__}, expected an object; rebuild the engine.")
    return doc


def read_engine_file(path: str | os.PathLike[str]) -> EngineFile:
    """Read an engine in either layout; metadata comes from the header if present, else from the sidecar."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"engine file {p} does not exist; build one with `skyseg build MODEL.onnx -o {p.name}`.")
    plan, header = split_engine_bytes(p.read_bytes(), name=str(p))
    sidecar = read_sidecar(p)
    if header is not None:
        metadata = header
    elif sidecar is not None and isinstance(sidecar.get("metadata"), dict):
        metadata = sidecar["metadata"]
    else:
        metadata = {}
    return EngineFile(plan=plan, metadata=metadata, has_header=header is not None, sidecar=sidecar)
