"""`skyseg serve` under failures: odd frames are rows (live and uploaded), a failed upload leaves nothing and answers
JSON, and a live run that dies ends the process with exit 1 (so systemd restarts it) instead of a page over nothing."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from serve_process import start_server, stop_server, wait_for, write_frames

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")


def _status(url: str) -> dict:
    import httpx

    return httpx.get(url + "/api/status", timeout=10).json()


def _thin_fits(path: Path) -> Path:
    from astropy.io import fits

    fits.PrimaryHDU(np.random.default_rng(0).integers(0, 4000, (1, 640)).astype(np.uint16)).writeto(path)
    return path


def test_odd_frames_are_rows_live_and_uploaded(tmp_path: Path) -> None:
    import httpx

    watched = tmp_path / "incoming"
    watched.mkdir()
    server = start_server(tmp_path, "--watch", "--threads", "1", source=str(watched))
    try:
        _thin_fits(watched / "a_line.fits")
        good = write_frames(tmp_path / "good", count=1) / "night_000.png"
        time.sleep(0.1)
        shutil.copy(good, watched / "b_good.png")
        s = wait_for(lambda: (t := _status(server.url))["rows"] >= 2 and t, timeout=60, what="two live rows")
        assert s["state"] == "running" and s["frames"] == 1 and s["errors"] == 1
        rows = {r["path"].rsplit("/", 1)[-1]: r for r in httpx.get(server.url + "/api/results").json()["rows"]}
        assert "would shrink to 0 pixels" in rows["a_line.fits"]["error"] and rows["b_good.png"]["error"] == ""

        strip = tmp_path / "strip.png"
        cv2.imwrite(str(strip), np.full((2, 20000, 3), 90, np.uint8))
        for path in (strip, _thin_fits(tmp_path / "line.fits")):
            with open(path, "rb") as f:
                response = httpx.post(server.url + "/api/detect", files={"file": (path.name, f)},
                                      headers={"Origin": server.url}, timeout=60)
            assert response.status_code == 422 and response.headers["content-type"] == "application/json"
            assert "would shrink to 0 pixels" in response.json()["error"]
        uploads = server.save_dir / "uploads"
        assert not uploads.exists() or not [p for p in uploads.iterdir() if p.is_dir()]  # no half-done ID/ left
        assert _status(server.url)["state"] == "running"
    finally:
        assert stop_server(server) == 0, server.logs()


def test_a_live_run_that_fails_ends_the_server_with_exit_1(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--threads", "1", "--max-fps", "4", "--loop")
    try:
        wait_for(lambda: _status(server.url)["frames"] >= 2, what="two frames")
        masks = server.save_dir / "masks"
        shutil.rmtree(masks)
        masks.write_text("a file where the masks folder was")  # every later mask write fails
        server.process.wait(60)
    finally:
        code = stop_server(server)
    assert code == 1, server.logs()[-3000:]
    logs = server.logs()
    assert "the live run failed" in logs and "exiting with 1" in logs
    assert (server.save_dir / "results.csv").read_text().count("\n") >= 2
    assert not list(server.save_dir.rglob("*.part")) and not list(server.save_dir.rglob(".*.tmp"))


def test_a_deleted_watch_folder_is_a_waiting_state_not_running(tmp_path: Path) -> None:
    watched = tmp_path / "incoming"
    watched.mkdir()
    server = start_server(tmp_path, "--watch", "--threads", "1", source=str(watched))
    try:
        assert _status(server.url)["state"] == "running"
        watched.rmdir()
        s = wait_for(lambda: (t := _status(server.url))["state"] == "waiting" and t, what="the waiting state")
        assert "is missing" in s["error"] and str(watched) in s["error"]
        watched.mkdir()  # remounted: frames are taken again
        shutil.copy(write_frames(tmp_path / "good", count=1) / "night_000.png", watched / "back.png")
        s = wait_for(lambda: (t := _status(server.url))["frames"] >= 1 and t, timeout=60, what="a frame after it")
        assert s["state"] == "running" and s["error"] is None
    finally:
        assert stop_server(server) == 0, server.logs()
