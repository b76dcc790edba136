"""Per-frame night statistics on MQTT, in the indi-allsky style: one retained topic per value plus a JSON state.

`--output mqtt://HOST[:PORT]/BASE_TOPIC[?discovery=homeassistant&qos=1&client_id=NAME]` publishes, per frame,

    BASE/sky_fraction   0.8123            BASE/instances   2
    BASE/latency_ms     31.4              BASE/frame_time  2026-12-02T21:03:04.120+00:00
    BASE/state          {"frame": 12, "sky_fraction": 0.8123, ..., "error": ""}
    BASE/status         online / offline  (also the broker-side last will)

all retained, so a subscriber that connects later (Home Assistant, a roof controller) reads the latest night values at
once. With `discovery=PREFIX` (Home Assistant's default prefix is `homeassistant`) the sink also publishes retained
MQTT-discovery configs for the four sensors. With cloud cover on (`--clouds`), BASE/cloud_fraction and
BASE/clear_fraction (shares of the sky) are published too, in the state and as two more discovered sensors. The connection runs on paho-mqtt's network thread and reconnects on its
own; after every (re)connect the latest values are published again — once, and after whatever paho re-sends from
before the drop — so a broker restarted without persistence gets them back and never keeps an older value. A broker that is down never stops the run: frames go on and the sink logs one sentence per outage.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.runtime.run.ledger import iso_time
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.clouds import cloud_values

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
FIELDS = ("sky_fraction", "instances", "latency_ms", "frame_time")
_SENSORS = {  # field → (Home Assistant name, unit, icon)
    "sky_fraction": ("Sky fraction", None, "mdi:weather-night"),
    "instances": ("Sky regions", None, "mdi:shape-outline"),
    "latency_ms": ("Segmentation latency", "ms", "mdi:timer-outline"),
    "frame_time": ("Last frame time", None, "mdi:clock-outline"),
}
CLOUD_FIELDS = ("cloud_fraction", "clear_fraction")  # with cloud cover on (--clouds)
_CLOUD_SENSORS = {
    "cloud_fraction": ("Cloud fraction", None, "mdi:weather-cloudy"),
    "clear_fraction": ("Clear fraction", None, "mdi:weather-night"),
}


@dataclass(frozen=True)
class MqttTarget:
    """A parsed `mqtt://HOST[:PORT]/BASE_TOPIC[?options]` output URI."""

    host: str
    port: int
    base: str
    qos: int = 1
    discovery: str | None = None
    client_id: str = ""

    @classmethod
    def parse(cls, uri: str) -> MqttTarget:
        parts = urlsplit(uri)
        if parts.scheme != "mqtt":
            raise InputError(f"--output {uri}: expected mqtt://HOST[:PORT]/BASE_TOPIC")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise InputError(f"--output {uri}: the port is not a number between 0 and 65535") from None
        base = parts.path.strip("/")
        if not parts.hostname or not base:
            raise InputError(f"--output {uri}: expected mqtt://HOST[:PORT]/BASE_TOPIC with a host and a base topic")
        if any(c in base for c in "+#") or "//" in base or "#" in uri:
            raise InputError(f"--output {uri}: the base topic must not contain +, # or empty levels")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = set(query) - {"qos", "discovery", "client_id"}
        if unknown:
            raise InputError(f"--output {uri}: unknown option(s) {', '.join(sorted(unknown))}; "
                             "use qos, discovery, client_id")
        qos = query.get("qos", "1")
        if qos not in ("0", "1", "2"):
            raise InputError(f"--output {uri}: qos must be 0, 1 or 2, got {qos!r}")
        discovery = query.get("discovery") or None
        return cls(parts.hostname, port, base, int(qos), discovery, query.get("client_id", ""))


def frame_values(record: FrameRecord) -> dict[str, Any]:
    """The JSON state for one record: frame, time, source, path, sky_fraction, instances, latency_ms, error."""
    if record.error is not None:
        e = record.error
        return {"frame": e.index, "frame_time": iso_time(e.timestamp), "source": e.source_id, "path": e.path or "",
                "sky_fraction": None, "instances": None, "latency_ms": None, "error": e.message}
    res = record.result
    assert res is not None
    return {"frame": res.index, "frame_time": iso_time(res.timestamp), "source": res.source_id, "path": res.path or "",
            "sky_fraction": round(res.sky_fraction, 6), "instances": len(res),
            "latency_ms": round(res.latency_ms, 3), "error": "", **cloud_values(record)}


class MqttSink(Sink):
    """Publishes each frame's values as retained topics under one base topic (see the module docstring)."""

    def __init__(self, uri: str, connect_timeout: float = 3.0, clouds: bool = False) -> None:
        self.fields = FIELDS + CLOUD_FIELDS if clouds else FIELDS
        self.sensors = {**_SENSORS, **_CLOUD_SENSORS} if clouds else _SENSORS
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise MissingDependencyError("--output mqtt:// needs paho-mqtt; `pip install 'skyseg[scale]'` "
                                         "or `pip install paho-mqtt`") from None
        self.target = MqttTarget.parse(uri)
        self.uri = uri
        self._mqtt = mqtt
        self._lock = threading.Lock()
        self._latest: dict[str, str] = {}  # topic → payload last written (republished on every connect)
        self._link = threading.Event()  # the broker accepted the connection
        self._live = threading.Event()  # the latest values are on this connection: write() publishes directly
        self._generation = 0  # counts connections, so a go-live meant for an older one does nothing
        self._settle: tuple[int, int] | None = None  # (generation, mid of its "online" message)
        self._down_logged = False
        self.published = 0
        self._closed = False
        t = self.target
        client_id = t.client_id or f"skyseg-{socket.gethostname()}-{id(self) & 0xFFFF:04x}"
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.will_set(self._topic("status"), "offline", qos=t.qos, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.max_queued_messages_set(1000)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(t.host, t.port, keepalive=30)
        self._client.loop_start()  # paho's thread retries the first connection and every later one
        if not self._live.wait(connect_timeout):
            self._log_down(f"no answer within {connect_timeout:g} s")

    def _topic(self, name: str) -> str:
        return f"{self.target.base}/{name}"

    def _log_down(self, why: str) -> None:
        if not self._down_logged:
            self._down_logged = True
            log.warning("MQTT broker %s:%d is not reachable (%s); the run goes on and the sink keeps reconnecting",
                        self.target.host, self.target.port, why)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            self._log_down(f"connection refused: {reason}")
            return
        if self._down_logged:
            log.info("MQTT broker %s:%d reachable again; republishing the latest values",
                     self.target.host, self.target.port)
        self._down_logged = False
        self._generation += 1
        self._link.set()
        if self.target.discovery:
            for topic, payload in self._discovery_configs().items():
                client.publish(topic, payload, qos=self.target.qos, retain=True)
        # Right after this callback paho re-sends the messages that were in flight when the link dropped (older
        # values). The latest values must go out after those, and exactly once: frames wait in _latest until the
        # broker has handled "online" (_on_publish), by which time the re-sends are queued ahead of them.
        info = client.publish(self._topic("status"), "online", qos=self.target.qos, retain=True)
        self._settle = (self._generation, info.mid)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any = None, properties: Any = None) -> None:
        settle = self._settle
        if settle is None or settle[1] != mid:
            return
        self._settle = None
        # paho holds its message lock here and write() holds ours while publishing: go live on another thread
        threading.Thread(target=self._go_live, args=(settle[0],), name="mqtt-go-live", daemon=True).start()

    def _go_live(self, generation: int) -> None:
        with self._lock:  # a frame written meanwhile waits, so an older value never overtakes it
            if generation != self._generation or not self._link.is_set() or self._closed:
                return
            for topic, payload in self._latest.items():
                self._client.publish(topic, payload, qos=self.target.qos, retain=True)
            self._live.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        self._link.clear()
        self._live.clear()
        self._settle = None
        if not self._closed:
            self._log_down(f"disconnected: {reason}")

    def _discovery_configs(self) -> dict[str, str]:
        """Home Assistant MQTT-discovery configs (retained), one sensor per field, sharing one device."""
        t = self.target
        node = "skyseg_" + "".join(c if c.isalnum() else "_" for c in t.base)
        device = {"identifiers": [node], "name": f"skyseg {t.base}", "manufacturer": "skyseg"}
        configs = {}
        for name, (label, unit, icon) in self.sensors.items():
            cfg: dict[str, Any] = {
                "name": label, "unique_id": f"{node}_{name}", "state_topic": self._topic(name), "icon": icon,
                "availability_topic": self._topic("status"), "device": device,
            }
            if unit:
                cfg["unit_of_measurement"] = unit
            if name in ("sky_fraction", "latency_ms", "instances", *CLOUD_FIELDS):
                cfg["state_class"] = "measurement"
            if name == "frame_time":
                cfg["device_class"] = "timestamp"
            configs[f"{t.discovery}/sensor/{node}/{name}/config"] = json.dumps(cfg, sort_keys=True)
        return configs

    def write(self, record: FrameRecord) -> None:
        values = frame_values(record)
        messages = {"state": json.dumps(values, sort_keys=True)}
        if record.error is None:  # a corrupt frame updates the state (with its error), not the night values
            for name in self.fields:
                messages[name] = str(values.get(name))
        self.publish(messages)

    def publish(self, values: dict[str, str]) -> None:
        """Publish `BASE/<name>` = payload, retained, like a frame's values: kept and sent again after a reconnect.

        For callers with other values than a frame's (`skyseg archive`'s per-night summaries)."""
        messages = {self._topic(name): payload for name, payload in values.items()}
        with self._lock:
            self._latest.update(messages)
            if not self._live.is_set():
                return  # published once the broker is back (or has acknowledged this connection's "online")
            for topic, payload in messages.items():
                info = self._client.publish(topic, payload, qos=self.target.qos, retain=True)
                if info.rc == self._mqtt.MQTT_ERR_SUCCESS:
                    self.published += 1

    def close(self, flush_timeout: float = 3.0) -> None:
        if self._closed:
            return
        if self._link.is_set():
            self._live.wait(flush_timeout)  # values written just after a (re)connect go out before "offline"
        with self._lock:
            self._closed = True
        if self._link.is_set():
            info = self._client.publish(self._topic("status"), "offline", qos=self.target.qos, retain=True)
            try:
                info.wait_for_publish(flush_timeout)
            except (RuntimeError, ValueError):
                pass  # lost the connection while closing: the broker's last will says offline instead
        self._client.disconnect()
        self._client.loop_stop()
        log.info("MQTT: %d message(s) published under %s on %s:%d", self.published, self.target.base,
                 self.target.host, self.target.port)
