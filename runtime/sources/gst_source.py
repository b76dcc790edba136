"""Capture through a GStreamer pipeline that ends in an appsink: cameras, RTSP, video files, test sources.

Frames are pulled from the appsink (no GLib main loop needed) while the bus is polled for errors and end of
stream. Live pipelines keep only the newest frame (`max-buffers=1 drop=true`); a pad probe counts every buffer
that reaches the appsink so that `dropped` = arrived − pulled (exact at end of stream, at most one high while
running). RTSP sources (and any source given `retries`) are retried with exponential backoff from the first
connect on, so a camera that boots after the computer is waited for, and rebuilt the same way when the stream drops;
`stop()` ends such a wait.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.gst_pipeline import APPSINK_NAME, load_gst, video_info
from skyseg.runtime.sources.iso_media import index_problem, is_iso_media
from skyseg.runtime.sources.uri import Source, SourceSpec

log = logging.getLogger(__name__)

_PULL_SLICE_S = 0.1  # how often the bus is checked while waiting for a frame
# bytes per pixel and channel order of the raw formats an appsink may hand us
_FORMATS: dict[str, tuple[int, str]] = {
    "RGB": (3, "rgb"), "BGR": (3, "bgr"), "RGBA": (4, "rgb"), "RGBx": (4, "rgb"), "BGRA": (4, "bgr"),
    "BGRx": (4, "bgr"), "GRAY8": (1, "gray"), "GRAY16_LE": (2, "gray16"),
}
_HINTS = {
    "nvarguscamerasrc": "csi:// needs a Jetson with the nvarguscamerasrc plugin (JetPack)",
    "nvvidconv": "csi:// needs a Jetson with the nvvidconv plugin (JetPack)",
    "rtspsrc": "rtsp:// needs gstreamer1.0-plugins-good",
    "x264enc": "H.264 needs gstreamer1.0-plugins-ugly",
}


def backoff_delays(initial: float = 1.0, factor: float = 2.0, maximum: float = 30.0) -> Iterator[float]:
    """Reconnect waits: initial, initial·factor, ... capped at maximum (1, 2, 4, 8, 16, 30, 30, ...)."""
    delay = initial
    while True:
        yield min(delay, maximum)
        delay *= factor


class _NotUp(InputError):
    """Internal: the pipeline was built but gave no first frame (a camera or server that is not up yet)."""


class _Stop(Exception):
    """Internal: why pulling ended (eos, error, timeout) and the GStreamer message if any."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


