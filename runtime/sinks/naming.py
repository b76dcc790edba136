"""A frame's identity, and the names of the files written for it: the stage that makes "no two frames of any run,
source or night collide" true, so a restart into the same save dir never overwrites and every table row can name
its files.

- A frame read from a file is named by its path relative to the source's root folder, without its image suffixes:
  `night/2026-03-01/frame_1.jpg` under `night/` → `2026-03-01/frame_1` (masks/2026-03-01/frame_1_mask.png), so two
  nights' `frame_1.jpg` never share a mask.
- A frame of a stream (csi, v4l2, rtsp, test, video, GStreamer) is named by the run's start time (UTC, to the
  millisecond) and its index: `frame_20261207T001500123Z_000042`; a restarted service starts another run id.
- A name used before for another frame (in this run, or in the rows of the table this run continues: a watched
  `latest.jpg` that the camera rewrites, `a.png` beside `a.fits`) gets the frame's capture time added, then a
  counter. The same frame again (the same file and capture time: a folder run repeated) keeps its name, so its
  files are rewritten rather than doubled.

`OutputNames` runs first among a run's sinks after the stages that fill the record (cloud cover): it puts the name
in `record.extra["name"]` and the files the sinks after it will write for this record in `record.extra["files"]`
(column → path), which the table writes in the same row and the file sinks write to.
"""
from __future__ import annotations

import glob
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from skyseg.runtime.atomic_file import remove_dead_temps
from skyseg.runtime.frame import frame_stem
from skyseg.runtime.run.ledger import frame_key, iso_time
from skyseg.runtime.sinks.base import FrameRecord, Sink

NAME_KEY = "name"
FILES_KEY = "files"
PRESET_KEY = "output_name"  # Frame.meta: a name the source chose (the archive's, for inputs that share a stem)


def new_run_id(now: float | None = None) -> str:
    """The run's start time as a file-name part: `20261207T001500123Z` (UTC, milliseconds)."""
    when = datetime.fromtimestamp(now if now is not None else datetime.now(timezone.utc).timestamp(), timezone.utc)
    return when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"


def time_tag(ts: float) -> str:
    """A capture time as a file-name part (UTC, milliseconds), as `new_run_id` writes it."""
    return new_run_id(ts)


def source_root(source: str | None) -> Path | None:
    """The folder a file source's paths are relative to: the folder itself, a glob's fixed part, a file's folder."""
    if not source or "://" in source and not source.startswith("file://"):
        return None
    location = source[len("file://"):] if source.startswith("file://") else source
    if glob.has_magic(location):
        fixed = re.split(r"[*?[]", location, maxsplit=1)[0]
        return Path(os.path.dirname(fixed) or ".")
    p = Path(location)
    return p if p.is_dir() else p.parent


def relative_name(path: str, root: Path | None) -> str:
    """`path` relative to `root` (posix separators) without its image suffixes; the bare stem outside `root`."""
    p = Path(path)
    if root is not None:
        try:
            rel = Path(os.path.relpath(p, root))
        except ValueError:
            rel = Path(p.name)
        if rel.parts and rel.parts[0] != "..":
            parent = rel.parent.as_posix()
            return frame_stem(rel.name) if parent == "." else f"{parent}/{frame_stem(rel.name)}"
    return frame_stem(p.name)


class OutputNames(Sink):
    """Names each record (see the module docstring) and lists the files `writers` (column → a sink's `file_for`,
    which gives the path it will write for a named record, or None) will write for it; `used` holds the names of
    earlier runs (the table's)."""

    def __init__(self, root: Path | None, writers: dict[str, Callable[[FrameRecord], Path | None]],
                 used: dict[str, tuple[str, str]] | None = None,
                 run_id: str | None = None) -> None:
        self.root = root
        self.writers = writers
        self.used = dict(used or {})  # name → the frame it names (frame_key)
        self.run_id = run_id or new_run_id()

    def name(self, record: FrameRecord) -> str:
        stamp = record.frame.timestamp if record.frame is not None else getattr(record.error, "timestamp", 0.0)
        preset = record.frame.meta.get(PRESET_KEY) if record.frame is not None else None
        if record.path:
            base = preset or relative_name(record.path, self.root)
            key = frame_key(record.path, iso_time(stamp))
        else:
            base = f"frame_{self.run_id}_{max(record.index, 0):06d}"
            key = ("", base)
        name = base
        count = 0
        while self.used.get(name, key) != key:
            count += 1
            name = f"{base}_{time_tag(stamp or 0)}" + (f"_{count - 1}" if count > 1 else "")
        if record.ok:  # an error row writes no file: its name stays free for the file once it reads
            self.used[name] = key
        return name

    def write(self, record: FrameRecord) -> None:
        record.extra[NAME_KEY] = self.name(record)
        files = {}
        for column, file_for in self.writers.items():
            target = file_for(record)
            if target is not None:
                files[column] = target
        record.extra[FILES_KEY] = files

    def close(self) -> None:
        pass


class FrameFiles:
    """The naming half of a per-frame file sink: `DIR/<frame name><suffix>`, with the name `OutputNames` gave the
    record, else (a sink used on its own) the input's stem, made unique within the run by the frame index."""

    def __init__(self, directory: Path, suffix: str) -> None:
        self.directory = directory
        self.suffix = suffix
        remove_dead_temps(directory, suffix)  # what a killed run left half-written
        self.stopped = False  # closed early (the low-disk guard): no more files
        self._names: set[str] = set()

    def file_for(self, record: FrameRecord) -> Path | None:
        """Where the record's file goes once named (None before naming, for an error record, or when stopped)."""
        name = record.extra.get(NAME_KEY)
        if name is None or record.result is None or self.stopped:
            return None
        return self.directory / f"{name}{self.suffix}"

    def target(self, record: FrameRecord) -> Path:
        """The path to write now (its folder made)."""
        path = self.file_for(record)
        if path is None:
            name = record.stem()
            if name in self._names:  # two inputs with one stem (a.png, a.fits): keep both
                name = f"{name}_{record.index:06d}"
            self._names.add(name)
            path = self.directory / f"{name}{self.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
