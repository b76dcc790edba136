"""Video out through GStreamer: RGB frames → appsrc → encoder → muxer → file, or → a display window.

Atomic files: `VideoFileSink` encodes into a hidden temp file next to the target and renames it into place only
after end-of-stream reached the muxer (so an MP4's index is written). When the `with` block ends by an exception
— including KeyboardInterrupt or a SIGTERM the caller turns into one — the frames written so far are still
finalised and renamed (a night's video is worth keeping); if the encoder itself failed, or no frame was written,
the temp file is deleted. A hard kill (SIGKILL, power loss) leaves the hidden `.<name>.part` file: MP4/MOV are
written fragmented, so it plays up to its last fragment, and the next run recovers it (sinks/video_recovery.py).

The encoder is the first installed one that the file's container accepts (see `ENCODERS`), and is logged:
`.mp4/.m4v/.mov` need H.264 (nvv4l2h264enc on Jetson, x264enc, openh264enc); `.mkv` takes any of them and also
VP8 or MJPEG; `.webm` takes VP8; `.avi` takes MJPEG.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from skyseg.runtime.errors import InputError, MissingDependencyError, SkysegError
from skyseg.runtime.gst_pipeline import GST_INSTALL_HINT, fraction, load_gst, quote
from skyseg.runtime.sinks.video_recovery import FRAGMENT_MS, part_path

log = logging.getLogger(__name__)

EOS_TIMEOUT_S = 30.0  # how long close() waits for the muxer to finalise


@dataclass(frozen=True)
class Encoder:
    """One encoder option: the elements it needs, the containers it fits, and its launch-string fragment."""

    name: str
    suffixes: tuple[str, ...]
    elements: tuple[str, ...]
    chain: str  # may use {kbps} and {gop}
    even_size: bool  # 4:2:0 encoders need even width and height


_H264 = (".mp4", ".m4v", ".mov", ".mkv")
ENCODERS: tuple[Encoder, ...] = (
    Encoder("nvv4l2h264enc", _H264, ("nvvidconv", "nvv4l2h264enc", "h264parse"),
            "videoconvert ! video/x-raw,format=RGBA ! nvvidconv ! video/x-raw(memory:NVMM),format=I420 ! "
            "nvv4l2h264enc bitrate={bps} iframeinterval={gop} ! h264parse", True),
    Encoder("x264enc", _H264, ("x264enc",),
            "videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast bframes=0 bitrate={kbps} key-int-max={gop}",
            True),
    Encoder("openh264enc", _H264, ("openh264enc", "h264parse"),
            "videoconvert ! video/x-raw,format=I420 ! openh264enc bitrate={bps} gop-size={gop} ! h264parse", True),
    Encoder("vp8enc", (".webm", ".mkv"), ("vp8enc",),
            "videoconvert ! vp8enc deadline=1 target-bitrate={bps} keyframe-max-dist={gop}", False),
    Encoder("jpegenc", (".avi", ".mkv"), ("jpegenc",), "videoconvert ! jpegenc quality=90", False),
)
# MP4/MOV as fragmented MP4: a killed run's temp file plays up to its last fragment (sinks/video_recovery.py)
MUXER_OPTIONS = {"mp4mux": f" fragment-duration={FRAGMENT_MS}", "qtmux": f" fragment-duration={FRAGMENT_MS}"}
MUXERS = {".mp4": "mp4mux", ".m4v": "mp4mux", ".mov": "qtmux", ".mkv": "matroskamux", ".webm": "webmmux",
          ".avi": "avimux"}


def choose_encoder(path: str | Path, requested: str | None = None) -> Encoder:
    """The first installed encoder that fits the file's container (or the requested one, checked)."""
    Gst, _, _ = load_gst()
    suffix = Path(path).suffix.lower()
    if suffix not in MUXERS:
        raise InputError(f"cannot write video {path}: unknown container {suffix or '(none)'}; "
                         f"use one of {', '.join(MUXERS)}")
    if Gst.ElementFactory.find(MUXERS[suffix]) is None:
        raise MissingDependencyError(f"writing {suffix} needs the GStreamer muxer {MUXERS[suffix]}; {GST_INSTALL_HINT}")
    fitting = [e for e in ENCODERS if suffix in e.suffixes and (requested is None or e.name == requested)]
    if requested is not None and not fitting:
        raise InputError(f"encoder {requested} cannot write {suffix} files; choose one of "
                         f"{', '.join(e.name for e in ENCODERS if suffix in e.suffixes)}")
    for enc in fitting:
        missing = [name for name in enc.elements if Gst.ElementFactory.find(name) is None]
        if not missing:
            return enc
        log.debug("encoder %s unavailable (missing %s)", enc.name, ", ".join(missing))
    names = ", ".join(e.name for e in fitting)
    raise MissingDependencyError(f"no installed GStreamer encoder can write {suffix} (tried {names}); install "
                                 "gstreamer1.0-plugins-ugly for x264enc, or write .webm/.avi/.mkv instead")


