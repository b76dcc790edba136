"""The video of a killed run: MP4 is written fragmented, a cut-off temp file is recovered up to its last whole
fragment (read back frame by frame), one with nothing whole is removed, and a real SIGKILLed `skyseg run` leaves a
video the next run recovers beside its own."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.frame import Frame
from skyseg.runtime.sinks.video_recovery import FRAGMENT_MS, part_path, playable_end, recover_killed_videos
from skyseg.runtime.sources.uri import open_source

pytest.importorskip("gi", reason="GStreamer tests need PyGObject (pip install 'pygobject<3.50')")
pytestmark = pytest.mark.gstreamer

from skyseg.runtime.gst_pipeline import has_element  # noqa: E402
from skyseg.runtime.sinks.gst_video import VideoFileSink  # noqa: E402

FPS = 10.0
PER_FRAGMENT = int(FPS * FRAGMENT_MS / 1000)


def _reds(path: Path) -> list[float]:
    with open_source(str(path)) as src:
        return [float(r.pixels[..., 0].mean()) for r in src if isinstance(r, Frame)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not has_element("x264enc"):
        pytest.skip("x264enc not installed")
    path = tmp_path_factory.mktemp("video") / "night.mp4"
    with VideoFileSink(path, FPS, (160, 120), encoder="x264enc") as sink:
        for i in range(3 * PER_FRAGMENT + 5):
            img = np.zeros((120, 160, 3), np.uint8)
            img[..., 0] = 3 * i  # the frame number, readable back
            sink.write(img)
    return path


def test_a_finished_video_is_fragmented_and_whole(finished: Path) -> None:
    assert finished.read_bytes().count(b"moof") >= 3  # fragmented: a kill keeps whole fragments
    assert playable_end(finished) == finished.stat().st_size
    assert len(_reds(finished)) == 3 * PER_FRAGMENT + 5


@pytest.mark.parametrize("keep", [0.45, 0.8, 0.97])
def test_a_cut_off_temp_file_is_recovered_up_to_its_last_whole_fragment(finished: Path, tmp_path: Path,
                                                                         keep: float) -> None:
    data = finished.read_bytes()
    target = tmp_path / "annotated.mp4"
    part_path(target).write_bytes(data[: int(len(data) * keep)])
    (tmp_path / "annotated.mp4").write_bytes(b"an earlier night")  # never replaced
    kept = recover_killed_videos(tmp_path)
    assert kept == [tmp_path / "annotated.1.mp4"] and not part_path(target).exists()
    assert (tmp_path / "annotated.mp4").read_bytes() == b"an earlier night"
    reds, whole = _reds(kept[0]), _reds(finished)
    assert 0 < len(reds) <= len(whole) and kept[0].stat().st_size <= len(data) * keep
    np.testing.assert_allclose(reds, whole[: len(reds)], atol=0.5)  # the first frames of the night, in order


def test_a_temp_file_without_a_whole_fragment_is_removed_with_a_sentence(finished: Path, tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    data = finished.read_bytes()
    part = part_path(tmp_path / "annotated.mp4")
    part.write_bytes(data[: data.index(b"moof") + 64])
    with caplog.at_level(logging.WARNING):
        assert recover_killed_videos(tmp_path) == []
    assert not list(tmp_path.iterdir())
    assert "held no complete fragment; removed it" in caplog.text


def test_a_sigkilled_run_leaves_a_video_the_next_run_recovers(tmp_path: Path) -> None:
    if not has_element("x264enc") and not has_element("openh264enc"):
        pytest.skip("no H.264 encoder installed")
    from skyseg.runtime.bundled_model import bundled_model_path

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "skyseg.cli.main", "-q", "run", "test://sky?n=100000&w=320&h=240&seed=5",
           "--save-dir", str(out), "--headless", "--threads", "1", "--model", str(bundled_model_path())]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    part = part_path(out / "annotated.mp4")
    try:
        deadline = time.monotonic() + 240
        while not (part.exists() and playable_end(part) > 0):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no whole fragment written in 240 s"
            time.sleep(0.2)
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    killed = part.read_bytes()
    rerun = cmd.copy()
    rerun[rerun.index("test://sky?n=100000&w=320&h=240&seed=5")] = "test://sky?n=3&w=320&h=240&seed=6"
    done = subprocess.run(rerun, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not part.exists() and not list(out.glob(".*.part"))
    recovered, this_run = out / "annotated.mp4", out / "annotated.1.mp4"
    assert recovered.read_bytes() == killed[: playable_end(recovered)]  # the killed file, cut after a fragment
    assert len(_reds(recovered)) >= 1
    assert len(_reds(this_run)) == 3
    shutil.rmtree(out)
