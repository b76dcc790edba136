"""Frame sources addressed by URI: one grammar, one factory (`open_source`), one iterator protocol.

Grammar (shorthands in brackets are normalised to the full form):

- `csi://N` — Jetson CSI camera N (nvarguscamerasrc); options `w`, `h`, `fps`, `flip`.
- `v4l2:///dev/videoN` [`/dev/videoN`, `v4l2://N`] — USB/V4L2 camera; options `w`, `h`, `fps`, `codec=raw|mjpeg`.
- `rtsp://host/path` (or `rtsps://`) — network camera, waited for when it is not up yet (a camera that boots after
  the computer) and reconnected when it drops, with exponential backoff, each attempt logged; options `latency`
  (ms), `retries` (attempts before giving up, -1 = forever, the default), `backoff` (first wait in seconds, doubled
  per attempt up to 30 s). Other GStreamer sources wait and reconnect too when given `retries`.
- `file://clip.mp4` [`clip.mp4`] — a video file decoded by GStreamer; never drops frames.
- `file://frame.png`, a directory, or a glob [`night/*.fits`] — still images: JPEG/PNG/TIFF/BMP (8/16-bit) and
  FITS (`.fits`, `.fit`, `.fts`, optionally `.gz`), in natural name order. A directory without images of its own
  is searched recursively: a YOLO-seg dataset root (`images/<split>/...`) or a folder of night folders.
- `test://[pattern]?n=30&w=640&h=480&fps=30&live=0` — GStreamer videotestsrc; `test://sky?n=30&seed=0&kind=mixed
  &w=640&h=480&bits=8` renders synthetic night skies (skyseg.synth) with their true masks in `meta`.
- a raw GStreamer launch string containing `!` and ending in an `appsink` (named `skyseg_sink` or found by type).

Options come from the URI query (csi, v4l2, test) or from `open_source(..., **opts)`, which wins. Common options:
`timeout` (seconds to wait for a frame before reporting a timeout). `watch=True` turns a directory into a
watch source (new files as a camera writes them); `loop=True` repeats files, folders and synthetic streams.
"""
from __future__ import annotations

import glob as _glob
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime import gst_pipeline

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_NOT_FRAMES = ("labels", "masks")  # a YOLO-seg dataset's folders beside images/: never frames
KINDS = ("csi", "v4l2", "rtsp", "video", "images", "test", "synth", "gst", "watch")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_DEV_VIDEO = re.compile(r"^/dev/video\d+$")
_OPTION_TYPES: dict[str, type] = {
    "n": int, "w": int, "h": int, "fps": float, "live": bool, "seed": int, "kind": str, "bits": int,
    "flip": int, "codec": str, "latency": int, "retries": int, "timeout": float, "poll": float,
    "settle": float, "retry": float, "existing": bool, "idle_timeout": float, "protocols": str, "recursive": bool,
    "open_timeout": float, "backoff": float,
}
_ALIASES = {"width": "w", "height": "h", "num_buffers": "n", "num-buffers": "n", "bit_depth": "bits"}


