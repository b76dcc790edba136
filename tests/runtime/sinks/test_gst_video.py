"""appsrc → encoder → file: frames read back, atomic rename, interruption policy, encoder choice, headless display."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame
from skyseg.runtime.sources.uri import open_source

pytest.importorskip("gi", reason="GStreamer tests need PyGObject (pip install 'pygobject<3.50')")
pytestmark = pytest.mark.gstreamer

from skyseg.runtime.gst_pipeline import has_element  # noqa: E402
from skyseg.runtime.sinks.gst_video import DisplaySink, VideoFileSink, choose_encoder  # noqa: E402


def _ramp(n: int, w: int, h: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = 20 * i  # red grows, green fixed, blue 0: catches RGB/BGR swaps
        img[..., 1] = 128
        frames.append(img)
    return frames


@pytest.mark.parametrize(
    ("name", "encoder", "size", "read_size"),
    [
        ("out.mp4", "x264enc", (320, 240), (320, 240)),
        ("odd.mkv", None, (161, 121), (160, 120)),  # H.264 needs even sizes: scaled by one pixel
        ("out.webm", "vp8enc", (161, 121), (161, 121)),
        ("out.avi", "jpegenc", (96, 64), (96, 64)),
    ],
)
def test_written_video_reads_back(tmp_path: Path, name: str, encoder: str | None, size: tuple[int, int],
                                  read_size: tuple[int, int]) -> None:
    chosen = choose_encoder(tmp_path / name, encoder)
    if not has_element(chosen.elements[0]):
        pytest.skip(f"{chosen.name} not installed")
    frames = _ramp(12, *size)
    with VideoFileSink(tmp_path / name, 10.0, size, encoder=encoder) as sink:
        for f in frames:
            sink.write(f)
        assert sink.tmp_path.exists() and not (tmp_path / name).exists()  # written under a temp name
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    with open_source(str(tmp_path / name)) as src:
        back = [r for r in src]
        assert src.fps == 10.0
    assert len(back) == 12 and all(isinstance(r, Frame) for r in back)
    assert back[0].pixels.shape == (read_size[1], read_size[0], 3)
    means = [r.pixels.reshape(-1, 3).mean(axis=0) for r in back]
    np.testing.assert_allclose([m[0] for m in means], [20 * i for i in range(12)], atol=8)  # red ramp
    np.testing.assert_allclose([m[1] for m in means], 128, atol=8)
    np.testing.assert_allclose([m[2] for m in means], 0, atol=8)


def test_exception_inside_with_still_finalises(tmp_path: Path) -> None:
    target = tmp_path / "night.mkv"
    with pytest.raises(KeyboardInterrupt):
        with VideoFileSink(target, 5.0, (64, 48)) as sink:
            for f in _ramp(4, 64, 48):
                sink.write(f)
            raise KeyboardInterrupt  # what Ctrl-C / a SIGTERM handler raising would do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.mkv"]
    with open_source(str(target)) as src:
        assert len(list(src)) == 4


def test_abort_and_empty_leave_nothing(tmp_path: Path) -> None:
    with VideoFileSink(tmp_path / "a.mkv", 5.0, (64, 48)) as sink:
        sink.write(_ramp(1, 64, 48)[0])
        sink.abort()
    with VideoFileSink(tmp_path / "empty.mkv", 5.0, (64, 48)):
        pass
    assert list(tmp_path.iterdir()) == []


def test_write_checks_frames(tmp_path: Path) -> None:
    with VideoFileSink(tmp_path / "c.mkv", 5.0, (64, 48)) as sink:
        with pytest.raises(ValueError, match="opened for 64x48 frames, got 32x48"):
            sink.write(np.zeros((48, 32, 3), np.uint8))
        with pytest.raises(ValueError, match=r"expects H×W×3 uint8 RGB frames, got shape \(48, 64\)"):
            sink.write(np.zeros((48, 64), np.uint8))
        sink.abort()


@pytest.mark.parametrize(
    ("name", "encoder", "error", "message"),
    [
        ("x.gif", None, InputError, r"unknown container \.gif"),
        ("x.webm", "x264enc", InputError, r"encoder x264enc cannot write \.webm files; choose one of vp8enc"),
        ("x.avi", None, None, "jpegenc"),
        ("x.webm", None, None, "vp8enc"),
    ],
)
def test_encoder_choice(tmp_path: Path, name: str, encoder: str | None, error: type | None, message: str) -> None:
    if error is None:
        assert choose_encoder(tmp_path / name, encoder).name == message
    else:
        with pytest.raises(error, match=message):
            choose_encoder(tmp_path / name, encoder)


def test_mp4_prefers_hardware_then_x264() -> None:
    enc = choose_encoder("night.mp4")
    expected = "nvv4l2h264enc" if has_element("nvv4l2h264enc") and has_element("h264parse") else "x264enc"
    if not has_element("x264enc") and expected == "x264enc":
        pytest.skip("no H.264 encoder installed")
    assert enc.name == expected


def test_display_fails_clearly_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(InputError, match="display://0 needs a graphical session, but DISPLAY and WAYLAND_DISPLAY "
                                         "are unset; use --headless or a file:// sink"):
        DisplaySink("display://0")
