"""The output grammar, beside the sources' one (`sources/uri.py`): every `--output` is parsed here, once.

    mqtt://HOST[:PORT]/BASE_TOPIC[?discovery=homeassistant]   per-frame values on a broker (sinks/mqtt.py)
    display://N                                                 a window
    file://out.mp4, out.mkv, ... (VIDEO_SUFFIXES)               an annotated video
    DIR/ or a path without a suffix                             a folder of annotated images
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skyseg.runtime.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
KINDS = ("mqtt", "display", "video", "images")


@dataclass(frozen=True)
class OutputSpec:
    """One parsed `--output`: its kind, the URI as given and, for files, the path."""

    kind: str  # one of KINDS
    uri: str
    path: str = ""  # the video file or the images folder


def parse_output(uri: str) -> OutputSpec:
    """The OutputSpec of `uri`, or InputError in one sentence (an mqtt:// URI is checked in full here too)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "mqtt":
        from skyseg.runtime.sinks.mqtt import MqttTarget

        MqttTarget.parse(uri)  # its one sentence for a bad broker URI
        return OutputSpec("mqtt", uri)
    if scheme == "display":
        return OutputSpec("display", uri)
    if scheme not in ("", "file"):
        raise InputError(f"--output {uri}: unknown scheme {scheme}://; expected mqtt://, display://, file://, a "
                         "video file or a folder")
    path = uri[len("file://"):] if scheme == "file" else uri
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        return OutputSpec("video", uri, path)
    if Path(path).suffix and not path.endswith("/"):
        raise InputError(f"--output {uri}: expected display://N, a video file ({', '.join(VIDEO_SUFFIXES)}) "
                         "or a folder for annotated images")
    return OutputSpec("images", uri, path)