def is_still_image(path: str | Path) -> bool:
    """True for file names the image/FITS readers handle (by suffix, case-insensitive)."""
    name = str(path).lower()
    return name.endswith(IMAGE_SUFFIXES) or name.endswith(FITS_SUFFIXES)


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI: what kind it is, where it points, its options, and its GStreamer launch string."""

    kind: str
    location: str
    options: dict[str, Any] = field(default_factory=dict)
    launch: str | None = None  # the generated (or given) GStreamer pipeline, for gst-launch-1.0
    live: bool = False
    uri: str = ""


class Source(ABC):
    """Context manager and iterator of `Frame | FrameError`.

    Attributes: `fps` (None when unknown), `live` (latest-frame semantics), `dropped` (stale frames dropped so
    far), `description` (one line for logs). Iteration ends at end of stream; opening a missing camera, an
    unplayable file or an empty folder raises `InputError`.
    """

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.fps: float | None = None
        self.live = spec.live
        self.description = spec.uri or spec.location
        self._opened = False

    @property
    def dropped(self) -> int:
        """Frames the source discarded because the consumer was slower (live sources only)."""
        return 0

    @property
    def source_id(self) -> str:
        return self.spec.uri or self.spec.location

    def open(self) -> None:
        """Acquire the device/pipeline; idempotent."""
        if not self._opened:
            self._open()
            self._opened = True

    def close(self) -> None:
        """Release everything; idempotent."""
        if self._opened:
            self._opened = False
            self._close()

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame | FrameError]:
        self.open()
        return self._frames()

    def _open(self) -> None:  # noqa: B027 - optional hook
        """Subclasses acquire resources here."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Subclasses release resources here."""

    @abstractmethod
    def _frames(self) -> Iterator[Frame | FrameError]:
        """Yield frames until the end of the stream."""


def _coerce(key: str, value: Any) -> Any:
    kind = _OPTION_TYPES.get(key)
    if kind is None or not isinstance(value, str):
        return value
    try:
        if kind is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise InputError(f"source option {key}={value!r} is not a valid {kind.__name__}; fix the URI query") from None


