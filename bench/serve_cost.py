"""`skyseg bench serve SOURCE`: what the dashboard costs — frames/s and peak memory of `skyseg run` against
`skyseg serve` on the same finite source, with a client connected to serve the whole time.

Each command runs as its own process (so peak RSS is that process's own, from wait4), alternately for `--rounds`
rounds. The client does what the page does over HTTP: it holds the live feed (server-sent events) open, fetches
the annotated frame (`api/latest.jpg?max=1280`) after every frame event, and reloads status and the newest table
page every 2 s; with `--client browser` the page itself is open in Chromium instead (Playwright driving the
system's `chromium`; the browser's own rendering then shares the machine too). Numbers, not a pass/fail; the targets are ≥ 95 % of `skyseg run`'s throughput and at
most 80 MB more peak RSS. Frames/s are given for the whole run and, from the results tables' frame times, for
the frames after the client was connected (the same frame range for both commands; this needs a source whose frame
times are capture times, such as test:// or a camera, not a folder of old files).

    skyseg bench serve 'test://sky?n=150&w=640&h=480' [--model M.onnx] [--threads 1] [--rounds 2] [--client browser]
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

RUN_FPS = re.compile(r"done: .*\(([\d.]+) fps\)")
TIMEOUT_S = 1800


@dataclass
class Measured:
    command: str
    fps: float
    frames: int
    peak_rss_mb: float
    table: Path
    client_images: int = 0
    connected_at: int | None = None  # the frame count when the client was connected (serve only)
    steady_fps: float | None = None  # frames/s over the frames after that (see steady_fps)


def steady_fps(table: Path, first: int) -> float | None:
    """Frames/s from frame `first` to the last, from the results table's frame times (None if they are unusable)."""
    times = []
    with open(table, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("sky_fraction") and row.get("time") and int(row["frame"]) >= first:
                times.append(datetime.fromisoformat(row["time"]).timestamp())
    if len(times) < 10 or any(b < a for a, b in zip(times, times[1:])) or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait4(process: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for the child; returns its peak RSS in MB (its own, from wait4's rusage)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)  # 3.8
            return usage.ru_maxrss / 1024
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{process.args} did not finish within {timeout:.0f} s")
        time.sleep(0.1)


def _skyseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "skyseg.cli.main", *args]


def measure_run(source: str, common: list[str], work: Path) -> Measured:
    logfile = work / "run.log"
    with open(logfile, "wb") as out:
        process = subprocess.Popen(_skyseg("run", source, "--save-dir", str(work / "run-out"), "--headless",
                                           *common), stdout=out, stderr=subprocess.STDOUT)
    peak = _wait4(process, TIMEOUT_S)
    text = logfile.read_text(errors="replace")
    found = RUN_FPS.findall(text)
    if process.returncode != 0 or not found:
        raise RuntimeError(f"skyseg run failed (exit {process.returncode}):\n{text[-2000:]}")
    frames = int(re.findall(r"done: (\d+) frames", text)[-1])
    return Measured("skyseg run", float(found[-1]), frames, peak, work / "run-out" / "results.csv")


class PageLikeClient(threading.Thread):
    """The page's traffic: the event feed, one annotated JPEG per frame event, status + table every 2 s."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.images = 0
        self.stop = threading.Event()
        self.ready = threading.Event()  # set once the first live image has arrived

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read()

    def run(self) -> None:
        last_version, last_poll = 0, 0.0
        with urllib.request.urlopen(self.url + "/api/events", timeout=30) as feed:
            event = None
            for raw in feed:
                if self.stop.is_set():
                    return
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "status":
                    version = json.loads(line[6:]).get("latest", 0)
                    if version != last_version:
                        last_version = version
                        self._get(f"/api/latest.jpg?view=overlay&max=1280&v={version}")
                        self.images += 1
                        self.ready.set()
                if time.monotonic() - last_poll > 2.0:
                    last_poll = time.monotonic()
                    self._get("/api/status")
                    self._get("/api/results?page=0&per_page=25")


class BrowserClient(threading.Thread):
    """The page itself in headless Chromium (Playwright driving the system's `chromium`); counts live images."""

    ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]

    def __init__(self, url: str, profile: Path) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.profile = profile
        self.images = 0
        self.stop = threading.Event()
        self.ready = threading.Event()  # set once the page has shown its first live image
        self.error: BaseException | None = None

    def _count(self, response: Any) -> None:
        if "/api/latest.jpg" in response.url:
            self.images += 1
            self.ready.set()

    def run(self) -> None:
        import shutil

        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    str(self.profile), executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    headless=True, args=self.ARGS)
                page = context.new_page()
                page.on("response", self._count)
                page.goto(self.url + "/")
                while not self.stop.is_set():
                    page.wait_for_timeout(200)
                context.close()
        except Exception as err:  # reported by measure_serve
            self.error = err


def measure_serve(source: str, common: list[str], work: Path, browser: bool = False) -> Measured:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logfile = work / "serve.log"
    with open(logfile, "wb") as out:
        process = subprocess.Popen(_skyseg("serve", source, "--save-dir", str(work / "serve-out"), "--port", str(port),
                                           *common), stdout=out, stderr=subprocess.STDOUT)
    client: Any = BrowserClient(url, work / "chromium-profile") if browser else PageLikeClient(url)
    deadline = time.monotonic() + TIMEOUT_S
    status: dict[str, Any] = {}
    connected_at = None
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url + "/api/status", timeout=5) as response:
                    status = json.loads(response.read())
            except OSError:
                time.sleep(0.05)
                continue
            if not client.is_alive() and client.ident is None:
                client.start()
            if connected_at is None and client.ready.is_set():
                connected_at = int(status["frames"]) + 1
            if status.get("state") in ("finished", "failed", "stopped"):
                break
            time.sleep(0.5)
    finally:
        client.stop.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    peak = _wait4(process, 120)
    client.join(30)
    if getattr(client, "error", None) is not None:
        raise RuntimeError(f"the browser client failed: {client.error}")
    if status.get("state") != "finished":
        raise RuntimeError(f"skyseg serve did not finish its source (state {status.get('state')}):\n"
                           f"{logfile.read_text(errors='replace')[-2000:]}")
    what = "skyseg serve + Chromium" if browser else "skyseg serve + client"
    return Measured(what, float(status["run_fps"]), int(status["frames"]), peak, work / "serve-out" / "results.csv",
                    client.images, connected_at)


