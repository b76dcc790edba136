"""Real GStreamer capture: test sources, a generated video file, a cut-off copy, raw launch strings, a missing camera."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.sources.gst_source import backoff_delays
from skyseg.runtime.sources.uri import open_source

gi = pytest.importorskip("gi", reason="GStreamer tests need PyGObject (pip install 'pygobject<3.50')")
pytestmark = pytest.mark.gstreamer


def _need(*elements: str) -> None:
    from skyseg.runtime.gst_pipeline import has_element

    missing = [e for e in elements if not has_element(e)]
    if missing:
        pytest.skip(f"GStreamer elements not installed: {', '.join(missing)}")


def _encode(path: Path, frames: int, mux: str, extra: str = "") -> Path:
    _need("x264enc", mux)
    if shutil.which("gst-launch-1.0") is None:
        pytest.skip("gst-launch-1.0 not installed (apt gstreamer1.0-tools)")
    cmd = (f"gst-launch-1.0 -q videotestsrc pattern=ball num-buffers={frames} ! "
           f"video/x-raw,width=160,height=120,framerate=30/1 ! x264enc ! {mux} {extra} ! filesink location={path}")
    subprocess.run(cmd.split(), check=True, timeout=30)
    return path


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


def _drain(src, limit_s: float = 20.0) -> list[Frame | FrameError]:
    out, start = [], time.monotonic()
    for rec in src:
        out.append(rec)
        assert time.monotonic() - start < limit_s, "source did not end in time"
    return out


def test_videotestsrc_exact_count_and_size() -> None:
    with open_source("test://ball?n=7&w=321&h=241&fps=25") as src:
        recs = _drain(src)
        assert src.fps == 25.0 and not src.live and src.dropped == 0
    assert [r.index for r in recs] == list(range(7))
    assert all(r.pixels.shape == (241, 321, 3) and r.pixels.dtype == np.uint8 for r in recs)
    assert recs[1].meta["pts"] == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("caps", "expect"),
    [  # odd width forces padded rows (stride 964 for RGB): pixels must still come out exact
        ("video/x-raw,format=RGB,width=321,height=5", (255, 0, 0)),
        ("video/x-raw,format=BGRx,width=33,height=4", (255, 0, 0)),
        ("video/x-raw,format=BGR,width=7,height=3", (255, 0, 0)),
        ("video/x-raw,format=GRAY8,width=9,height=3", 81),  # GStreamer's luma of pure red
    ],
)
def test_raw_launch_string_pixels_are_exact(caps: str, expect: tuple[int, ...] | int) -> None:
    launch = f"videotestsrc pattern=red num-buffers=3 ! {caps} ! appsink"  # unnamed appsink: found by type
    with open_source(launch) as src:
        recs = _drain(src)
    assert len(recs) == 3 and all(isinstance(r, Frame) for r in recs)
    px = recs[0].pixels
    w, h = int(caps.split("width=")[1].split(",")[0]), int(caps.split("height=")[1])
    if isinstance(expect, tuple):
        assert px.shape == (h, w, 3)
        assert (px.reshape(-1, 3) == np.array(expect, np.uint8)).all()
    else:
        assert px.shape == (h, w)
        assert px.min() == px.max() == expect


def test_raw_launch_with_unusable_format_is_a_frame_error() -> None:
    with open_source("videotestsrc num-buffers=2 ! video/x-raw,format=I420,width=16,height=16 ! appsink") as src:
        recs = _drain(src)
    assert len(recs) == 2 and all(isinstance(r, FrameError) for r in recs)
    assert "appsink delivered I420 frames; add 'videoconvert ! video/x-raw,format=RGB'" in recs[0].message


def test_live_source_drops_stale_frames_and_counts_them() -> None:
    with open_source("test://smpte?n=30&live=1&fps=200&w=64&h=48") as src:
        assert src.live
        got = []
        for rec in src:
            got.append(rec)
            time.sleep(0.03)  # a slow consumer: ~6 frames arrive per frame consumed
        dropped = src.dropped
    assert len(got) + dropped == 30
    assert dropped >= 10
    indices = [r.index for r in got]
    assert indices == list(range(len(got)))


def test_video_file_exact_frame_count(clip_dir: Path) -> None:
    clip = _encode(clip_dir / "clip.mp4", 30, "mp4mux")
    with open_source(f"file://{clip}") as src:
        recs = _drain(src)
        assert src.fps == 30.0 and src.duration == pytest.approx(1.0) and not src.live
    assert len(recs) == 30 and all(isinstance(r, Frame) for r in recs)
    assert recs[0].pixels.shape == (120, 160, 3) and recs[0].path == str(clip)
    pts = np.array([r.meta["pts"] for r in recs])
    np.testing.assert_allclose(np.diff(pts), 1 / 30, atol=1e-3)  # (H.264 reordering may start pts above 0)


def test_video_file_loop(clip_dir: Path) -> None:
    clip = _encode(clip_dir / "loop.mkv", 10, "matroskamux")
    with open_source(str(clip), loop=True) as src:
        recs = [r for _, r in zip(range(25), src)]
    assert [r.index for r in recs] == list(range(25))
    assert all(isinstance(r, Frame) for r in recs)
    assert recs[10].meta["pts"] == pytest.approx(recs[0].meta["pts"], abs=1e-3)


@pytest.mark.parametrize("mux", ["mp4mux", "qtmux", "matroskamux"])
def test_short_video_files_give_every_frame(clip_dir: Path, mux: str) -> None:
    """Regression: qtdemux in push mode returned 1 frame from MP4s of up to 6 frames."""
    for frames in (1, 2, 3, 5, 6, 7):
        clip = _encode(clip_dir / f"short{frames}_{mux}.bin", frames, mux)
        with open_source(f"file://{clip}") as src:
            recs = _drain(src)
        assert len(recs) == frames and all(isinstance(r, Frame) for r in recs), (mux, frames, recs[-1:])


@pytest.mark.parametrize(("mux", "extra"), [("mp4mux", "faststart=true"), ("matroskamux", "")])
def test_truncated_video_gives_frames_then_a_frame_error(clip_dir: Path, mux: str, extra: str) -> None:
    clip = _encode(clip_dir / f"full_{mux}.bin", 30, mux, extra)
    cut = clip_dir / f"cut_{mux}.{'mp4' if mux == 'mp4mux' else 'mkv'}"
    data = clip.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    start = time.monotonic()
    with open_source(str(cut)) as src:
        recs = _drain(src)
    assert time.monotonic() - start < 10
    frames = [r for r in recs if isinstance(r, Frame)]
    assert 5 <= len(frames) < 30
    assert isinstance(recs[-1], FrameError) and recs[-1].index == len(frames)
    assert "of its declared 1.00 s: the file looks truncated" in recs[-1].message


def test_cut_off_mp4_without_index_is_an_input_error_quickly(clip_dir: Path) -> None:
    clip = _encode(clip_dir / "moov_at_end.mp4", 30, "mp4mux")
    cut = clip_dir / "moov_cut.mp4"
    cut.write_bytes(clip.read_bytes()[: int(clip.stat().st_size * 0.6)])
    start = time.monotonic()
    with pytest.raises(InputError, match=r"^cannot open source .*moov_cut\.mp4: it has no index \(moov box\) in "
                                         r"\d+ bytes: the recording was cut off before it was finalised$"):
        with open_source(str(cut)):
            pass
    assert time.monotonic() - start < 5


def test_not_a_video_is_an_input_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="cannot open source .*notes.mp4"):
        with open_source(str(bogus), open_timeout=5):
            pass


def test_missing_camera_is_an_input_error() -> None:
    _need("v4l2src")
    with pytest.raises(InputError, match=r"^cannot open source v4l2:///dev/video9: Cannot identify device "
                                         r"'/dev/video9'\. \(v4l2src\d+\)$"):
        with open_source("/dev/video9"):
            pass


def test_csi_without_jetson_plugins_is_an_input_error() -> None:
    from skyseg.runtime.gst_pipeline import has_element

    if has_element("nvarguscamerasrc"):
        pytest.skip("this machine has nvarguscamerasrc")
    with pytest.raises(InputError, match=r'no element "nvarguscamerasrc" \(csi:// needs a Jetson with the '
                                         r"nvarguscamerasrc plugin \(JetPack\)\); pipeline: nvarguscamerasrc sensor-id=0"):
        with open_source("csi://0"):
            pass


def test_unreachable_rtsp_fails_after_bounded_retries() -> None:
    _need("rtspsrc")
    start = time.monotonic()
    with pytest.raises(InputError, match="cannot open source rtsp://127.0.0.1:9/none"):
        with open_source("rtsp://127.0.0.1:9/none", open_timeout=5, retries=2, backoff=0.2):
            pass  # by default an RTSP camera is waited for without end (tests/runtime/sources/test_rtsp_boot.py)
    assert time.monotonic() - start < 8


def test_backoff_delays() -> None:
    delays = backoff_delays(1.0, 2.0, 30.0)
    assert [next(delays) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_dropped_stream_reconnects_then_gives_up() -> None:
    # identity error-after makes every pipeline instance fail after a few frames, like a camera that drops
    launch = ("videotestsrc is-live=true ! video/x-raw,width=32,height=24,framerate=100/1 ! identity error-after=4 ! "
              "videoconvert ! video/x-raw,format=RGB ! appsink")
    start = time.monotonic()
    with open_source(launch, retries=2, backoff=0.01) as src:
        recs = _drain(src)
        assert src.reconnects == 2
    assert time.monotonic() - start < 10
    frames = [r for r in recs if isinstance(r, Frame)]
    assert len(frames) >= 3  # frames from all three pipeline instances
    assert [r.index for r in recs] == list(range(len(recs)))
    assert isinstance(recs[-1], FrameError)
    assert f"stopped after {len(frames)} frame(s): Failed after iterations as requested." in recs[-1].message


_AFTER_GST = """
import sys
import onnx, onnxruntime as ort
from skyseg.runtime.sources.uri import open_source
with open_source("test://ball?n=2&w=32&h=24&fps=25") as src:
    frames = sum(1 for _ in src)
for fn in (lambda: ort.InferenceSession(b"not an onnx model", providers=["CPUExecutionProvider"]),
           lambda: onnx.checker.check_model(onnx.ModelProto())):
    try:
        fn()
    except Exception as err:
        print("caught", type(err).__name__, frames, flush=True)
"""


def test_cxx_exceptions_still_reach_python_after_gstreamer() -> None:
    """Debian's libgstreamer brings libunwind's `_Unwind_*` into the global scope; without libgcc_s there first,
    the next C++ exception (ONNX Runtime, ONNX, torch's exporter) kills the process (it segfaulted here)."""
    import sys

    out = subprocess.run([sys.executable, "-c", _AFTER_GST], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-1500:]}"
    assert out.stdout.split("\n")[:2] == ["caught InvalidProtobuf 2", "caught ValidationError 2"]
