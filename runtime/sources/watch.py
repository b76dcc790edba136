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

A watch that continues a results table (`ledger`: the run's table, which `skyseg run --watch --save-dir` gives)
resumes from it: a file whose row is there (same path and modification time) is not taken again; a file that
arrived while the watch was down (newer than the first frame the table holds from this folder) is taken now; older
files are skipped as on a first start unless `existing` (`--watch-existing`) takes every file without a row.
Frames in sub-folders (one folder per night) are taken with `recursive` (`--recursive`); without it, a warning
names the sub-folders that hold frames, once each.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.run.ledger import iso_time, read_rows
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
        self.ledger = o.get("ledger")  # the results table this run continues (resume from its rows)
        self._subfolders: dict[str, float] = {}  # sub-folder → when it was last checked for frames (not recursive)
        self.stop_event = threading.Event()
        self._seen: dict[str, tuple[int, int, int]] = {}  # path → (size, mtime_ns, inode) when it was taken
        self._failing: dict[str, tuple[tuple[int, int, int], float]] = {}  # path → (signature, first failure)
        self._observed: dict[str, tuple[int, int, float]] = {}  # path → (size, mtime_ns, first seen unchanged)
        self._previous_handler: Any = None
        self._unlistable: set[str] = set()  # folders that could not be listed at the last poll (warned once)
        self.live = True

    def stop(self) -> None:
        """Ask the iterator to end after the current frame (thread- and signal-safe)."""
        self.stop_event.set()

    def _open(self) -> None:
        if not self.directory.is_dir():
            raise InputError(f"cannot watch {self.directory}: it is not a directory")
        done, since = self._done_before()
        present = self._scan()
        taken = skipped = resumed = 0
        for path, st in present:
            key = str(path)
            if os.path.abspath(key) in done and _done(done[os.path.abspath(key)], st.st_mtime):
                self._seen[key] = _signature(st)  # its row is in the table
                taken += 1
            elif self.existing or (since is not None and st.st_mtime >= since):
                resumed += 1  # arrived while the watch was down (or every file, with `existing`)
            else:
                self._seen[key] = _signature(st)
                skipped += 1
        self.description = f"watching {self.directory} (poll {self.poll:g} s, settle {self.settle:g} s)"
        if self.ledger is not None and done:
            log.info("source: %s; resuming from %s: %d file(s) done before, %d to do now (new since the last "
                     "run%s), %d older skipped", self.description, self.ledger, taken, resumed,
                     " or without a row" if self.existing else "", skipped)
        else:
            log.info("source: %s, %d existing file(s) %s", self.description, resumed if self.existing else skipped,
                     "to do" if self.existing else "skipped (--watch-existing takes them)")
        if not self.recursive:
            self._warn_subfolders(force=True)
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _done_before(self) -> tuple[dict[str, tuple[set[str], float]], float | None]:
        """From the ledger: path → (file times of its rows, a time up to which any version of it counts as done),
        and the first file time."""
        done: dict[str, tuple[set[str], float]] = {}
        first: float | None = None
        if self.ledger is None:
            return done, first
        root = os.path.abspath(self.directory)
        try:
            written = os.stat(self.ledger).st_mtime  # when the last row was written (a stop or a kill)
        except OSError:
            written = 0.0
        for row in read_rows(self.ledger):
            path = os.path.abspath(row["path"]) if row.get("path") else ""
            if os.path.dirname(path) != root and not (self.recursive and path.startswith(root + os.sep)):
                continue
            times, until = done.get(path, (set(), 0.0))
            stamp = _parse_iso(row.get("file_mtime") or row.get("time") or "")
            if row.get("error"):
                until = max(until, stamp or 0.0)  # reported as unreadable: done unless the file changed since
            elif row.get("file_mtime"):
                times.add(row["file_mtime"])
            else:  # a row of an older version (no file time): done unless the file changed after the table did
                until = max(until, written)
                try:  # its `time` may be a FITS DATE-OBS: the file's own time says when it came
                    stamp = min(os.stat(path).st_mtime, written)
                except OSError:
                    stamp = None
            done[path] = (times, until)
            if stamp is not None and not row.get("error"):
                first = stamp if first is None else min(first, stamp)
        return done, first

    def _warn_subfolders(self, force: bool = False) -> None:
        """Warn once per sub-folder that holds frames this (non-recursive) watch ignores; new sub-folders are looked
        into at most once a minute."""
        now = time.monotonic()
        try:
            subs = [e.path for e in os.scandir(self.directory) if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            return
        for sub in subs:
            last = self._subfolders.get(sub)
            if last is not None and (last < 0 or now - last < 60.0) and not force:
                continue
            try:
                holds = any(e.is_file() and is_candidate(e.name) for e in os.scandir(sub))
            except OSError:
                holds = False
            self._subfolders[sub] = -1.0 if holds else now
            if holds:
                log.warning("watch: frames in the sub-folder %s are ignored; pass --recursive to take frames in "
                            "sub-folders (one folder per night)", sub)

    def _close(self) -> None:
        # only the main thread may set a handler (and only it set ours); a source closed from another thread (the
        # dashboard's run) leaves the handler, which just sets a stop flag nobody reads any more
        if self._previous_handler is not None and threading.current_thread() is threading.main_thread():
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
                if root not in self._unlistable:  # once, not at every poll while the folder is gone
                    self._unlistable.add(root)
                    log.warning("cannot list %s: %s (watching on; said again when it is back)", root, err)
                continue
            if root in self._unlistable:
                self._unlistable.discard(root)
                log.info("watch: %s can be listed again", root)
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
        if isinstance(record, Frame):
            record.meta["file_mtime"] = sig[1] / 1e9  # with the path, which version of the file this row is
        return record

    def _frames(self) -> Iterator[Frame | FrameError]:
        index = 0
        last_new = checked = time.monotonic()
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
            if not self.recursive and time.monotonic() - checked >= 60.0:
                self._warn_subfolders()
                checked = time.monotonic()
            if self.idle_timeout is not None and time.monotonic() - last_new >= float(self.idle_timeout):
                log.info("watch of %s: no new frame for %g s, stopping", self.directory, float(self.idle_timeout))
                return
            self.stop_event.wait(self.poll)


def _done(before: tuple[set[str], float], mtime: float) -> bool:
    """A file's version has a row: one with its modification time, or an error row (or an older version's row)
    written after it changed."""
    return iso_time(mtime) in before[0] or mtime <= before[1]


def _parse_iso(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino
