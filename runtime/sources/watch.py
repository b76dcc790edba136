"""Watch mode: process new frames as an all-sky camera writes them into a folder.

Polling (not inotify) so it works on network shares and SD cards alike. A file is taken once it is non-empty and
has not changed for `settle` seconds — judged by its modification time, or by our own observation when the
writer's clock is off — so half-written frames are skipped until complete; files renamed into place are taken
at the next poll. A file that cannot be decoded yet (its writer paused longer than `settle`) is retried whenever it
changes, and reported as an error row only after `retry` seconds (default 30). A camera that rewrites the same name
(`latest.jpg`) gives a new frame each time the file's size, mtime or inode changes. A file that stays empty for
`settle` seconds is reported once as an error row. Hidden and temporary names (`.x.jpg`, `*.tmp`, `*.part`, `*~`,
...) are ignored. Iteration
ends on `stop()`, on SIGTERM (the handler is chained to any previous one and restored on close), or after
`idle_timeout` seconds without a new frame.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.sources.image_reader import read_frame_file
from skyseg.runtime.sources.uri import Source, SourceSpec, is_still_image

log = logging.getLogger(__name__)

TEMP_SUFFIXES = (".tmp", ".part", ".partial", "~", ".crdownload", ".filepart", ".swp", ".lock", ".temp")


def is_candidate(name: str) -> bool:
    """A frame file a camera has finished naming: a still image that is neither hidden nor a temp name."""
    lower = name.lower()
    return not lower.startswith(".") and not lower.endswith(TEMP_SUFFIXES) and is_still_image(lower)


class WatchSource(Source):
    """New still frames appearing in a directory (options: poll, settle, retry, existing, idle_timeout, recursive)."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        o = spec.options
        self.directory = Path(spec.location)
        self.poll = float(o.get("poll", 1.0))
        self.settle = float(o.get("settle", 2.0))
        self.retry = float(o.get("retry", 30.0))
        self.existing = bool(o.get("existing", False))
        self.idle_timeout = o.get("idle_timeout")
        self.recursive = bool(o.get("recursive", False))
        self.stop_event = threading.Event()
        self._seen: dict[str, tuple[int, int, int]] = {}  # path → (size, mtime_ns, inode) when it was taken
        self._failing: dict[str, tuple[tuple[int, int, int], float]] = {}  # path → (signature, first failure)
        self._observed: dict[str, tuple[int, int, float]] = {}  # path → (size, mtime_ns, first seen unchanged)
        self._previous_handler: Any = None
        self.live = True

    def stop(self) -> None:
        """Ask the iterator to end after the current frame (thread- and signal-safe)."""
        self.stop_event.set()

    def _open(self) -> None:
        if not self.directory.is_dir():
            raise InputError(f"cannot watch {self.directory}: it is not a directory")
        if not self.existing:
            self._seen.update((str(p), _signature(st)) for p, st in self._scan())
        self.description = f"watching {self.directory} (poll {self.poll:g} s, settle {self.settle:g} s)"
        log.info("source: %s, %d existing file(s) %s", self.description, len(self._seen) if not self.existing else 0,
                 "skipped" if not self.existing else "")
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _close(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        log.info("SIGTERM: watch of %s stops", self.directory)
        self.stop_event.set()
        if callable(self._previous_handler):
            self._previous_handler(signum, frame)

    def _scan(self) -> list[tuple[Path, os.stat_result]]:
        found = []
        walker = os.walk(self.directory) if self.recursive else [(str(self.directory), [], None)]
        for root, dirs, _ in walker:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            try:
                entries = list(os.scandir(root))
            except OSError as err:
                log.warning("cannot list %s: %s", root, err)
                continue
            for entry in entries:
                if entry.is_file() and is_candidate(entry.name):
                    try:
                        found.append((Path(entry.path), entry.stat()))
                    except OSError:
                        continue  # vanished between listing and stat
        return found

    def _ready(self) -> list[tuple[Path, tuple[int, int, int]]]:
        """Files that are new or changed and look complete (or settled empty), oldest first, with signatures."""
        now_wall, now = time.time(), time.monotonic()
        ready: list[tuple[float, str, Path, tuple[int, int, int]]] = []
        current = set()
        for path, st in self._scan():
            key = str(path)
            current.add(key)
            sig = _signature(st)
            if self._seen.get(key) == sig:
                continue
            failing = self._failing.get(key)
            if failing is not None and failing[0] == sig and now - failing[1] < self.retry:
                continue  # unchanged since it failed to decode: wait for the writer (or the retry time)
            size, mtime_ns = st.st_size, st.st_mtime_ns
            prev = self._observed.get(key)
            since = prev[2] if prev is not None and prev[:2] == (size, mtime_ns) else now
            self._observed[key] = (size, mtime_ns, since)
            age = now_wall - mtime_ns / 1e9
            if age >= self.settle or now - since >= self.settle:
                ready.append((mtime_ns / 1e9, key, path, sig))
        for key in list(self._observed):
            if key not in current:
                del self._observed[key]
        return [(p, sig) for _, _, p, sig in sorted(ready)]

    def _take(self, path: Path, sig: tuple[int, int, int], index: int) -> Frame | FrameError | None:
        """The frame, an error row, or None when a failed read is to be retried later."""
        key = str(path)
        self._observed.pop(key, None)
        if sig[0] == 0:
            self._seen[key] = sig
            log.warning("watch: %s is empty (0 bytes)", path.name)
            return FrameError(index, self.source_id, key, f"{path.name} is empty (0 bytes)", time.time())
        record = read_frame_file(path, index, self.source_id)
        if isinstance(record, FrameError):
            first = self._failing.get(key, (sig, time.monotonic()))[1]
            if time.monotonic() - first < self.retry:
                self._failing[key] = (sig, first)
                log.info("watch: %s is not readable yet; retrying for up to %g s", path.name, self.retry)
                return None
        self._failing.pop(key, None)
        self._seen[key] = sig
        return record

    def _frames(self) -> Iterator[Frame | FrameError]:
        index = 0
        last_new = time.monotonic()
        while not self.stop_event.is_set():
            for path, sig in self._ready():
                record = self._take(path, sig, index)
                if record is None:
                    continue
                yield record
                index += 1
                last_new = time.monotonic()
                if self.stop_event.is_set():
                    return
            if self.idle_timeout is not None and time.monotonic() - last_new >= float(self.idle_timeout):
                log.info("watch of %s: no new frame for %g s, stopping", self.directory, float(self.idle_timeout))
                return
            self.stop_event.wait(self.poll)


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino
