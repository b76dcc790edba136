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


_SIGTERM_CHILD = """
import json, signal, sys
from pathlib import Path
from skyseg.runtime.sources.uri import open_source
previous = signal.getsignal(signal.SIGTERM)
with open_source(sys.argv[1], watch=True, existing=True, poll=0.05, settle=0.2) as src:
    Path(sys.argv[2]).touch()
    names = [Path(r.path).name for r in src]  # ends on SIGTERM (no idle timeout given)
print(json.dumps({"names": names, "restored": signal.getsignal(signal.SIGTERM) is previous}))
"""


def test_watch_existing_and_sigterm(tmp_path: Path) -> None:
    """In a fresh interpreter (a real SIGTERM to a real process, as systemd sends it): the watch ends, the frame
    already there was read, and the previous handler is back."""
    import json
    import subprocess
    import sys

    folder = tmp_path / "night"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png(7))
    os.utime(folder / "a.png", (time.time() - 60, time.time() - 60))
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", _SIGTERM_CHILD, str(folder), str(ready)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read() if child.stderr else ""
        time.sleep(0.05)
    time.sleep(0.5)
    start = time.monotonic()
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert time.monotonic() - start < 3 and child.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"names": ["a.png"], "restored": True}


def test_watch_stop_from_another_thread(tmp_path: Path) -> None:
    src = open_source(str(tmp_path), watch=True, poll=0.05)
    threading.Timer(0.3, src.stop).start()
    start = time.monotonic()
    with src:
        assert list(src) == []
    assert time.monotonic() - start < 2


def test_slow_writer_is_retried_rewrites_are_new_frames_and_empty_files_reported(tmp_path: Path) -> None:
    """Regressions: a writer pausing past `settle` lost the frame; `latest.jpg` rewritten in place was processed
    once; a zero-byte file was neither processed nor reported."""
    from skyseg.runtime.frame import FrameError

    whole = _png(9)

    def camera() -> None:
        time.sleep(0.2)
        with (tmp_path / "slow.png").open("wb") as fh:  # half a PNG, then a pause longer than settle
            fh.write(whole[: len(whole) // 2])
            fh.flush()
            time.sleep(0.6)
            fh.write(whole[len(whole) // 2:])
        time.sleep(0.4)
        for value in (3, 4):  # the same name rewritten: two frames
            tmp = tmp_path / "latest.png.tmp"
            tmp.write_bytes(_png(value))
            os.replace(tmp, tmp_path / "latest.png")
            time.sleep(0.5)
        (tmp_path / "empty.png").write_bytes(b"")

    writer = threading.Thread(target=camera)
    writer.start()
    with open_source(str(tmp_path), watch=True, poll=0.05, settle=0.15, retry=5, idle_timeout=1.5) as src:
        recs = list(src)
    writer.join()
    frames = [(Path(r.path).name, int(r.pixels[0, 0, 0])) for r in recs if isinstance(r, Frame)]
    errors = [(Path(r.path).name, r.message) for r in recs if isinstance(r, FrameError)]
    assert frames == [("slow.png", 9), ("latest.png", 3), ("latest.png", 4)]
    assert errors == [("empty.png", "empty.png is empty (0 bytes)")]


def test_a_file_that_never_becomes_readable_is_reported_after_retry(tmp_path: Path) -> None:
    from skyseg.runtime.frame import FrameError

    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    os.utime(tmp_path / "broken.png", (time.time() - 60, time.time() - 60))
    with open_source(str(tmp_path), watch=True, existing=True, poll=0.05, settle=0.1, retry=0.5,
                     idle_timeout=1.5) as src:
        recs = list(src)
    assert len(recs) == 1 and isinstance(recs[0], FrameError) and recs[0].path.endswith("broken.png")


def test_watch_resumes_from_its_ledger_rows_of_this_and_older_versions(tmp_path: Path) -> None:
    """A file with a row (its file time, or an older version's row written after it) or an error row is not taken
    again; one newer than the table's first frame without a row is; an older one stays skipped."""
    from skyseg.runtime.run.ledger import iso_time

    night = tmp_path / "night"
    night.mkdir()
    now = time.time()
    stamps = {"old.png": now - 1000, "a.png": now - 500, "legacy.png": now - 400, "bad.png": now - 300,
              "new.png": now - 100}
    for name, stamp in stamps.items():
        (night / name).write_bytes(_png(int(stamp) % 200 + 1))
        os.utime(night / name, (stamp, stamp))
    table = tmp_path / "results.csv"
    table.write_text("frame,time,path,error,file_mtime\n"
                     f"0,{iso_time(now - 500)},{night / 'a.png'},,{iso_time(now - 500)}\n"
                     f"1,2018-03-01T00:00:00.000+00:00,{night / 'legacy.png'},,\n"  # a FITS DATE-OBS, no file time
                     f"2,{iso_time(now - 250)},{night / 'bad.png'},cannot decode,\n")
    os.utime(table, (now - 200, now - 200))
    with open_source(str(night), watch=True, ledger=str(table), poll=0.05, settle=0.1, idle_timeout=1.0) as src:
        names = [Path(r.path).name for r in src]
    assert names == ["new.png"]
    os.utime(night / "a.png", (now - 50, now - 50))  # rewritten since its row: a new capture
    with open_source(str(night), watch=True, ledger=str(table), poll=0.05, settle=0.1, idle_timeout=1.0) as src:
        names = [Path(r.path).name for r in src]
    assert names == ["new.png", "a.png"]  # oldest first; new.png has no row yet (no table written here)


def test_a_deleted_watch_folder_is_said_once_and_again_when_it_is_back(tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO", logger="skyseg.runtime.sources.watch")
    night = tmp_path / "night"
    night.mkdir()
    items: list = []
    with open_source(str(night), watch=True, poll=0.05, settle=0.1, idle_timeout=2.0) as src:
        reader = threading.Thread(target=lambda: items.extend(src))
        reader.start()
        time.sleep(0.3)
        night.rmdir()
        time.sleep(0.6)  # a dozen polls of a missing folder
        night.mkdir()
        cv2.imwrite(str(night / "a.png"), np.full((24, 32, 3), 90, np.uint8))
        reader.join(15)
    assert [type(x) for x in items] == [Frame]
    said = [r.getMessage() for r in caplog.records if "cannot list" in r.getMessage()]
    assert len(said) == 1, said
    assert any("can be listed again" in r.getMessage() for r in caplog.records)


def test_closing_a_watch_from_another_thread_leaves_the_signal_handler_alone(tmp_path: Path) -> None:
    """The dashboard closes its source on a worker thread: that must not raise (only the main thread sets handlers)."""
    src = open_source(str(tmp_path), watch=True, poll=0.05, idle_timeout=0.3)
    before = signal.getsignal(signal.SIGTERM)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with src:
                list(src)
        except BaseException as err:  # any error is the failure this test looks for
            errors.append(err)

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert not t.is_alive() and errors == []
    assert signal.getsignal(signal.SIGTERM) == before
