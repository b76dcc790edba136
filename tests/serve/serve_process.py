"""Start and stop a real `skyseg serve` process (uvicorn on a free loopback port) for the tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2

START_TIMEOUT_S = 90
MAX_UPLOAD_MB = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_frames(folder: Path, count: int = 4, size: tuple[int, int] = (320, 240)) -> Path:
    """A few generated night frames as PNGs (the source folder the server replays)."""
    from skyseg.synth import render_scene

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        scene = render_scene(100 + i, kind="allsky" if i % 2 else "camera", size=size, bit_depth=8)
        cv2.imwrite(str(folder / f"night_{i:03d}.png"), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    return folder


def clean_env() -> dict[str, str]:
    """The test process's environment without a token from outside (`SKYSEG_SERVE_TOKEN`), one OpenMP thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("SKYSEG_SERVE_TOKEN", None)
    return env


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "skyseg.cli.main", "serve", *args]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    save_dir: Path
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(tmp: Path, *args: str, source: str | None = None, token: str | None = None) -> Server:
    """Start `skyseg serve` and wait until /api/status answers (or fail with its log)."""
    import httpx

    port = free_port()
    save_dir = tmp / "save"
    source = source or str(write_frames(tmp / "frames"))
    log = tmp / "serve.log"
    cmd = serve_command(source, "--port", str(port), "--save-dir", str(save_dir), *args)
    if token:
        cmd += ["--token", token]
    env = clean_env()
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(process, f"http://127.0.0.1:{port}", save_dir, log)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"skyseg serve exited with {process.returncode}:\n{server.logs()}")
        try:
            if httpx.get(f"{server.url}/api/status", headers=headers, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise AssertionError(f"skyseg serve did not answer within {START_TIMEOUT_S} s:\n{server.logs()}")


def stop_server(server: Server, timeout: float = 30.0) -> int:
    """SIGTERM, as a service manager stops it; SIGKILL only if it does not end in time. Returns the exit code."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)
            raise AssertionError(f"skyseg serve ignored SIGTERM for {timeout} s:\n{server.logs()}") from None
    return server.process.returncode




def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
