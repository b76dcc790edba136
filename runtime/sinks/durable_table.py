"""A line-oriented file that survives hard kills: append, flush per line, fsync at a cadence, continue on restart."""
from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

FSYNC_S = 2.0  # at most this many seconds of rows are lost to a power cut (a kill loses none: rows are flushed)


class DurableLines:
    """Appends text lines to `path`; with `header`, a new file starts with it and an existing one must have it.

    Opening an existing file cuts off a trailing partial line (a row half-written when a run was killed) and moves
    in the rows of hidden `.NAME.*.tmp` leftovers (older versions wrote the whole table to one at close), so
    nothing a killed run finished is lost and nothing half-written stays behind.
    """

    def __init__(self, path: Path, header: str | None) -> None:
        self.path = Path(path)
        self.header = header
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_dir():
                raise InputError(f"results table {self.path} is a folder; pass a file path such as {self.path}/results.csv")
            continuing = self.path.is_file() and self.path.stat().st_size > 0
            if continuing:
                self._repair()
            self._handle = open(self.path, "a", encoding="utf-8", newline="")  # closed in close()
        except OSError as err:
            raise InputError(f"cannot write the results table {self.path}: {err.strerror or err}") from None
        if not continuing and header is not None:
            self._handle.write(header)
        self._adopt_leftovers()
        self._handle.flush()
        self._good = self._handle.tell()  # the end of the last complete row
        self._last_sync = time.monotonic()
        if continuing:
            log.info("continuing the results table %s", self.path)

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if self.header is not None and not data.startswith(self.header.encode("utf-8")):
            first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
            raise InputError(f"results table {self.path} has other columns ({first[:80]!r}); move it away or pass "
                             "another --table")
        if not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log.warning("results table %s: cut off a half-written last row (%d bytes) left by a killed run",
                        self.path, len(data) - keep)
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)

    def _adopt_leftovers(self) -> None:
        for tmp in sorted(self.path.parent.glob(f".{self.path.name}.*.tmp")):
            try:
                with open(tmp, encoding="utf-8", newline="") as handle:  # keep csv's \r\n row ends as written
                    lines = handle.read().splitlines(keepends=True)
            except (OSError, UnicodeDecodeError) as err:
                log.warning("left %s in place: cannot read it (%s)", tmp, err)
                continue
            if self.header is not None:
                if not lines or lines[0] != self.header:
                    log.warning("left %s in place: its columns differ from %s", tmp, self.path.name)
                    continue
                lines = lines[1:]
            if lines and not lines[-1].endswith("\n"):
                lines = lines[:-1]  # the row it was writing when killed
            self._handle.writelines(lines)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            tmp.unlink()
            log.info("recovered %d row(s) of a killed run from %s into %s", len(lines), tmp.name, self.path.name)

    def append(self, line: str) -> None:
        if self._handle.closed:
            raise OSError(errno.EIO, "an earlier row could not be written", str(self.path))
        try:
            self._handle.write(line)
            self._handle.flush()
            now = time.monotonic()
            if now - self._last_sync >= FSYNC_S:
                os.fsync(self._handle.fileno())
                self._last_sync = now
        except OSError as err:  # a full disk: cut the partial row, keep every complete one
            self._abandon()
            raise OSError(err.errno, err.strerror, str(self.path)) from err
        self._good = self._handle.tell()

    def _abandon(self) -> None:
        try:
            self._handle.close()  # flushes the rest of the row once more, may fail: closes the file all the same
        except OSError:
            pass
        try:
            os.truncate(self.path, self._good)  # then cut what part of the row did reach the disk
        except OSError:
            pass  # the next run cuts a half-written last row anyway

    def close(self) -> Path:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        return self.path
