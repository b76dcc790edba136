"""`skyseg archive --output mqtt://HOST[:PORT]/BASE`: per-night summaries of a past archive, never "the sky now".

An archive holds past nights, so its frames must not overwrite the live topics (BASE/sky_fraction, BASE/state, ...)
that `skyseg run` / `skyseg serve` keep for the camera. Everything goes under BASE/archive/, retained, through the
runtime's MqttSink (same connection, reconnects and republishing), from the Ray driver only:

    BASE/archive/<night>/frames              segmented frames in the night's table (this run and earlier ones)
    BASE/archive/<night>/errors              error rows in it
    BASE/archive/<night>/sky_fraction_mean   mean sky fraction of its segmented frames ("" when none)
    BASE/archive/<night>/summary             the three as JSON, plus the night, the table path and the time written
    BASE/archive/state                       JSON: running, then done/failed with this run's counts and nights
    BASE/archive/status                      online / offline (the archive job's, not the camera's)

The night topics are published when that night's table is written (nights/<night>.csv).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

from skyseg.runtime.errors import InputError
from skyseg.runtime.sinks.mqtt import MqttSink, MqttTarget
from skyseg.runtime.sinks.output_uri import parse_output

log = logging.getLogger(__name__)

SUBTOPIC = "archive"


def archive_uri(uri: str) -> str:
    """The sink URI for an archive: the same broker and options, base topic BASE/archive (InputError if unusable)."""
    if parse_output(uri).kind != "mqtt":  # parse_output: the runtime's one sentence for a bad URI
        raise InputError(f"--output {uri}: skyseg archive publishes only to mqtt://HOST[:PORT]/BASE_TOPIC")
    target = MqttTarget.parse(uri)
    if target.discovery:
        raise InputError(f"--output {uri}: discovery announces the live camera sensors, which an archive never "
                         "updates; drop ?discovery=... for skyseg archive")
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{target.base}/{SUBTOPIC}"))


def night_summary(night: str, rows: Iterable[dict[str, Any]], table: Path) -> dict[str, Any]:
    """Frames, errors and mean sky fraction of one night's table rows (values as read back from its CSV)."""
    fractions = [float(r["sky_fraction"]) for r in rows if not r["error"] and str(r["sky_fraction"]) != ""]
    errors = sum(1 for r in rows if r["error"])
    mean = round(sum(fractions) / len(fractions), 6) if fractions else None
    return {"night": night, "frames": len(fractions), "errors": errors, "sky_fraction_mean": mean,
            "table": str(table), "written": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ArchivePublisher:
    """One MqttSink per `--output mqtt://` URI, rebased to BASE/archive; used by `run_archive` in the driver."""

    def __init__(self, uris: Iterable[str]) -> None:
        self.sinks: list[MqttSink] = []
        rebased = [archive_uri(uri) for uri in uris]  # every URI checked before any connection
        try:
            for uri in rebased:
                self.sinks.append(MqttSink(uri))
        except BaseException:
            self.close()
            raise

    def _publish(self, values: dict[str, str]) -> None:
        for sink in self.sinks:
            sink.publish(values)

    def state(self, status: str, **values: Any) -> None:
        """BASE/archive/state: {"status": running|done|failed, "time": ..., **values}."""
        self._publish({"state": json.dumps({"status": status, "time": _now(), **values}, sort_keys=True)})

    def night(self, summary: dict[str, Any]) -> None:
        """The retained topics of one night whose table was just written."""
        night = summary["night"]
        mean = summary["sky_fraction_mean"]
        self._publish({f"{night}/frames": str(summary["frames"]), f"{night}/errors": str(summary["errors"]),
                       f"{night}/sky_fraction_mean": "" if mean is None else str(mean),
                       f"{night}/summary": json.dumps(summary, sort_keys=True)})

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def __enter__(self) -> ArchivePublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