def encoder_launch(enc: Encoder, fps: float, size_wh: tuple[int, int], location: str, muxer: str,
                   bitrate_kbps: int = 4000) -> str:
    """appsrc → [even-size scale] → encoder → muxer → filesink, as a launch string."""
    w, h = size_wh
    scale = ""
    if enc.even_size and (w % 2 or h % 2):
        scale = f"videoscale ! video/x-raw,width={w - w % 2},height={h - h % 2} ! "
    gop = max(1, int(round(fps * 2)))
    chain = enc.chain.format(kbps=int(bitrate_kbps), bps=int(bitrate_kbps) * 1000, gop=gop)
    return (f"appsrc name=skyseg_src format=time is-live=false block=true "
            f"caps=video/x-raw,format=RGB,width={w},height={h},framerate={fraction(fps)} ! {scale}{chain} ! "
            f"{muxer}{MUXER_OPTIONS.get(muxer, '')} ! filesink location={quote(location)}")


def _packed_rows(rgb: np.ndarray) -> np.ndarray:
    """RGB rows padded to GStreamer's default stride (a multiple of 4 bytes), as raw video caps require."""
    h, w = rgb.shape[:2]
    stride = (w * 3 + 3) & ~3
    if stride == w * 3:
        return np.ascontiguousarray(rgb)
    rows = np.zeros((h, stride), dtype=np.uint8)
    rows[:, : w * 3] = rgb.reshape(h, w * 3)
    return rows


