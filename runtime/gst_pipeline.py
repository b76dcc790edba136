"""GStreamer launch strings for capture, built as plain text so they can be logged and pasted into gst-launch-1.0.

Every capture pipeline ends in the same tail: `videoconvert ! video/x-raw,format=RGB ! appsink name=skyseg_sink`.
Compressed streams (RTSP, files) are decoded by the chain `skyseg.runtime.gst_platform` picks for this machine
(Jetson hardware decoder + nvvidconv, desktop NVIDIA nvcodec, or CPU decodebin).
Live sources (cameras, RTSP, live test sources) get latest-frame semantics (`max-buffers=1 drop=true`), so a slow
model sees the newest frame and stale ones are dropped and counted; files keep every frame (`drop=false`) and
the appsink's small queue blocks the decoder instead.
"""
from __future__ import annotations

import functools
import logging
from typing import Any

from skyseg.runtime.errors import MissingDependencyError
from skyseg.runtime.gst_platform import decode_chain, detect_platform

log = logging.getLogger(__name__)

APPSINK_NAME = "skyseg_sink"
FILE_QUEUE_BUFFERS = 4  # decoded frames held ahead of the model for files (memory vs. smoothness)
VIDEOTESTSRC_PATTERNS = (
    "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2", "checkers-4",
    "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut", "chroma-zone-plate", "solid-color",
    "ball", "smpte100", "bar", "pinwheel", "spokes", "gradient", "colors", "smpte-rp-219",
)