class GstSource(Source):
    """A Source over one GStreamer launch string ending in an appsink."""

    def __init__(self, spec: SourceSpec, loop: bool = False) -> None:
        super().__init__(spec)
        if spec.launch is None:
            raise ValueError(f"GstSource needs a launch string, got spec {spec}")
        o = spec.options
        self.loop = loop and not spec.live
        self.timeout = float(o.get("timeout", 10.0))
        self.open_timeout = float(o.get("open_timeout", max(self.timeout, 10.0)))
        self.retries = int(o.get("retries", -1 if spec.kind == "rtsp" else 0))
        self.backoff = float(o.get("backoff", 1.0))  # first reconnect wait, seconds (doubles up to 30 s)
        self.reconnects = 0  # successful reconnects
        self._attempts = 0
        self._gst: tuple[Any, Any, Any] | None = None
        self._pipeline: Any = None
        self._appsink: Any = None
        self._bus: Any = None
        self._pending: Any = None
        self._lock = threading.Lock()
        self._arrived = 0
        self._pulled = 0
        self._eos = False
        self._layout: tuple[Any, tuple[int, int, int, str, str]] | None = None
        self.duration: float | None = None  # seconds, for files whose container declares it
        self._stream_end = 0.0  # pts + duration of the last frame pulled
        self._next_pts: float | None = None  # where the next frame of a file should start (pts + duration)
        self._gaps: list[tuple[float, int]] = []  # (where, frames missing) inside a file: damaged data the decoder lost
        self._stopping = threading.Event()

    @property
    def dropped(self) -> int:
        if not self.live:
            return 0
        with self._lock:
            return max(0, self._arrived - self._pulled - (0 if self._eos else 1))

    # -- pipeline lifecycle ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """End a wait for the camera (first connect or reconnect); iteration then ends. Thread- and signal-safe."""
        self._stopping.set()

    def _open(self) -> None:
        self._gst = load_gst()
        delays = backoff_delays(self.backoff)
        while True:
            try:
                self._start()
                return
            except _NotUp as err:  # a bad launch string or a missing plugin is raised at once, never retried
                if self.retries == 0 or 0 < self.retries <= self._attempts:
                    raise
                self._attempts += 1
                delay = next(delays)
                log.warning("%s is not up yet (%s); trying again in %.2g s (attempt %d%s)", self.source_id, err,
                            delay, self._attempts, "" if self.retries < 0 else f" of {self.retries}")
                if self._stopping.wait(delay):
                    log.info("%s: stopped while waiting for the first frame", self.source_id)
                    return  # no pipeline: iteration yields nothing

    def _close(self) -> None:
        self._teardown()

    def _start(self) -> None:
        Gst, _, _ = self._gst
        launch = self.spec.launch
        if self.spec.kind == "video" and is_iso_media(self.spec.location):
            problem = index_problem(self.spec.location)
            if problem is not None:
                raise InputError(f"cannot open source {self.source_id}: {problem}")
        try:
            pipeline = Gst.parse_launch(launch)
        except Exception as err:  # GLib.Error: no such element, bad syntax
            text = getattr(err, "message", str(err))
            hint = next((h for name, h in _HINTS.items() if f'"{name}"' in text or f"'{name}'" in text), "")
            raise InputError(f"cannot build the GStreamer pipeline for {self.source_id}: {text}"
                             + (f" ({hint})" if hint else "") + f"; pipeline: {launch}") from None
        self._pipeline = pipeline
        self._appsink = self._find_appsink(pipeline)
        if self._appsink is None:
            self._teardown()
            raise InputError(f"the GStreamer pipeline for {self.source_id} has no appsink; end it with "
                             "'videoconvert ! video/x-raw,format=RGB ! appsink'")
        self._appsink.set_property("emit-signals", False)
        self._appsink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._count_buffer)
        self._bus = pipeline.get_bus()
        self._eos = False
        ret = pipeline.set_state(Gst.State.PLAYING)
        if ret == Gst.StateChangeReturn.FAILURE:
            message = self._bus_error() or "the pipeline refused to start"
            self._teardown()
            raise _NotUp(f"cannot open source {self.source_id}: {message}")
        if ret == Gst.StateChangeReturn.NO_PREROLL and not self.live:
            self.live = True  # a raw launch string with a live source: latest-frame semantics
            self._appsink.set_property("max-buffers", 1)
            self._appsink.set_property("drop", True)
        try:
            self._pending = self._pull(self.open_timeout)
        except _Stop as stop:
            self._teardown()
            if stop.reason == "eos":
                raise _NotUp(f"source {self.source_id} ended before its first frame (empty or unplayable)") from None
            if stop.reason == "timeout":
                raise _NotUp(f"source {self.source_id} gave no frame within {self.open_timeout:g} s") from None
            hint = "; the file may be cut off or not a video" if self.spec.kind == "video" else ""
            raise _NotUp(f"cannot open source {self.source_id}: {stop.message}{hint}") from None
        self.fps = self._caps_fps(self._pending.get_caps())
        ok, duration = pipeline.query_duration(Gst.Format.TIME)
        self.duration = duration / Gst.SECOND if ok and duration > 0 and not self.live else None
        self.description = f"{self.spec.kind} {self.source_id}" + (f" @ {self.fps:g} fps" if self.fps else "")
        log.info("source opened: %s (live=%s)", self.description, self.live)

    def _teardown(self) -> None:
        if self._pipeline is not None:
            Gst, _, _ = self._gst
            self._pipeline.set_state(Gst.State.NULL)
            self._pipeline.get_state(Gst.CLOCK_TIME_NONE)
        self._pipeline = self._appsink = self._bus = self._pending = None

    def _find_appsink(self, pipeline: Any) -> Any:
        named = pipeline.get_by_name(APPSINK_NAME) if hasattr(pipeline, "get_by_name") else None
        if named is not None:
            return named
        if not hasattr(pipeline, "iterate_recurse"):
            return pipeline if pipeline.get_factory().get_name() == "appsink" else None
        Gst, _, _ = self._gst
        it = pipeline.iterate_recurse()
        while True:
            result, element = it.next()
            if result == Gst.IteratorResult.RESYNC:
                it.resync()
                continue
            if result != Gst.IteratorResult.OK:
                return None
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "appsink":
                return element

    def _count_buffer(self, pad: Any, info: Any) -> Any:
        Gst, _, _ = self._gst
        with self._lock:
            self._arrived += 1
        return Gst.PadProbeReturn.OK

    # -- pulling --------------------------------------------------------------------------------------------
    def _bus_error(self) -> str | None:
        Gst, _, _ = self._gst
        msg = self._bus.pop_filtered(Gst.MessageType.ERROR) if self._bus is not None else None
        if msg is None:
            return None
        err, debug = msg.parse_error()
        return f"{err.message} ({msg.src.get_name()})"

    def _pull(self, timeout: float) -> Any:
        """The next sample, or raise _Stop('eos'|'error'|'timeout')."""
        Gst, _, _ = self._gst
        deadline = time.monotonic() + timeout
        while True:
            sample = self._appsink.try_pull_sample(int(_PULL_SLICE_S * Gst.SECOND))
            if sample is not None:
                with self._lock:
                    self._pulled += 1
                return sample
            error = self._bus_error()
            if error is not None:
                raise _Stop("error", error)
            if self._appsink.is_eos():
                with self._lock:
                    self._eos = True
                raise _Stop("eos")
            if time.monotonic() > deadline:
                raise _Stop("timeout", f"no frame within {timeout:g} s")

    def _caps_fps(self, caps: Any) -> float | None:
        ok, num, den = caps.get_structure(0).get_fraction("framerate")
        return num / den if ok and num > 0 and den > 0 else None

    def _to_pixels(self, sample: Any) -> np.ndarray:
        _, _, GstVideo = self._gst
        caps = sample.get_caps()
        if self._layout is None or not self._layout[0].is_equal(caps):
            info = video_info(GstVideo, caps)  # VideoInfo.new_from_caps is GStreamer 1.20+; JetPack 5 has 1.16
            fmt = info.finfo.name
            if fmt not in _FORMATS:
                raise ValueError(f"appsink delivered {fmt} frames; add 'videoconvert ! video/x-raw,format=RGB' "
                                 "before the appsink")
            bpp, order = _FORMATS[fmt]
            self._layout = (caps, (info.width, info.height, info.stride[0], fmt, order))
            self.fps = self._caps_fps(caps) or self.fps
        w, h, stride, fmt, order = self._layout[1]
        bpp = _FORMATS[fmt][0]
        buf = sample.get_buffer()
        data = np.frombuffer(buf.extract_dup(0, buf.get_size()), dtype=np.uint8)
        if data.size < stride * (h - 1) + w * bpp:
            raise ValueError(f"short buffer: {data.size} bytes for {w}x{h} {fmt}")
        rows = np.lib.stride_tricks.as_strided(data, (h, w * bpp), (stride, 1))
        if order == "gray16":
            return np.ascontiguousarray(rows).view("<u2").reshape(h, w)
        if order == "gray":
            return np.ascontiguousarray(rows)
        pix = rows.reshape(h, w, bpp)[..., :3]
        return np.ascontiguousarray(pix[..., ::-1] if order == "bgr" else pix)

    def _reconnect(self, reason: str) -> bool:
        """Rebuild the pipeline with exponential backoff; False once `retries` attempts (over the source's life,
        -1 = unlimited) are spent. The wait restarts from `backoff` after each successful reconnect."""
        delays = backoff_delays(self.backoff)
        while self.retries < 0 or self._attempts < self.retries:
            self._attempts += 1
            delay = next(delays)
            log.warning("%s dropped (%s); reconnecting in %.2g s (attempt %d)", self.source_id, reason, delay,
                        self._attempts)
            self._teardown()
            if self._stopping.wait(delay):
                return False
            try:
                self._start()
            except InputError as err:
                reason = str(err)
                continue
            self.reconnects += 1
            return True
        return False

    def _frames(self) -> Iterator[Frame | FrameError]:
        Gst, _, _ = self._gst
        index = 0
        while self._pipeline is not None:
            try:
                sample = self._pending if self._pending is not None else self._pull(self.timeout)
                self._pending = None
            except _Stop as stop:
                if stop.reason == "eos":
                    for problem in filter(None, (self._lost_frames(), self._truncation())):
                        log.warning(problem)
                        yield FrameError(index, self.source_id, self._path(), problem, time.time())
                    self._gaps, self._next_pts = [], None
                if stop.reason == "eos" and self.loop and index > 0:
                    self._pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
                    continue
                if stop.reason == "eos":
                    log.info("%s: end of stream after %d frame(s)", self.source_id, index)
                    return
                if self.retries != 0 and self._reconnect(stop.message):
                    continue
                message = f"{self.source_id} stopped after {index} frame(s): {stop.message}"
                log.warning(message)
                yield FrameError(index, self.source_id, self._path(), message, time.time())
                return
            try:
                pixels = self._to_pixels(sample)
            except ValueError as err:
                yield FrameError(index, self.source_id, self._path(), str(err), time.time())
                index += 1
                continue
            buf = sample.get_buffer()
            meta = {}
            if buf.pts != Gst.CLOCK_TIME_NONE:
                meta["pts"] = buf.pts / Gst.SECOND
                step = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
                self._stream_end = max(self._stream_end, (buf.pts + step) / Gst.SECOND)
                self._note_gap(buf.pts / Gst.SECOND, step / Gst.SECOND)
            yield Frame(pixels, index, self.source_id, time.time(), self._path(), meta)
            index += 1

    def _note_gap(self, start: float, step: float) -> None:
        """Count the frames a file's timestamps skip (the decoder dropped data it could not decode)."""
        step = step or (1.0 / self.fps if self.fps else 0.0)
        if self.live or self.spec.kind != "video" or step <= 0:
            return
        if self._next_pts is not None and start - self._next_pts > 0.5 * step:
            self._gaps.append((self._next_pts, max(1, round((start - self._next_pts) / step))))
        self._next_pts = start + step

    def _lost_frames(self) -> str | None:
        """A message when frames inside a file never came out of the decoder (a damaged copy)."""
        if not self._gaps:
            return None
        where = ", ".join(f"{at:.2f} s" for at, _ in self._gaps[:5]) + (" …" if len(self._gaps) > 5 else "")
        lost = sum(n for _, n in self._gaps)
        return (f"{self.source_id} lost about {lost} frame(s) its timestamps skip (at {where}): the decoder could not "
                "decode that data; the file looks damaged")

    def _truncation(self) -> str | None:
        """A message when a file stopped well before the duration its container declares (a cut-off copy)."""
        if self.duration is None or self._stream_end <= 0:
            return None
        tolerance = max(0.1, 1.5 / self.fps) if self.fps else 0.1
        if self._stream_end >= self.duration - tolerance:
            return None
        return (f"{self.source_id} ended at {self._stream_end:.2f} s of its declared {self.duration:.2f} s: "
                "the file looks truncated")

    def _path(self) -> str | None:
        return self.spec.location if self.spec.kind == "video" else None
