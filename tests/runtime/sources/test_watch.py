"""Watch mode: only complete new frames, temp names ignored, renames picked up, SIGTERM and idle timeout stop it."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.frame import Frame
from skyseg.runtime.sources.uri import open_source
from skyseg.runtime.sources.watch import is_candidate


def _png(value: int) -> bytes:
    ok, enc = cv2.imencode(".png", np.full((20, 30, 3), value, np.uint8))
    assert ok
    return enc.tobytes()


@pytest.mark.parametrize(
    ("name", "ok"),
    [("image-20261126.jpg", True), ("a.FITS.gz", True), ("a.jpg.tmp", False), (".a.jpg", False),
     ("a.png.part", False), ("a.jpg~", False), ("notes.txt", False), ("a.tiff", True)],
)
def test_candidates(name: str, ok: bool) -> None:
    assert is_candidate(name) is ok


def test_watch_takes_new_complete_frames_only(tmp_path: Path) -> None:
    (tmp_path / "old.png").write_bytes(_png(1))  # present before the watch: skipped by default
    events: list[str] = []

    def camera() -> None:
        time.sleep(0.3)
        # 1) written slowly in place: must not be read while growing
        data = _png(50)
        with open(tmp_path / "slow.png", "wb") as f:
            for i in range(0, len(data), max(1, len(data) // 4)):
                f.write(data[i : i + max(1, len(data) // 4)])
                f.flush()
                os.utime(tmp_path / "slow.png")
                time.sleep(0.25)
        events.append("slow written")
        # 2) written to a temp name, then renamed into place (the allsky way)
        (tmp_path / "fast.png.tmp").write_bytes(_png(100))
        time.sleep(0.3)
        os.replace(tmp_path / "fast.png.tmp", tmp_path / "fast.png")
        events.append("fast renamed")

    writer = threading.Thread(target=camera)
    writer.start()
    got = []
    with open_source(str(tmp_path), watch=True, poll=0.1, settle=0.5, idle_timeout=2.0) as src:
        for rec in src:
            got.append((rec, list(events)))
    writer.join()
    names = [Path(r.path).name for r, _ in got]
    assert names == ["slow.png", "fast.png"]
    assert all(isinstance(r, Frame) for r, _ in got)
    assert got[0][1][:1] == ["slow written"]  # read only after the writer finished it
    assert [int(r.pixels.mean()) for r, _ in got] == [50, 100]
    assert [r.index for r, _ in got] == [0, 1]


def test_watch_existing_and_sigterm(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(_png(7))
    os.utime(tmp_path / "a.png", (time.time() - 60, time.time() - 60))
    previous = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    start = time.monotonic()
    with open_source(str(tmp_path), watch=True, existing=True, poll=0.05, settle=0.2) as src:
        recs = list(src)  # ends on SIGTERM (no idle timeout given)
    assert time.monotonic() - start < 3
    assert [Path(r.path).name for r in recs] == ["a.png"]
    assert signal.getsignal(signal.SIGTERM) is previous  # handler restored


def test_watch_stop_from_another_thread(tmp_path: Path) -> None:
    src = open_source(str(tmp_path), watch=True, poll=0.05)
    threading.Timer(0.3, src.stop).start()
    start = time.monotonic()
    with src:
        assert list(src) == []
    assert time.monotonic() - start < 2
