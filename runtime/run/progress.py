"""The run loop's companions: `StopRequest` (SIGTERM / Ctrl-C → a flag the loop polls) and `Progress` (the live
throughput line and the per-stage means of the summary)."""
from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable

from skyseg.runtime.frame import FrameRecord

log = logging.getLogger(__name__)

STAGES = ("pre", "infer", "post")


class StopRequest:
    """Turns SIGTERM / the first SIGINT into a flag the loop polls; restores the old handlers on exit."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}
        self.callbacks: list[Callable[[], None]] = []  # e.g. a watch source's stop(), so a wait ends too

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now (sinks still close in `finally`)
        self.reason = name
        log.info("%s received: finishing the current frame, then closing outputs", name)
        for callback in self.callbacks:
            callback()

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class Progress:
    """Live throughput/latency line every `every_s` seconds, and running means for the summary."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.start = time.perf_counter()
        self._last = self.start
        self._last_frames = 0
        self.frames = 0
        self.errors = 0
        self.sums = dict.fromkeys(STAGES, 0.0)
        self.fps: float | None = None
        self._sky = 0.0

    def add(self, record: FrameRecord, dropped: int = 0) -> None:
        if record.result is None:
            self.errors += 1
        else:
            self.frames += 1
            for k in STAGES:
                self.sums[k] += record.result.timings.get(k, 0.0)
            self._sky = record.result.sky_fraction
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self.fps = (self.frames - self._last_frames) / (now - self._last)
            self._last, self._last_frames = now, self.frames
            means = self.means()
            log.info("%d frames, %.1f fps, pre %.1f / infer %.1f / post %.1f ms, sky %.1f%%, errors %d, dropped %d",
                     self.frames, self.fps, means["pre"], means["infer"], means["post"], 100 * self._sky,
                     self.errors, dropped)
        elif self.fps is None and self.frames:
            self.fps = self.frames / max(now - self.start, 1e-9)

    def means(self) -> dict[str, float]:
        return {k: v / self.frames if self.frames else 0.0 for k, v in self.sums.items()}
