"""The bench's frames: synthetic ones rendered before timing and cycled, or a source URI decoded by a reader thread
into a bounded queue while the main thread infers (so images/s is what a night folder really achieves, and "wait"
is the time the main thread starved)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from skyseg.runtime.errors import InputError, SkysegError

log = logging.getLogger(__name__)

_UNIQUE_SYNTH_FRAMES = 8  # rendered once, cycled: rendering is not what we measure
_QUEUE_BATCHES = 2  # reader may run this many batches ahead


def synthetic_frames(count: int, size_wh: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Distinct synthetic night frames (RGB uint8), rendered before timing."""
    from skyseg.synth import render_scene

    return [render_scene(seed + i, kind="mixed", size=size_wh, bit_depth=8).image for i in range(count)]


def _reader(uri: str, out: queue.Queue, stop: threading.Event) -> None:
    """Decode frames from `uri` into `out` as (pixels, decode_ms); ends with None, or the exception raised."""
    from skyseg.runtime.frame import FrameError
    from skyseg.runtime.sources.uri import open_source

    failed: set[object] = set()  # unreadable frames, each reported once however often the loop comes round
    readable = 0
    try:
        with open_source(uri, loop=True) as source:
            items = iter(source)
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    item = next(items)
                except StopIteration:
                    break
                ms = (time.perf_counter() - t0) * 1e3
                if isinstance(item, FrameError):
                    key = item.path or item.index
                    if key in failed:
                        if not readable:  # a whole pass of the looped source and not one good frame
                            raise InputError(f"no frame of {uri} could be read ({len(failed)} unreadable, e.g. "
                                             f"{next(iter(failed))}); nothing to benchmark")
                        continue
                    failed.add(key)
                    log.warning("skipping unreadable frame %s: %s", key, item.message)
                    continue
                readable += 1
                while not stop.is_set():
                    try:
                        out.put((item.pixels, ms), timeout=0.1)
                        break
                    except queue.Full:
                        continue
        out.put(None)
    except BaseException as err:  # handed to the main thread, which re-raises it
        out.put(err)


class FrameFeed:
    """Frames for the timed loop: cycled pre-decoded frames, or a reader thread + bounded queue."""

    def __init__(self, config: Any, batch: int) -> None:
        self.config = config
        self.overlapped = config.source is not None
        self.frames: list[np.ndarray] = []
        self._q: queue.Queue = queue.Queue(maxsize=max(2, _QUEUE_BATCHES * batch))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0
        self.ended = False

    def __enter__(self) -> FrameFeed:
        if self.overlapped:
            self._thread = threading.Thread(target=_reader, args=(self.config.source, self._q, self._stop),
                                            name="skyseg-bench-reader", daemon=True)
            self._thread.start()
        else:
            n = min(self.config.frames + self.config.warmup, _UNIQUE_SYNTH_FRAMES)
            log.info("rendering %d synthetic %dx%d night frames", n, *self.config.frame_wh)
            self.frames = synthetic_frames(n, self.config.frame_wh)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._q.get(timeout=0.05)  # unblock a reader waiting on a full queue
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)

    def take(self, n: int) -> Iterator[tuple[np.ndarray, float | None, float]]:
        """Up to n frames as (pixels, decode_ms or None, wait_ms); stops early when the source ended."""
        for _ in range(n):
            if not self.overlapped:
                px = self.frames[self._next % len(self.frames)]
                self._next += 1
                yield px, None, 0.0
                continue
            if self.ended:
                return
            t0 = time.perf_counter()
            item = self._q.get()
            wait = (time.perf_counter() - t0) * 1e3
            if item is None:
                self.ended = True
                return
            if isinstance(item, BaseException):
                self.ended = True
                if isinstance(item, SkysegError):
                    raise item
                raise InputError(f"reading frames from {self.config.source} failed: {item}") from item
            yield item[0], item[1], wait
