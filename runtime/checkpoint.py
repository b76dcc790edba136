"""PyTorch checkpoints seen from the runtime, without PyTorch: is a file one, and what size was it trained at.

A `.pt`/`.pth` file is a checkpoint when its first bytes say so too: a zip archive (`torch.save` since 1.6) or a
pickle stream (the legacy format). Its `train_args` (Ultralytics writes them into every checkpoint) are read by a
restricted unpickler that builds plain containers and inert placeholders for every class it meets: no module is
imported and no code from the file runs, so reading the size of an untrusted `best.pt` is safe and needs no torch.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from skyseg.runtime.errors import InputError

CHECKPOINT_SUFFIXES = (".pt", ".pth")
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.save's legacy (non-zip) format starts with this number
_PICKLE_PROTO = 0x80  # PROTO opcode: the first byte of every pickle of protocol 2 or newer
_SAFE = {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"),
         ("builtins", "complex"), ("builtins", "bytearray")}


def is_torch_checkpoint(path: str | Path) -> bool:
    """True when `path` is a file named .pt/.pth whose first bytes are a zip archive or a pickle stream."""
    p = Path(path)
    if p.suffix.lower() not in CHECKPOINT_SUFFIXES or not p.is_file():
        return False
    with open(p, "rb") as f:
        head = f.read(4)
    return head == _ZIP_MAGIC or (len(head) >= 2 and head[0] == _PICKLE_PROTO and 2 <= head[1] <= 5)


class _Inert:
    """Stands in for any class a checkpoint names (a module, a tensor rebuild function): keeps what it is given."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.items: dict[Any, Any] = {}
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> "_Inert":  # what an inert `getattr(cls, name)` gives back
        return _Inert(*args)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.items[len(self.items)] = value

    def extend(self, values: Any) -> None:
        for v in values:
            self.append(v)


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE:
            return super().find_class(module, name)
        return type(name, (_Inert,), {"__module__": f"inert.{module}"})

    def persistent_load(self, pid: Any) -> None:  # tensor storages: not read
        return None


def _loads(data: bytes) -> Any:
    return _InertUnpickler(io.BytesIO(data)).load()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's top-level dict with every non-container object inert (raises InputError if unreadable)."""
    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                name = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
                if name is None:
                    raise InputError(f"{p} is a zip archive without data.pkl, so not a PyTorch checkpoint.")
                obj = _loads(z.read(name))
        else:  # legacy format: magic number, protocol version, system info, then the object
            with open(p, "rb") as f:
                unpickler = _InertUnpickler(f)
                obj = unpickler.load()
                if obj == _LEGACY_MAGIC:  # then protocol version, system info, and the object itself
                    for _ in range(3):
                        obj = unpickler.load()
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as err:
        raise InputError(f"{p} cannot be read as a PyTorch checkpoint ({type(err).__name__}: {err}).") from None
    if not isinstance(obj, dict):
        raise InputError(f"{p} holds a {type(obj).__name__}, not a checkpoint dict (no train_args to read).")
    return obj


def _size(value: Any) -> int | None:
    if isinstance(value, (list, tuple)) and value:
        value = max(v for v in value if isinstance(v, (int, float))) if any(
            isinstance(v, (int, float)) for v in value) else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def train_imgsz(path: str | Path) -> int | None:
    """The image size the checkpoint was trained at (`train_args.imgsz`, the larger side of a pair), or None."""
    ckpt = read_checkpoint(path)
    args = ckpt.get("train_args")
    if isinstance(args, dict) and _size(args.get("imgsz")):
        return _size(args.get("imgsz"))
    model = ckpt.get("model")  # older checkpoints keep them only as the model's `args` attribute
    state = getattr(model, "state", None)
    if isinstance(state, dict) and isinstance(state.get("args"), dict):
        return _size(state["args"].get("imgsz"))
    return None
