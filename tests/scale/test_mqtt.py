"""The MQTT sink against a real Mosquitto broker: retained per-field topics, JSON state, Home Assistant discovery,
a broker restart mid-run, a broker that is down, and `skyseg run --output mqtt://...` end to end."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from broker import Broker, Subscriber, free_port
from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import FrameError
from skyseg.runtime.result import SegResult
from skyseg.runtime.sinks.base import FrameRecord
from skyseg.runtime.sinks.mqtt import FIELDS, MqttSink, MqttTarget


def _record(index: int, sky_rows: int, latency: float = 12.5) -> FrameRecord:
    sky = np.zeros((10, 20), dtype=bool)
    sky[:sky_rows] = True
    res = SegResult(boxes=np.zeros((1, 4)), scores=[0.9], class_ids=[0], frame_hw=(10, 20), index=index,
                    source_id="cam", path=f"/night/image-{index:04d}.png", timestamp=1_764_709_384.25 + index,
                    timings={"pre": 2.5, "infer": latency - 2.5}, _sky=sky)
    return FrameRecord(result=res)


def test_target_parsing() -> None:
    t = MqttTarget.parse("mqtt://broker.local/allsky/cam1?discovery=homeassistant&qos=0")
    assert (t.host, t.port, t.base, t.qos, t.discovery) == ("broker.local", 1883, "allsky/cam1", 0, "homeassistant")
    assert MqttTarget.parse("mqtt://10.0.0.2:1884/sky/").port == 1884
    for bad in ("mqtt://host", "mqtt:///sky", "mqtt://host/sky/#", "mqtt://host/sky?qos=3", "mqtt://host/sky?x=1",
                "mqtt://host:99999/sky"):
        with pytest.raises(InputError):
            MqttTarget.parse(bad)


def test_retained_topics_state_and_discovery(broker: Broker) -> None:
    sink = MqttSink(f"mqtt://127.0.0.1:{broker.port}/allsky/cam1?discovery=homeassistant")
    for i, rows in enumerate((2, 5)):
        sink.write(_record(i, rows))
    sink.write(FrameRecord(error=FrameError(2, "cam", "/night/bad.png", "not an image", 1_764_709_390.0)))
    sink.close()
    # a subscriber that connects after the run gets the retained values at once
    sub = Subscriber(broker.port, "#")
    try:
        # the broker sends the retained messages one by one: wait for every topic, not just the first few
        topics = {f"allsky/cam1/{name}" for name in ("state", "status", *FIELDS)}
        assert sub.wait_for(lambda m: topics <= m.keys() and sum(t.startswith("homeassistant/") for t in m) == 4)
        got = sub.latest()
        assert all(retained for _, _, retained in sub.messages)
    finally:
        sub.close()
    assert got["allsky/cam1/sky_fraction"] == "0.5"  # the last good frame: 5 of 10 rows
    assert got["allsky/cam1/instances"] == "1"
    assert got["allsky/cam1/latency_ms"] == "12.5"
    assert got["allsky/cam1/frame_time"] == "2025-12-02T21:03:05.250+00:00"
    state = json.loads(got["allsky/cam1/state"])  # the corrupt frame updates the state with its error
    assert state["frame"] == 2 and state["error"] == "not an image" and state["sky_fraction"] is None
    assert got["allsky/cam1/status"] == "offline"
    cfg = json.loads(got["homeassistant/sensor/skyseg_allsky_cam1/latency_ms/config"])
    assert cfg["state_topic"] == "allsky/cam1/latency_ms" and cfg["unit_of_measurement"] == "ms"
    assert cfg["availability_topic"] == "allsky/cam1/status"


def test_broker_restart_mid_run(tmp_path: Path, broker: Broker) -> None:
    sink = MqttSink(f"mqtt://127.0.0.1:{broker.port}/sky")
    sink.write(_record(0, 1))
    broker.stop()
    sink.write(_record(1, 3))  # the broker is down: the run goes on, the value waits
    time.sleep(0.5)
    broker.start()  # no persistence: it lost every retained message
    sub = Subscriber(broker.port, "sky/#")
    try:  # the sink reconnects on its own and republishes the latest values
        assert sub.wait_for(lambda m: m.get("sky/sky_fraction") == "0.3", timeout=20)
        sink.write(_record(2, 7))
        assert sub.wait_for(lambda m: m.get("sky/sky_fraction") == "0.7")
        assert json.loads(sub.latest()["sky/state"])["frame"] == 2
        seen = [p for t, p, _ in sub.messages if t == "sky/sky_fraction"]
        assert seen[-1] == "0.7" and "0.1" not in seen[seen.index("0.3"):]  # nothing older after the latest
    finally:
        sink.close()
        sub.close()


def test_each_frame_goes_out_once(broker: Broker) -> None:
    """One message per topic and frame: nothing is republished after the first connect or at close (a republish
    0.3 s after every connect sent the last frame of a short run twice)."""
    sub = Subscriber(broker.port, "once/#")
    try:
        sink = MqttSink(f"mqtt://127.0.0.1:{broker.port}/once")
        for i in range(3):
            sink.write(_record(i, i + 1))
        time.sleep(1.0)  # well past any settle delay after the connect
        sink.close()
        assert sub.wait_for(lambda m: m.get("once/status") == "offline")
        states = [json.loads(p)["frame"] for t, p, _ in sub.messages if t == "once/state"]
        fractions = [p for t, p, _ in sub.messages if t == "once/sky_fraction"]
        statuses = [p for t, p, _ in sub.messages if t == "once/status"]
    finally:
        sub.close()
    assert states == [0, 1, 2]
    assert fractions == ["0.1", "0.2", "0.3"]
    assert statuses == ["online", "offline"]


def test_broker_down_is_one_sentence_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens here
    with caplog.at_level(logging.WARNING, logger="skyseg.runtime.sinks.mqtt"):
        sink = MqttSink(f"mqtt://127.0.0.1:{port}/sky", connect_timeout=0.5)
        for i in range(3):
            sink.write(_record(i, 4))
        sink.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"127.0.0.1:{port} is not reachable" in warnings[0]
    assert sink.published == 0


def test_skyseg_run_publishes_each_frame(tmp_path: Path, broker: Broker) -> None:
    import subprocess
    import sys

    import cv2

    from skyseg.runtime.bundled_model import bundled_model_path

    night = tmp_path / "night"
    night.mkdir()
    for i in range(3):
        cv2.imwrite(str(night / f"image-{i:04d}.png"),
                    np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (72, 1, 3)))
    sub = Subscriber(broker.port, "run/#")
    try:
        proc = subprocess.run([sys.executable, "-m", "skyseg.cli.main", "run", str(night), "--model",
                               str(bundled_model_path()), "--headless", "--threads", "1",
                               "--output", f"mqtt://127.0.0.1:{broker.port}/run"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert sub.wait_for(lambda m: json.loads(m.get("run/state", "{}")).get("frame") == 2)
        states = [json.loads(p) for t, p, _ in sub.messages if t == "run/state"]
    finally:
        sub.close()
    assert [s["path"].rsplit("/", 1)[-1] for s in states] == [f"image-{i:04d}.png" for i in range(3)]
    assert all(0.0 <= s["sky_fraction"] <= 1.0 and s["latency_ms"] > 0 for s in states)
