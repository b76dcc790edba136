"""`skyseg serve` as a process: safe binding, the token, a busy port, and a clean SIGTERM stop."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from serve_process import clean_env, serve_command, start_server, stop_server, wait_for, write_frames

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")


def _refused(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    frames = write_frames(tmp_path / "frames", count=1)
    done = subprocess.run(serve_command(str(frames), "--save-dir", str(tmp_path / "save"), *args),
                          capture_output=True, text=True, timeout=120, env=clean_env())
    return done


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_non_loopback_bind_without_token_is_refused(tmp_path: Path, host: str) -> None:
    done = _refused(tmp_path, "--host", host, "--port", "0")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("E ")]
    assert len(errors) == 1 and f"binding to {host}" in errors[0] and "--token" in errors[0]
    assert not (tmp_path / "save").exists()  # refused before anything was written


def test_short_token_is_refused(tmp_path: Path) -> None:
    done = _refused(tmp_path, "--host", "0.0.0.0", "--token", "abc")
    assert done.returncode == 2 and "at least 8 characters" in done.stderr


def test_port_in_use_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        done = _refused(tmp_path, "--port", str(busy.getsockname()[1]))
    assert done.returncode == 2 and "cannot listen on 127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_token_guards_page_api_and_feed(tmp_path: Path) -> None:
    import httpx

    token = "s3cret-token-for-tests"
    server = start_server(tmp_path, "--threads", "1", "--max-fps", "2", token=token)
    try:
        for path in ("/", "/api/status", "/api/events", "/api/latest.jpg", "/api/results.xlsx", "/static/app.js"):
            response = httpx.get(server.url + path, timeout=10)
            assert response.status_code == 401 and "token" in response.json()["error"], path
        assert httpx.get(server.url + "/api/status", headers={"Authorization": "Bearer wrong-token-x"}).status_code == 401
        assert httpx.post(server.url + "/api/settings", json={"conf": 0.5}).status_code == 401
        ok = httpx.get(server.url + "/api/status", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        with httpx.Client(base_url=server.url, timeout=10) as browser_like:
            page = browser_like.get("/", params={"token": token})
            assert page.status_code == 200 and "httponly" in page.headers["set-cookie"].lower()
            assert browser_like.get("/api/status").status_code == 200  # the cookie now carries the token
            assert browser_like.get("/static/app.js").status_code == 200
    finally:
        assert stop_server(server) == 0


def test_sigterm_closes_the_run_outputs(tmp_path: Path) -> None:
    import httpx

    server = start_server(tmp_path, "--threads", "1", "--max-fps", "4", "--loop")
    try:
        wait_for(lambda: httpx.get(server.url + "/api/status").json()["frames"] >= 3, what="three frames")
    finally:
        code = stop_server(server)
    assert code == 0, server.logs()
    save = server.save_dir
    assert (save / "results.csv").read_text().count("\n") >= 4
    assert len(list((save / "masks").glob("*_mask.png"))) >= 3 and len(list((save / "annotated").glob("*.jpg"))) >= 3
    assert (save / "static_mask.png").is_file()
    assert not list(save.rglob(".*.tmp")) and not list(save.rglob("*.part"))


def test_watch_folder_frames_show_up_live(tmp_path: Path) -> None:
    import httpx

    incoming = tmp_path / "camera"
    incoming.mkdir()
    server = start_server(tmp_path, "--threads", "1", "--watch", source=str(incoming))
    try:
        assert httpx.get(server.url + "/api/status").json()["frames"] == 0
        frames = write_frames(tmp_path / "made", count=2)
        for png in sorted(frames.glob("*.png")):
            (incoming / f".{png.name}.part").write_bytes(png.read_bytes())
            (incoming / f".{png.name}.part").rename(incoming / png.name)  # as a camera writes: whole files
        wait_for(lambda: httpx.get(server.url + "/api/status").json()["frames"] == 2, timeout=60,
                 what="the two new frames")
        assert httpx.get(server.url + "/api/latest_mask.png").status_code == 200
    finally:
        assert stop_server(server) == 0, server.logs()
    assert len(list((server.save_dir / "masks").glob("*.png"))) == 2


def test_unusable_source_is_one_sentence(tmp_path: Path) -> None:
    done = subprocess.run(serve_command(str(tmp_path / "missing"), "--save-dir", str(tmp_path / "save"), "--port", "0"),
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