def _options(query: str, opts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, value in [*parse_qsl(query, keep_blank_values=True), *opts.items()]:
        key = _ALIASES.get(key, key)
        merged[key] = _coerce(key, value)
    return merged


def _split_query(rest: str) -> tuple[str, str]:
    location, _, query = rest.partition("?")
    return location, query


def _path_spec(path: str, uri: str, opts: dict[str, Any], watch: bool) -> SourceSpec:
    options = _options("", opts)
    if watch:
        if not Path(path).is_dir():
            raise InputError(f"--watch needs a directory, but {path!r} is not one; pass the folder the camera writes to")
        return SourceSpec("watch", str(Path(path)), options, None, True, uri)
    if any(c in path for c in "*?["):
        return SourceSpec("images", path, options, None, False, uri)
    p = Path(path)
    if p.is_dir():
        return SourceSpec("images", str(p), options, None, False, uri)
    if not p.exists():
        raise InputError(f"source {path!r} does not exist; give an existing file, folder, glob or camera URI")
    if is_still_image(p):
        return SourceSpec("images", str(p), options, None, False, uri)
    return SourceSpec("video", str(p), options, gst_pipeline.file_launch(str(p)), False, uri)


def parse_uri(uri: str, *, watch: bool = False, **opts: Any) -> SourceSpec:
    """Parse a source URI or shorthand into a `SourceSpec` (raises InputError for what cannot be a source)."""
    uri = uri.strip()
    if not uri:
        raise InputError("the source is empty; give a file, folder, glob, camera URI or GStreamer pipeline")
    if "!" in uri and not _SCHEME.match(uri):
        if not re.search(r"\bappsink\b", uri):
            raise InputError("a GStreamer launch string must end in an appsink, e.g. "
                             "'... ! videoconvert ! video/x-raw,format=RGB ! appsink'")
        return SourceSpec("gst", uri, _options("", opts), uri, False, uri)
    m = _SCHEME.match(uri)
    if m is None:
        if _DEV_VIDEO.match(uri):
            return parse_uri(f"v4l2://{uri}", **opts)
        return _path_spec(uri, uri, opts, watch)
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "file":
        return _path_spec(rest, uri, opts, watch)
    if scheme in ("rtsp", "rtsps"):
        o = _options("", opts)
        launch = gst_pipeline.rtsp_launch(uri, o.get("latency", 200), o.get("protocols", "tcp"))
        return SourceSpec("rtsp", uri, o, launch, True, uri)
    location, query = _split_query(rest)
    o = _options(query, opts)
    if scheme == "csi":
        if not location.isdigit():
            raise InputError(f"csi:// needs a sensor number like csi://0, got {uri!r}")
        launch = gst_pipeline.csi_launch(int(location), o.get("w", 1920), o.get("h", 1080), o.get("fps", 30.0),
                                         o.get("flip", 0))
        return SourceSpec("csi", location, o, launch, True, uri)
    if scheme == "v4l2":
        device = f"/dev/video{location}" if location.isdigit() else location
        if not _DEV_VIDEO.match(device) and not device.startswith("/dev/"):
            raise InputError(f"v4l2:// needs a device like v4l2:///dev/video0, got {uri!r}")
        try:
            launch = gst_pipeline.v4l2_launch(device, o.get("w"), o.get("h"), o.get("fps"), o.get("codec", "raw"))
        except ValueError as err:
            raise InputError(str(err)) from None
        return SourceSpec("v4l2", device, o, launch, True, f"v4l2://{device}")
    if scheme == "test":
        pattern = location or "smpte"
        if pattern == "sky":
            return SourceSpec("synth", "sky", o, None, False, uri)
        live = bool(o.get("live", False))
        try:
            launch = gst_pipeline.videotestsrc_launch(pattern, o.get("n", -1), o.get("w", 640), o.get("h", 480),
                                                      o.get("fps", 30.0), live)
        except ValueError as err:
            raise InputError(f"{err} (or 'sky' for synthetic night skies)") from None
        return SourceSpec("test", pattern, o, launch, live, uri)
    raise InputError(f"unsupported source scheme {scheme!r} in {uri!r}; use csi://, v4l2://, rtsp://, file://, "
                     "test://, a path, a glob or a GStreamer pipeline ending in appsink")


def list_images(location: str | Path) -> list[Path]:
    """Still images of a single file, a glob, a folder, a YOLO-seg dataset root or a folder of night folders, in
    natural name order: the one place a folder of frames is expanded (run, serve, calib, verify, export, label).

    A folder that holds images gives those (its sub-folders are not searched). One that holds none is searched
    recursively: a dataset root gives every split under its `images/` folder (`images/train/...`, `images/val/...`),
    any other folder its nested night folders; hidden folders and a dataset's `labels/` and `masks/` are skipped.
    """
    p = Path(location)
    if p.is_file():
        return [p]
    if not p.is_dir():
        candidates = [Path(x) for x in _glob.glob(str(location), recursive=True)]
    else:
        candidates = [c for c in p.iterdir() if c.is_file() and is_still_image(c)]
        if not candidates:
            candidates = _nested_images(p / "images" if (p / "images").is_dir() else p)
    return sorted((c for c in candidates if c.is_file() and is_still_image(c)), key=_natural_key)


def _nested_images(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _NOT_FRAMES]
        found += [Path(folder) / f for f in files if not f.startswith(".") and is_still_image(f)]
    return found


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def open_source(uri: str, *, watch: bool = False, loop: bool = False, **opts: Any) -> Source:
    """Parse `uri` and return the matching Source (not yet opened; use it as a context manager)."""
    spec = parse_uri(uri, watch=watch, **opts)
    if spec.launch:
        log.info("source %s (%s): gst-launch-1.0 %s", spec.uri, spec.kind, spec.launch)
    if spec.kind == "images":
        from skyseg.runtime.sources.image_reader import ImageSequenceSource

        return ImageSequenceSource(spec, loop=loop)
    if spec.kind == "watch":
        from skyseg.runtime.sources.watch import WatchSource

        return WatchSource(spec)
    if spec.kind == "synth":
        from skyseg.runtime.sources.synthetic import SynthSource

        return SynthSource(spec, loop=loop)
    from skyseg.runtime.sources.gst_source import GstSource

    return GstSource(spec, loop=loop)


__all__ = ["Frame", "FrameError", "KINDS", "Source", "SourceSpec", "is_still_image", "list_images", "open_source",
           "parse_uri"]
