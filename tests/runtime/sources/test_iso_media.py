"""MP4/MOV index check: box walking on hand-built files, and the verdict on real encoder output cut at every size."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from skyseg.runtime.sources.iso_media import index_problem, is_iso_media, top_level_boxes


def _box(kind: bytes, payload: bytes = b"", *, large: bool = False, to_end: bool = False) -> bytes:
    if to_end:
        return struct.pack(">I4s", 0, kind) + payload
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_box_walk_handles_32_64_bit_and_to_end_sizes(tmp_path: Path) -> None:
    f = tmp_path / "a.mp4"
    f.write_bytes(_box(b"ftyp", b"isom0000") + _box(b"mdat", b"x" * 100, large=True) + _box(b"moov", b"y" * 9,
                                                                                             to_end=True))
    assert top_level_boxes(f) == [("ftyp", 0, 16), ("mdat", 16, 116), ("moov", 132, 17)]
    assert is_iso_media(f) and index_problem(f) is None


def test_missing_and_cut_moov_are_named(tmp_path: Path) -> None:
    no_moov = tmp_path / "no_moov.mp4"
    no_moov.write_bytes(_box(b"ftyp", b"isom0000") + _box(b"mdat", b"x" * 50))
    assert index_problem(no_moov) == ("it has no index (moov box) in 74 bytes: the recording was cut off before it "
                                      "was finalised")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((_box(b"ftyp", b"isom0000") + _box(b"moov", b"y" * 40))[:30])
    assert index_problem(cut) == "its index (moov box) is cut off at byte 30 of the 64 it declares: the file is truncated"
    assert not is_iso_media(tmp_path / "missing.mp4")


@pytest.mark.gstreamer
def test_real_mp4_cut_anywhere_is_caught(tmp_path: Path) -> None:
    """A classic MP4 (index at the end, as cameras and other tools write it) cut anywhere is named as truncated."""
    import shutil
    import subprocess

    if shutil.which("gst-launch-1.0") is None:
        pytest.skip("gst-launch-1.0 is not installed")
    path = tmp_path / "clip.mp4"
    done = subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=12", "!",
                           "video/x-raw,width=64,height=48,framerate=10/1", "!", "x264enc", "!", "mp4mux", "!",
                           "filesink", f"location={path}"], capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"cannot write an MP4 here: {done.stderr.decode(errors='replace')[-200:]}")
    data = path.read_bytes()
    assert index_problem(path) is None
    names = [b[0] for b in top_level_boxes(path)]
    assert names[0] == "ftyp" and "mdat" in names and "moov" in names
    (_, moov_at, moov_size), = [b for b in top_level_boxes(path) if b[0] == "moov"]
    cut = tmp_path / "cut.mp4"
    for end in [*range(16, len(data) - 1, max(1, len(data) // 23)), len(data) - 1]:
        cut.write_bytes(data[:end])
        problem = index_problem(cut)
        assert problem is not None, end
        assert ("cut off at byte" in problem) == (end >= moov_at + 8), (end, problem)


@pytest.mark.gstreamer
def test_skysegs_own_fragmented_mp4_cut_gives_its_frames_then_an_error_row(tmp_path: Path) -> None:
    """skyseg writes fragmented MP4 (a killed run's video stays readable): cut in a later fragment, it reads up to
    the cut and ends with one error row saying so."""
    pytest.importorskip("gi", reason="needs PyGObject and GStreamer to encode a real MP4")
    import numpy as np

    from skyseg.runtime.errors import SkysegError
    from skyseg.runtime.frame import Frame, FrameError
    from skyseg.runtime.sinks.gst_video import VideoFileSink
    from skyseg.runtime.sources.uri import open_source

    path = tmp_path / "clip.mp4"
    try:
        with VideoFileSink(path, 10, (64, 48)) as sink:
            for i in range(60):
                sink.write(np.full((48, 64, 3), i * 4, np.uint8))
    except SkysegError as err:  # no H.264 encoder installed
        pytest.skip(f"cannot write an MP4 here: {err}")
    data = path.read_bytes()
    assert index_problem(path) is None and data.count(b"moof") >= 2
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    assert index_problem(cut) is None  # the index is at the front: nothing is refused
    with open_source(str(cut)) as src:
        items = list(src)
    frames = [x for x in items if isinstance(x, Frame)]
    assert 10 <= len(frames) < 60 and isinstance(items[-1], FrameError) and "truncated" in items[-1].message
