"""GStreamer 1.16 (JetPack 5, Ubuntu 20.04) API surface: no call newer than 1.16 anywhere in the runtime, and the
VideoInfo layer on both bindings of `gst_video_info_from_caps` (method up to 1.18, out-argument from 1.20)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from skyseg.runtime.gst_pipeline import video_info

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
# GStreamer API added after 1.16 (the "Since:" lines of the GStreamer 1.18-1.24 API references), as Python attribute
# names. A runtime that calls one of them raises AttributeError on JetPack 5; a compatibility layer looks such a
# name up with getattr(..., None) and has a 1.16 path (see `video_info`).
NEWER_THAN_116 = {
    "new_from_caps": "GstVideo.VideoInfo.new_from_caps (1.20)",
    "request_pad_simple": "Gst.Element.request_pad_simple (1.20)",
    "new_memdup": "Gst.Buffer.new_memdup (1.20)",
    "make_with_properties": "Gst.ElementFactory.make_with_properties (1.20)",
    "make_full": "Gst.ElementFactory.make_full (1.20)",
    "serialize_full": "Gst.Structure/Caps.serialize_full (1.20)",
    "try_pull_object": "GstApp.AppSink.try_pull_object (1.20)",
    "pull_object": "GstApp.AppSink.pull_object (1.20)",
    "set_leaky_type": "GstApp.AppSrc.set_leaky_type (1.20)",
    "iterate_all_by_element_factory_name": "Gst.Bin.iterate_all_by_element_factory_name (1.18)",
    "get_single_internal_link": "Gst.Pad.get_single_internal_link (1.18)",
    "get_current_running_time": "Gst.Element.get_current_running_time (1.18)",
    "get_current_clock_time": "Gst.Element.get_current_clock_time (1.18)",
    "get_active_tracers": "Gst.Tracing.get_active_tracers (1.18)",
    "add_custom_meta": "Gst.Buffer.add_custom_meta (1.20)",
}


def _newer_calls(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in NEWER_THAN_116:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {NEWER_THAN_116[node.attr]}")
    return found


def test_runtime_calls_no_gstreamer_api_newer_than_1_16():
    assert _newer_calls(RUNTIME) == []


def test_the_scan_finds_a_newer_call(tmp_path: Path):
    pkg = tmp_path / "runtime"
    pkg.mkdir()
    (pkg / "m.py").write_text("def f(GstVideo, caps):\n    return GstVideo.VideoInfo.new_from_caps(caps)\n")
    assert _newer_calls(pkg) == ["runtime/m.py:2 GstVideo.VideoInfo.new_from_caps (1.20)"]


class _Caps:
    def __init__(self, video: bool) -> None:
        self.video = video

    def to_string(self) -> str:
        return "video/x-raw" if self.video else "audio/x-raw"


class _GstVideo116:
    """GstVideo as GStreamer 1.16's typelib binds it: `from_caps` is a method that fills the instance and returns a
    bool, and there is no `new_from_caps`."""

    class VideoInfo:
        def __init__(self) -> None:
            self.width = 0

        def from_caps(self, caps: _Caps) -> bool:
            if caps.video:
                self.width = 320
            return caps.video


def test_video_info_on_the_1_16_binding():
    assert not hasattr(_GstVideo116.VideoInfo, "new_from_caps")
    assert video_info(_GstVideo116, _Caps(True)).width == 320
    with pytest.raises(ValueError, match="not raw video: audio/x-raw"):
        video_info(_GstVideo116, _Caps(False))


gi = pytest.importorskip("gi", reason="GStreamer tests need PyGObject (pip install 'pygobject<3.50')")


@pytest.mark.gstreamer
def test_video_info_on_this_machines_gstreamer():
    from skyseg.runtime.gst_pipeline import load_gst

    Gst, _, GstVideo = load_gst()
    info = video_info(GstVideo, Gst.Caps.from_string("video/x-raw,format=RGB,width=321,height=5,framerate=25/1"))
    assert (info.width, info.height, info.finfo.name, info.stride[0]) == (321, 5, "RGB", 964)
    with pytest.raises(ValueError, match="not raw video"):
        video_info(GstVideo, Gst.Caps.from_string("audio/x-raw,format=S16LE,rate=8000,channels=1"))
