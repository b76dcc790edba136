"""Atomic output files: write to a hidden temp file in the target's folder, rename into place when complete.

An interrupted run (Ctrl-C, SIGTERM, a crash) therefore leaves only complete files; a hard kill can leave a
hidden `.NAME.PID.*.tmp` file, never a truncated NAME. The writer's process id in the temp name lets the next run
remove what a dead process left (`remove_dead_temps`) without touching the files another live writer is making.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (os.umask can only be read by setting
    it, which briefly gives files other threads create at that moment the wrong mode)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_mode() -> int:
    """0o666 less the process umask: what open() would have given a new file (mkstemp gives 0o600)."""
    return 0o666 & ~_umask()


def temp_beside(path: str | os.PathLike[str], suffix: str = ".tmp") -> tuple[int, Path]:
    """(fd, path) of a new hidden temp file in `path`'s folder, with the permissions a plain new file gets there,
    so a model or table renamed into place is as readable as one written directly (e.g. by a service user)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=suffix, dir=target.parent)
    os.fchmod(fd, _default_mode())
    return fd, Path(tmp)


def remove_dead_temps(folder: str | os.PathLike[str], name_suffix: str = "") -> int:
    """Remove the temp files under `folder` (any depth) whose target name ends in `name_suffix` and whose writing
    process is gone (a hard kill between write and rename); returns how many."""
    root = Path(folder)
    if not root.is_dir():
        return 0
    removed = 0
    for tmp in root.rglob(f".*{name_suffix}.*.tmp"):
        parts = tmp.name.rsplit(".", 3)  # ".NAME", PID, random, "tmp"
        if len(parts) != 4 or not parts[1].isdigit() or _alive(int(parts[1])):
            continue
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d unfinished file(s) a killed run left under %s", removed, root)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's live process
        return True
    return True


class AtomicFile:
    """A temp file that becomes `path` on `commit()`, or disappears on `discard()` (a context manager)."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp_path = temp_beside(self.path)
        self.handle: IO[Any] = os.fdopen(fd, mode, **open_kwargs)

    def commit(self) -> Path:
        """Flush, fsync and rename into place; returns the final path."""
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def discard(self) -> None:
        try:
            if not self.handle.closed:
                self.handle.close()  # flushes what is buffered: on a full disk that fails once more
        except OSError:
            pass
        finally:
            self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, *rest: object) -> None:
        if exc_type is None:
            try:
                self.commit()
            except OSError as err:  # ENOSPC at fsync/close: nothing half-written stays behind
                self.discard()
                _name(err, self.path)
                raise
        else:
            self.discard()
            if isinstance(exc, OSError):
                _name(exc, self.path)


def _name(err: OSError, path: Path) -> None:
    """A write() or fsync() error names no file; give it the target's, so the user reads which output failed."""
    if err.filename is None:
        err.filename = str(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with AtomicFile(path, "wb") as f:
        f.handle.write(data)
    return Path(path)


def write_image_atomic(path: str | os.PathLike[str], image: np.ndarray, rgb: bool = True) -> Path:
    """Encode an image by its suffix (PNG/JPEG/TIFF...) and write it atomically. `rgb` images are swapped to BGR."""
    p = Path(path)
    if rgb and image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(p.suffix or ".png", image)
    if not ok:
        raise InputError(f"could not encode {p.name} as {p.suffix or '.png'}; use .png, .jpg or .tif")
    return write_bytes_atomic(p, buf.tobytes())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text to `path` atomically, creating its folder (as every AtomicFile does)."""
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write `obj` as indented JSON to `path` atomically (NumPy scalars and arrays and paths as plain values)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
