"""Low disk: stop the biggest writers first, so a filling disk costs pictures, never the night's table.

Below `min_free` bytes free where a sink writes, annotated video and images stop (a video is finalised, so it stays
playable); below half of it, mask PNGs stop too; the results table (a few hundred bytes a frame) is never stopped —
when even that cannot be written, the run ends with one sentence (see `pipeline.process`). Each step is one warning.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from skyseg.runtime.sinks.base import Sink

log = logging.getLogger(__name__)

PICTURES = ("AnnotatedVideoSink", "ImageFolderSink")  # the largest files: stopped first
MASKS = ("MaskSink", "StaticMaskSink", "CloudMapSink")  # small PNGs: stopped below half the threshold


def _target(sink: Sink) -> Path | None:
    target = getattr(sink, "path", None) or getattr(sink, "directory", None)
    return Path(target) if target is not None else None


def free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged writer on the file system that holds `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


class LowDiskGuard:
    """Decides before each frame (or at most every `every_s` s) which sinks still get it (see the module docstring)."""

    def __init__(self, min_free_bytes: int, every_s: float = 0.0) -> None:  # statvfs costs µs: every frame
        self.min_free = int(min_free_bytes)
        self.every_s = every_s
        self.stopped: set[int] = set()  # id() of the sinks that get no more frames
        self._next = 0.0

    def active(self, sinks: list[Sink]) -> list[Sink]:
        """The sinks to write this frame to."""
        if self.min_free > 0 and time.monotonic() >= self._next:
            self._next = time.monotonic() + self.every_s
            for sink in sinks:
                kind = type(sink).__name__
                limit = self.min_free if kind in PICTURES else self.min_free // 2 if kind in MASKS else None
                target = _target(sink)
                if limit is None or target is None or id(sink) in self.stopped:
                    continue
                free = free_bytes(target)
                if free < limit:
                    self._stop(sink, target, free)
        return [s for s in sinks if id(s) not in self.stopped]

    def _stop(self, sink: Sink, target: Path, free: int) -> None:
        self.stopped.add(id(sink))
        what = "annotated pictures" if type(sink).__name__ in PICTURES else "masks"
        log.warning("low disk: %.1f MB free at %s, below %.1f MB; no more %s are written (the table goes on; "
                    "free space and restart to resume them)", free / 1e6, target, self.min_free / 1e6 /
                    (1 if what == "annotated pictures" else 2), what)
        try:
            sink.close()  # a video is finalised now, while there is still room for its index
        except OSError as err:
            log.warning("closing %s on low disk failed: %s", target, err)

