"""`skyseg serve --output mqtt://...` against a real Mosquitto broker: every live frame goes out as `skyseg run`
publishes it (retained per-field topics and a JSON state), an uploaded frame never does, and a bad URI or
display:// is one sentence before anything starts."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from broker import Broker, Subscriber

from serve_process import clean_env, serve_command, start_server, stop_server, write_frames

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")

FIELDS = ("sky_fraction", "instances", "latency_ms", "frame_time")


def test_live_frames_are_published_uploads_are_not(tmp_path: Path, broker: Broker) -> None:
    import httpx

    sub = Subscriber(broker.port, "night/#")
    server = start_server(tmp_path, "--threads", "1", "--output",
                          f"mqtt://127.0.0.1:{broker.port}/night?discovery=homeassistant",
                          source="test://sky?n=3&w=320&h=240&seed=3")
    try:
        # the source ends after 3 frames: the live sinks close, so the MqttSink says offline
        assert sub.wait_for(lambda m: m.get("night/status") == "offline", timeout=90), server.logs()
        live = list(sub.messages)
        upload = write_frames(tmp_path / "upload", count=1) / "night_000.png"
        with open(upload, "rb") as f:
            response = httpx.post(f"{server.url}/api/detect", files={"file": ("upload.png", f, "image/png")},
                                  headers={"Origin": server.url}, timeout=60)
        assert response.status_code == 200 and response.json()["frames"] == 1, response.text
        time.sleep(2.0)  # an upload wired to the sinks would publish online, its state and offline right away
        assert sub.messages == live, "an uploaded frame was published as the live state"
    finally:
        assert stop_server(server) == 0, server.logs()
        sub.close()
    states = [json.loads(p) for t, p, _ in live if t == "night/state"]
    assert [s["frame"] for s in states] == [0, 1, 2]
    assert all(0.0 <= s["sky_fraction"] <= 1.0 and s["latency_ms"] > 0 and not s["error"] for s in states)
    assert [p for t, p, _ in live if t == "night/status"] == ["online", "offline"]
    rows = (server.save_dir / "results.csv").read_text().splitlines()
    assert len(rows) == 4  # the MQTT output comes on top of what --save-dir writes, not instead of it

    later = Subscriber(broker.port, "#")  # connects after the run: the retained values are there at once
    try:
        assert later.wait_for(lambda m: {f"night/{k}" for k in FIELDS} <= m.keys()
                              and sum(t.startswith("homeassistant/") for t in m) == 4)
        got = later.latest()
    finally:
        later.close()
    assert json.loads(got["night/state"])["frame"] == 2
    assert got["night/sky_fraction"] == str(states[-1]["sky_fraction"])
    assert got["night/instances"] == str(states[-1]["instances"])


@pytest.mark.parametrize(("uri", "needle"), [
    ("mqtt://127.0.0.1", "with a host and a base topic"),
    ("mqtt://127.0.0.1/sky?qos=5", "qos must be 0, 1 or 2"),
    ("display://0", "shows the frames in the browser"),
])
def test_bad_output_is_one_sentence(tmp_path: Path, uri: str, needle: str) -> None:
    done = subprocess.run(serve_command("test://sky?n=1", "--port", "0", "--save-dir", str(tmp_path / "save"),
                                        "--output", uri), capture_output=True, text=True, timeout=120,
                          env=clean_env())
    errors = [line for line in done.stderr.splitlines() if line.startswith("E ")]
    assert done.returncode == 2 and len(errors) == 1 and f"--output {uri}" in errors[0] and needle in errors[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "save").exists()