def markdown(runs: list[Measured], serves: list[Measured], source: str, common: list[str]) -> str:
    steady = all(m.steady_fps is not None for m in runs + serves)
    pick = (lambda m: m.steady_fps) if steady else (lambda m: m.fps)
    run_fps = statistics.median(pick(m) for m in runs)
    serve_fps = statistics.median(pick(m) for m in serves)
    run_rss = statistics.median(m.peak_rss_mb for m in runs)
    serve_rss = statistics.median(m.peak_rss_mb for m in serves)
    lines = [f"source `{source}`, flags `{' '.join(common) or '(none)'}`, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.2f} at the end", "",
             "| round | command | frames | frames/s (whole run) | frames/s with the client connected (from frame) "
             "| peak RSS (MB) | live images the client got |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for i, (r, s) in enumerate(zip(runs, serves), 1):
        window = f"from frame {s.connected_at}" if s.connected_at is not None else "—"
        for m, images in ((r, "—"), (s, str(s.client_images))):
            shown = f"{m.steady_fps:.2f} ({window})" if m.steady_fps is not None else "—"
            lines.append(f"| {i} | {m.command} | {m.frames} | {m.fps:.2f} | {shown} | {m.peak_rss_mb:.0f} | {images} |")
    basis = "with the client connected" if steady else "whole runs"
    lines += ["", f"median ({basis}): serve runs at {100 * serve_fps / run_fps:.1f} % of `skyseg run`'s frames/s "
              f"({serve_fps:.2f} vs {run_fps:.2f}); peak RSS {serve_rss - run_rss:+.0f} MB "
              f"({serve_rss:.0f} vs {run_rss:.0f} MB)", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skyseg bench serve", description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a finite `skyseg run` source (folder, video, test://sky?n=150...)")
    parser.add_argument("--model", help="model file (default: the bundled one)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for both commands (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating run/serve rounds (default 2)")
    parser.add_argument("--client", choices=("http", "browser"), default="http",
                        help="http: a client doing the page's requests (default); browser: the page in Chromium")
    parser.add_argument("--work", type=Path, help="folder for the outputs and logs (default: a temp folder)")
    args = parser.parse_args(argv)
    common = ["--threads", str(args.threads)] + (["--model", args.model] if args.model else [])
    runs: list[Measured] = []
    serves: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="skyseg-bench-serve-") as tmp:
        root = args.work or Path(tmp)
        for i in range(max(1, args.rounds)):
            work = root / f"round{i + 1}"
            work.mkdir(parents=True, exist_ok=True)
            runs.append(measure_run(args.source, common, work))
            log.info("round %d: skyseg run %.2f frames/s, peak RSS %.0f MB", i + 1, runs[-1].fps, runs[-1].peak_rss_mb)
            serves.append(measure_serve(args.source, common, work, browser=args.client == "browser"))
            first = serves[-1].connected_at
            if first is not None:
                runs[-1].steady_fps = steady_fps(runs[-1].table, first)
                serves[-1].steady_fps = steady_fps(serves[-1].table, first)
            log.info("round %d: skyseg serve %.2f frames/s, peak RSS %.0f MB, %d images to the client", i + 1,
                     serves[-1].fps, serves[-1].peak_rss_mb, serves[-1].client_images)
    sys.stdout.write(markdown(runs, serves, args.source, common))
    return 0
