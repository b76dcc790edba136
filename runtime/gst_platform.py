"""Which decode chain a compressed stream (RTSP camera, video file) takes, per platform, chosen by probing elements.

One table, three platforms:

* **jetson** — JetPack's `nvv4l2decoder` (hardware decoder) and `nvvidconv`. The decoder's only output is
  `video/x-raw(memory:NVMM)`, which `videoconvert` cannot take, so `nvvidconv` copies frames to system memory
  as BGRx first. decodebin on a Jetson picks nvv4l2decoder itself (it has the highest rank), so an autoplugged
  chain needs the same `nvvidconv` step after it.
* **nvidia** — a desktop/server NVIDIA GPU with GStreamer's `nvcodec` plugin (`nvh264dec`, `nvh265dec`); its
  decoders hand system memory to `videoconvert` when that is all downstream accepts.
* **cpu** — anything else: decodebin with the software decoders that are installed (avdec_h264, vp8dec, ...).

The platform is found by asking GStreamer's registry for the elements (`Gst.ElementFactory.find`), never guessed
from the machine's name; without GStreamer the CPU chain is used (opening the source then reports what to install).
Strings are plain text so they can be logged and pasted into gst-launch-1.0.
"""
from __future__ import annotations

import functools
import logging
from typing import Callable, Dict, Optional, Tuple

from skyseg.runtime.errors import MissingDependencyError

log = logging.getLogger(__name__)

PLATFORMS = ("jetson", "nvidia", "cpu")
CODECS = ("h264", "h265")
# The elements whose presence identifies a platform, checked in this order.
PROBES: Dict[str, Tuple[str, ...]] = {"jetson": ("nvv4l2decoder", "nvvidconv"), "nvidia": ("nvh264dec",), "cpu": ()}
_TO_SYSTEM_MEMORY = "nvvidconv ! video/x-raw,format=BGRx"  # Jetson: NVMM → system memory, BGRx
# platform → codec (None = autoplug: decodebin finds the codec) → decode chain, from compressed stream to raw video
DECODE: Dict[str, Dict[Optional[str], str]] = {
    "jetson": {
        None: f"decodebin ! {_TO_SYSTEM_MEMORY}",
        "h264": f"h264parse ! nvv4l2decoder ! {_TO_SYSTEM_MEMORY}",
        "h265": f"h265parse ! nvv4l2decoder ! {_TO_SYSTEM_MEMORY}",
    },
    "nvidia": {
        None: "decodebin",
        "h264": "h264parse ! nvh264dec",
        "h265": "h265parse ! nvh265dec",
    },
    "cpu": {
        None: "decodebin",
        "h264": "h264parse ! avdec_h264",
        "h265": "h265parse ! avdec_h265",
    },
}
DEPAY = {"h264": "rtph264depay", "h265": "rtph265depay"}


def decode_chain(platform: str, codec: str | None = None, rtp: bool = False) -> str:
    """The decode part of a pipeline; `rtp=True` puts the RTP depayloader in front when the codec is named."""
    if platform not in DECODE:
        raise ValueError(f"unknown GStreamer platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
    if codec is not None and codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)} (or none to autoplug)")
    chain = DECODE[platform][codec]
    return f"{DEPAY[codec]} ! {chain}" if rtp and codec is not None else chain


def probe_platform(has: Callable[[str], bool]) -> str:
    """The first platform whose elements `has(name)` reports installed ('cpu' needs none)."""
    for platform in PLATFORMS:
        if all(has(name) for name in PROBES[platform]):
            return platform
    return "cpu"


@functools.lru_cache(maxsize=None)
def detect_platform() -> str:
    """This machine's platform from GStreamer's element registry; 'cpu' when GStreamer is not importable."""
    from skyseg.runtime.gst_pipeline import has_element  # gst_pipeline builds on this table

    try:
        platform = probe_platform(has_element)
    except MissingDependencyError as err:
        log.debug("GStreamer not available (%s); using the CPU decode chain", err)
        return "cpu"
    log.info("GStreamer decode platform: %s", platform)
    return platform