class _AppsrcPipeline:
    """Shared plumbing: a pipeline fed by an appsrc named skyseg_src, with bus error checks."""

    def __init__(self, launch: str, fps: float, what: str) -> None:
        self.launch = launch
        self.fps = float(fps)
        self.what = what
        self.frames = 0
        self._gst = load_gst()
        self._pipeline: Any = None
        self._appsrc: Any = None
        self._failed: str | None = None
        self._size: tuple[int, int] | None = None

    def _start(self) -> None:
        Gst, _, _ = self._gst
        try:
            self._pipeline = Gst.parse_launch(self.launch)
        except Exception as err:  # GLib.Error
            raise InputError(f"cannot build the {self.what} pipeline: {getattr(err, 'message', err)}; "
                             f"pipeline: {self.launch}") from None
        self._appsrc = self._pipeline.get_by_name("skyseg_src")
        self._bus = self._pipeline.get_bus()
        if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            message = self._error() or "the pipeline refused to start"
            self._stop()
            raise InputError(f"cannot start the {self.what}: {message}")
        log.info("%s: gst-launch-1.0 %s", self.what, self.launch)

    def _error(self) -> str | None:
        Gst, _, _ = self._gst
        msg = self._bus.pop_filtered(Gst.MessageType.ERROR)
        if msg is None:
            return None
        err, _ = msg.parse_error()
        return f"{err.message} ({msg.src.get_name()})"

    def write(self, rgb: np.ndarray) -> None:
        """Push one H×W×3 uint8 RGB frame."""
        Gst, _, _ = self._gst
        if self._pipeline is None:
            raise SkysegError(f"the {self.what} is closed; write frames inside its `with` block")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"{self.what} expects H×W×3 uint8 RGB frames, got shape {rgb.shape} dtype {rgb.dtype}")
        self._check_size(rgb.shape[1], rgb.shape[0])
        buf = Gst.Buffer.new_wrapped(_packed_rows(rgb).tobytes())
        buf.duration = int(Gst.SECOND / self.fps)
        buf.pts = buf.dts = self.frames * buf.duration
        flow = self._appsrc.emit("push-buffer", buf)
        error = self._error()
        if flow != Gst.FlowReturn.OK or error:
            self._failed = error or f"push returned {flow.value_nick}"
            raise SkysegError(f"the {self.what} failed after {self.frames} frame(s): {self._failed}")
        self.frames += 1

    def _check_size(self, w: int, h: int) -> None:
        if self._size is not None and (w, h) != self._size:
            raise ValueError(f"{self.what} was opened for {self._size[0]}x{self._size[1]} frames, got {w}x{h}")

    def _finish(self, timeout_s: float) -> str | None:
        """Send EOS and wait for it to reach the sink; returns an error message or None."""
        Gst, _, _ = self._gst
        self._appsrc.emit("end-of-stream")
        msg = self._bus.timed_pop_filtered(int(timeout_s * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            return f"no end-of-stream within {timeout_s:g} s"
        if msg.type == Gst.MessageType.ERROR:
            err, _ = msg.parse_error()
            return f"{err.message} ({msg.src.get_name()})"
        return None

    def _stop(self) -> None:
        if self._pipeline is not None:
            Gst, _, _ = self._gst
            self._pipeline.set_state(Gst.State.NULL)
            self._pipeline.get_state(Gst.CLOCK_TIME_NONE)
        self._pipeline = self._appsrc = None


class VideoFileSink(_AppsrcPipeline):
    """Encode RGB frames into a video file, atomically (see the module docstring for the interruption policy)."""

    def __init__(self, path: str | Path, fps: float, size_wh: tuple[int, int], encoder: str | None = None,
                 bitrate_kbps: int = 4000) -> None:
        self.path = Path(path)
        if fps <= 0:
            raise InputError(f"video fps must be positive, got {fps}")
        self.encoder = choose_encoder(self.path, encoder)
        self.tmp_path = part_path(self.path)
        launch = encoder_launch(self.encoder, fps, size_wh, str(self.tmp_path), MUXERS[self.path.suffix.lower()],
                                bitrate_kbps)
        super().__init__(launch, fps, f"video writer {self.path.name}")
        self._size = (int(size_wh[0]), int(size_wh[1]))
        log.info("writing %s with %s (%dx%d @ %g fps)", self.path, self.encoder.name, *self._size, fps)

    def __enter__(self) -> VideoFileSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> Path | None:
        """Finalise and rename into place; returns the final path, or None when nothing was kept."""
        if self._pipeline is None:
            return None
        error = self._failed or (self._finish(EOS_TIMEOUT_S) if self.frames else "no frames were written")
        self._stop()
        if error is not None:
            self.tmp_path.unlink(missing_ok=True)
            if self.frames:
                raise SkysegError(f"could not finalise video {self.path}: {error}; no file was written")
            log.warning("video %s not written: %s", self.path, error)
            return None
        os.replace(self.tmp_path, self.path)
        log.info("wrote %s (%d frames, %s)", self.path, self.frames, self.encoder.name)
        return self.path

    def abort(self) -> None:
        """Stop without keeping anything: the temp file is deleted."""
        self._stop()
        self.tmp_path.unlink(missing_ok=True)


def display_available() -> bool:
    """Whether a graphical session is reachable (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class DisplaySink(_AppsrcPipeline):
    """Show RGB frames in a window (`display://0`): nveglglessink on Jetson, else autovideosink."""

    def __init__(self, uri: str = "display://0", fps: float = 30.0) -> None:
        if not display_available():
            raise InputError(f"{uri} needs a graphical session, but DISPLAY and WAYLAND_DISPLAY are unset; "
                             "use --headless or a file:// sink")
        Gst, _, _ = load_gst()
        if Gst.ElementFactory.find("nveglglessink") is not None and Gst.ElementFactory.find("nvvidconv") is not None:
            tail = "videoconvert ! video/x-raw,format=RGBA ! nvvidconv ! video/x-raw(memory:NVMM) ! nveglglessink sync=false"
        else:
            tail = "videoconvert ! autovideosink sync=false"
        super().__init__(f"appsrc name=skyseg_src format=time is-live=true do-timestamp=false ! {tail}", fps,
                         f"display {uri}")

    def __enter__(self) -> DisplaySink:
        self._start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _check_size(self, w: int, h: int) -> None:
        if (w, h) != self._size:  # a display follows the frames: renegotiate caps when the size changes
            Gst, _, _ = self._gst
            caps = Gst.Caps.from_string(f"video/x-raw,format=RGB,width={w},height={h},framerate={fraction(self.fps)}")
            self._appsrc.set_property("caps", caps)
            self._size = (w, h)

    def close(self) -> None:
        """Close the window."""
        if self._pipeline is not None:
            self._finish(2.0)
            self._stop()
