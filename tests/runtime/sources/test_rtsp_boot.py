"""A camera that boots after the computer: a real RTSP server (gst-rtsp-server) whose port opens only after 5 s.
`skyseg run rtsp://…` waits for it from the first connect (logging each attempt) instead of exiting, and a SIGTERM
during that wait ends the run at once with exit 0, as a stopped service should."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyseg.runtime.bundled_model import bundled_model_path

sys.path.insert(0, str(Path(__file__).parent))
import rtsp_server

pytest.importorskip("gi", reason="GStreamer tests need PyGObject (pip install 'pygobject<3.50')")
pytestmark = [pytest.mark.gstreamer,
              pytest.mark.skipif(not rtsp_server.available(),
                                 reason="needs gst-rtsp-server's bindings (Debian gir1.2-gst-rtsp-server-1.0)")]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(uri: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "skyseg.cli.main", "run", uri, "--headless", "--threads", "1",
           "--model", str(bundled_model_path()), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_run_waits_for_an_rtsp_camera_that_comes_up_after_5_s(tmp_path: Path) -> None:
    port = _free_port()
    proc = _run(f"rtsp://127.0.0.1:{port}/cam?backoff=0.5", "--max-frames", "3", "--masks", str(tmp_path / "masks"))
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the port is closed: skyseg must be retrying before the camera "boots"
        seen.append(line)
        if "is not up yet" in line:
            break
    else:
        pytest.fail("skyseg ended without waiting for the camera:\n" + "".join(seen))
    first_attempt = time.monotonic()
    server = subprocess.Popen([sys.executable, str(Path(rtsp_server.__file__)), str(port), "5"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _, rest = proc.communicate(timeout=90)
    finally:
        server.kill()
        server.wait(10)
    err = "".join(seen) + rest
    assert proc.returncode == 0, err
    assert time.monotonic() - first_attempt >= 5  # the port opened 5 s after the first failed attempt
    attempts = [line for line in err.splitlines() if "is not up yet" in line]
    assert len(attempts) >= 2 and "(attempt 1)" in attempts[0], err  # it kept trying, each attempt logged
    assert len(list((tmp_path / "masks").glob("*_mask.png"))) == 3


def test_sigterm_while_waiting_for_the_camera_ends_the_run_cleanly() -> None:
    proc = _run(f"rtsp://127.0.0.1:{_free_port()}/cam?backoff=0.5")  # nothing will ever listen there
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until it is in the retry loop
        if "is not up yet" in line:
            break
        assert time.monotonic() < deadline
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert time.monotonic() - sent < 5
