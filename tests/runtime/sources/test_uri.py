"""URI grammar: every kind parses to the expected spec and launch string; bad sources fail with one clear sentence."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.sources.uri import list_images, open_source, parse_uri

TAIL_LIVE = ("videoconvert ! video/x-raw,format=RGB ! appsink name=skyseg_sink sync=false max-buffers=1 drop=true")
TAIL_FILE = ("videoconvert ! video/x-raw,format=RGB ! appsink name=skyseg_sink sync=false max-buffers=4 drop=false")


@pytest.mark.parametrize(
    ("uri", "kind", "location", "launch"),
    [
        ("csi://0", "csi", "0",
         "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1 ! "
         "nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! " + TAIL_LIVE),
        ("csi://1?w=1280&h=720&fps=60&flip=2", "csi", "1",
         "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=60/1 ! "
         "nvvidconv flip-method=2 ! video/x-raw,format=BGRx ! " + TAIL_LIVE),
        ("v4l2:///dev/video0", "v4l2", "/dev/video0", "v4l2src device=/dev/video0 ! " + TAIL_LIVE),
        ("/dev/video2", "v4l2", "/dev/video2", "v4l2src device=/dev/video2 ! " + TAIL_LIVE),
        ("v4l2://3", "v4l2", "/dev/video3", "v4l2src device=/dev/video3 ! " + TAIL_LIVE),
        ("v4l2:///dev/video0?w=1920&h=1080&fps=30&codec=mjpeg", "v4l2", "/dev/video0",
         "v4l2src device=/dev/video0 ! image/jpeg,width=1920,height=1080,framerate=30/1 ! jpegdec ! " + TAIL_LIVE),
        ("rtsp://user:pw@10.0.0.5:554/stream1", "rtsp", "rtsp://user:pw@10.0.0.5:554/stream1",
         "rtspsrc location=rtsp://user:pw@10.0.0.5:554/stream1 latency=200 protocols=tcp ! decodebin ! " + TAIL_LIVE),
        ("test://", "test", "smpte",
         "videotestsrc pattern=smpte num-buffers=-1 is-live=false ! video/x-raw,width=640,height=480,"
         "framerate=30/1 ! " + TAIL_FILE),
        ("test://ball?n=5&w=320&h=240&fps=15&live=1", "test", "ball",
         "videotestsrc pattern=ball num-buffers=5 is-live=true ! video/x-raw,width=320,height=240,"
         "framerate=15/1 ! " + TAIL_LIVE),
    ],
)
def test_uri_to_launch_string(uri: str, kind: str, location: str, launch: str) -> None:
    spec = parse_uri(uri)
    assert (spec.kind, spec.location, spec.launch) == (kind, location, launch)
    assert spec.live == (kind in ("csi", "v4l2", "rtsp") or "live=1" in uri)


def test_rtsp_options_come_from_keywords() -> None:
    spec = parse_uri("rtsp://cam/live?channel=1", latency=50, protocols="udp")
    assert spec.launch.startswith('rtspsrc location=rtsp://cam/live?channel=1 latency=50 protocols=udp ! decodebin')


def test_file_paths_and_shorthands(tmp_path: Path) -> None:
    clip = tmp_path / "night clip.mp4"
    clip.write_bytes(b"\0\0\0\x20ftypisom")
    (tmp_path / "a.png").write_bytes(b"\0")
    plain, full = parse_uri(str(clip)), parse_uri(f"file://{clip}")
    assert plain.kind == full.kind == "video"
    assert plain.launch == full.launch == f'filesrc location="{clip}" ! decodebin ! ' + TAIL_FILE
    (tmp_path / "b.mkv").write_bytes(b"\x1a\x45\xdf\xa3")
    assert parse_uri(str(tmp_path / "b.mkv")).launch == f"filesrc location={tmp_path / 'b.mkv'} ! decodebin ! " + TAIL_FILE
    assert parse_uri(str(tmp_path / "a.png")).kind == "images"
    assert parse_uri(str(tmp_path)).kind == "images"
    assert parse_uri(str(tmp_path / "*.png")).kind == "images"
    assert parse_uri(str(tmp_path), watch=True).kind == "watch"
    sky = parse_uri("test://sky?n=3&seed=7&bits=16")
    assert (sky.kind, sky.options) == ("synth", {"n": 3, "seed": 7, "bits": 16})


def test_raw_launch_string_is_kept_verbatim() -> None:
    raw = "videotestsrc num-buffers=3 ! videoconvert ! video/x-raw,format=RGB ! appsink name=out"
    spec = parse_uri(raw)
    assert (spec.kind, spec.launch) == ("gst", raw)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "the source is empty"),
        ("videotestsrc ! fakesink", "a GStreamer launch string must end in an appsink"),
        ("csi://front", "csi:// needs a sensor number like csi://0, got 'csi://front'"),
        ("http://example.com/a.mp4", "unsupported source scheme 'http'"),
        ("test://plaid", "unknown videotestsrc pattern 'plaid'"),
        ("test://ball?n=many", "source option n='many' is not a valid int"),
        ("v4l2:///dev/video0?codec=h265", "v4l2 codec must be 'raw' or 'mjpeg', got 'h265'"),
        ("/nonexistent/night.mp4", "source '/nonexistent/night.mp4' does not exist"),
    ],
)
def test_bad_uris_raise_input_error(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("?", r"\?").replace("(", r"\(")):
        parse_uri(uri)


def test_watch_needs_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(b"\0")
    with pytest.raises(InputError, match="--watch needs a directory"):
        open_source(str(f), watch=True)


def test_list_images_natural_order_and_filter(tmp_path: Path) -> None:
    for name in ["img10.jpg", "img2.png", "img1.fits.gz", "notes.txt", "IMG3.TIF", ".hidden.jpg.tmp"]:
        (tmp_path / name).write_bytes(b"\0")
    names = [p.name for p in list_images(str(tmp_path))]
    assert names == ["img1.fits.gz", "img2.png", "IMG3.TIF", "img10.jpg"]
    assert [p.name for p in list_images(str(tmp_path / "img*.*g"))] == ["img2.png", "img10.jpg"]


def test_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(InputError, match=r"no images found at .* \(looked for \.jpg"):
        with open_source(str(tmp_path)):
            pass


def test_synthetic_sky_source() -> None:
    synth = pytest.importorskip("skyseg.synth")
    if not hasattr(synth, "render_scene"):
        pytest.skip("skyseg.synth.render_scene is not written yet")
    with open_source("test://sky?n=2&w=96&h=64&seed=3") as src:
        frames = list(src)
    assert [f.index for f in frames] == [0, 1]
    assert frames[0].pixels.shape[:2] == (64, 96)
    assert frames[0].meta["seed"] == 3 and frames[1].meta["seed"] == 4
    assert np.asarray(frames[0].meta["mask"]).shape[:2] == (64, 96)