def quote(value: str) -> str:
    """Quote a property value for a launch string when it holds spaces or quotes."""
    if value and all(c not in value for c in " \t\"'!;\\"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def appsink_tail(live: bool) -> str:
    """The common end: convert to packed RGB and hand frames to Python."""
    queue = "max-buffers=1 drop=true" if live else f"max-buffers={FILE_QUEUE_BUFFERS} drop=false"
    return f"videoconvert ! video/x-raw,format=RGB ! appsink name={APPSINK_NAME} sync=false {queue}"


def _raw_caps(memory: str | None, fmt: str | None, width: int | None, height: int | None,
              fps: float | None) -> str | None:
    fields = []
    if fmt:
        fields.append(f"format={fmt}")
    if width:
        fields.append(f"width={int(width)}")
    if height:
        fields.append(f"height={int(height)}")
    if fps:
        fields.append(f"framerate={fraction(fps)}")
    if not fields and memory is None:
        return None
    head = "video/x-raw" if memory is None else f"video/x-raw(memory:{memory})"
    return ",".join([head, *fields])


def fraction(fps: float) -> str:
    """Frames per second as a GStreamer fraction string (30 → '30/1', 29.97 → '2997/100')."""
    if float(fps).is_integer():
        return f"{int(fps)}/1"
    return f"{int(round(fps * 1000))}/1000"


def csi_launch(sensor_id: int, width: int = 1920, height: int = 1080, fps: float = 30.0,
               flip_method: int = 0) -> str:
    """Jetson CSI camera: nvarguscamerasrc (NVMM) → nvvidconv to system-memory BGRx → RGB appsink."""
    nvmm = _raw_caps("NVMM", None, width, height, fps)
    return (
        f"nvarguscamerasrc sensor-id={int(sensor_id)} ! {nvmm} ! "
        f"nvvidconv flip-method={int(flip_method)} ! video/x-raw,format=BGRx ! " + appsink_tail(live=True)
    )


def v4l2_launch(device: str, width: int | None = None, height: int | None = None, fps: float | None = None,
                codec: str = "raw") -> str:
    """USB/V4L2 camera; `codec=mjpeg` asks the camera for MJPEG (needed by many cameras at high resolutions)."""
    src = f"v4l2src device={quote(device)}"
    if codec == "mjpeg":
        caps = ",".join(["image/jpeg", *(_raw_caps(None, None, width, height, fps) or "x").split(",")[1:]])
        return f"{src} ! {caps} ! jpegdec ! " + appsink_tail(live=True)
    if codec != "raw":
        raise ValueError(f"v4l2 codec must be 'raw' or 'mjpeg', got {codec!r}")
    caps = _raw_caps(None, None, width, height, fps)
    return f"{src} ! " + (f"{caps} ! " if caps else "") + appsink_tail(live=True)


def rtsp_launch(url: str, latency_ms: int = 200, protocols: str = "tcp", codec: str | None = None,
                platform: str | None = None) -> str:
    """RTSP camera: rtspsrc → this platform's decode chain → RGB appsink.

    `codec` (h264/h265) names the stream's codec for an explicit depay ! parse ! decoder chain; None autoplugs.
    `platform` (jetson/nvidia/cpu) defaults to what `gst_platform.detect_platform` finds installed.
    """
    decode = decode_chain(platform or detect_platform(), codec, rtp=True)
    return (
        f"rtspsrc location={quote(url)} latency={int(latency_ms)} protocols={protocols} ! "
        f"{decode} ! " + appsink_tail(live=True)
    )


def file_launch(path: str, platform: str | None = None) -> str:
    """Video file: filesrc → decodebin (+ nvvidconv on a Jetson) → RGB appsink, never dropping frames.

    decodebin pulls from filesrc (no queue in between): pushed, qtdemux returns a single frame from short MP4s
    (≤ 6 frames) and avidemux misses small files' frames. MP4/MOV files whose index is missing, on which pulling
    stalls, are refused before the pipeline is built (`skyseg.runtime.sources.iso_media`).
    """
    decode = decode_chain(platform or detect_platform())
    return f"filesrc location={quote(path)} ! {decode} ! " + appsink_tail(live=False)


def videotestsrc_launch(pattern: str = "smpte", num_buffers: int = -1, width: int = 640, height: int = 480,
                        fps: float = 30.0, live: bool = False) -> str:
    """GStreamer's test source; `live=True` paces it like a camera (and gives latest-frame semantics)."""
    if pattern not in VIDEOTESTSRC_PATTERNS:
        raise ValueError(f"unknown videotestsrc pattern {pattern!r}; expected one of {', '.join(VIDEOTESTSRC_PATTERNS)}")
    caps = _raw_caps(None, None, width, height, fps)
    return (
        f"videotestsrc pattern={pattern} num-buffers={int(num_buffers)} is-live={'true' if live else 'false'} ! "
        f"{caps} ! " + appsink_tail(live=live)
    )

GST_INSTALL_HINT = (
    "install GStreamer and its Python bindings: `apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav gir1.2-gstreamer-1.0 "
    "gir1.2-gst-plugins-base-1.0` and `pip install 'pygobject<3.50'`"
)


@functools.lru_cache(maxsize=None)  # functools.cache is 3.9+; the runtime stays 3.8-clean (JetPack 5)
def _gcc_unwinder_first() -> None:
    """Put GCC's unwinder (libgcc_s) into the process-wide symbol scope before GStreamer arrives.

    Debian's libgstreamer links the nongnu libunwind, which also defines the C++ exception ABI (`_Unwind_*`), and
    GObject introspection loads it into the global scope. Any C++ library that first throws after that (ONNX's or
    ONNX Runtime's pybind11 modules, torch's ONNX exporter) then unwinds with libunwind over frames built for
    libgcc_s, and the process dies ("terminate called after throwing an instance of 'pybind11::stop_iteration'",
    or a segfault). With libgcc_s loaded globally first, those symbols resolve to it. Harmless where GStreamer
    does not link libunwind (the first definition in the global scope wins; libgcc_s is what C++ uses anyway).
    Once per process (`load_gst` runs for every pipeline and element lookup); the soname is loaded directly, as
    `ctypes.util.find_library` would spawn `ldconfig` to find the same name.
    """
    import ctypes

    try:
        ctypes.CDLL("libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)
    except OSError as err:  # not glibc/GCC (musl, macOS): nothing to order
        log.debug("libgcc_s not loaded globally (%s)", err)


def load_gst() -> tuple[Any, Any, Any]:
    """Import and initialise GStreamer (Gst, GstApp, GstVideo) lazily; a clear error names what to install."""
    _gcc_unwinder_first()
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstApp", "1.0")
        gi.require_version("GstVideo", "1.0")
        from gi.repository import Gst, GstApp, GstVideo
    except (ImportError, ValueError) as err:
        raise MissingDependencyError(f"GStreamer is not available to Python ({err}); {GST_INSTALL_HINT}") from None
    if not Gst.is_initialized():
        Gst.init(None)
    return Gst, GstApp, GstVideo


def video_info(GstVideo: Any, caps: Any) -> Any:  # the module's own name
    """A `GstVideo.VideoInfo` for `caps` on every GStreamer from 1.16 (JetPack 5) on; ValueError if caps are not video.

    `VideoInfo.new_from_caps` exists only from 1.20 (JetPack 6, desktops), so it is looked up, not called blindly.
    Before 1.20, `from_caps` is a method that fills the instance and returns a bool. From 1.20 on `from_caps` is
    bound with the VideoInfo as a caller-allocated out-argument instead, and that form corrupted the heap here
    (PyGObject 3.48, GStreamer 1.22: segfaults while a file source looped), so it is never used.
    """
    new_from_caps = getattr(GstVideo.VideoInfo, "new_from_caps", None)
    if new_from_caps is not None:
        try:
            info = new_from_caps(caps)
        except TypeError:  # PyGObject: "constructor returned NULL" for caps that are not raw video
            info = None
        ok = info is not None
    else:
        info = GstVideo.VideoInfo()
        ok = info.from_caps(caps)
    if not ok:
        raise ValueError(f"appsink delivered caps that are not raw video: {caps.to_string()}")
    return info


def has_element(name: str) -> bool:
    """Whether a GStreamer element factory is installed."""
    Gst, _, _ = load_gst()
    return Gst.ElementFactory.find(name) is not None
