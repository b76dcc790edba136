"""What the page reads: the latest frame (encoded on demand, once per frame and view), the night's rows, counters.

The pipeline thread only stores references here (a few microseconds a frame); JPEG/PNG encoding happens in the
web server's threads when a browser asks, and at most once per frame and view, so a connected page does not slow
the run. Rows are kept as tuples in the results table's column order (`skyseg.runtime.sinks.table.COLUMNS`), at
most `history` of them.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import cv2
import numpy as np

from skyseg.runtime.sinks.annotate import Annotator
from skyseg.runtime.sinks.base import FrameRecord
from skyseg.runtime.sinks.clouds import EXTRA_KEY as CLOUDS, cloud_values
from skyseg.runtime.sinks.table import COLUMNS, record_row

VIEWS = ("overlay", "raw", "mask", "clouds")
CLOUD_TINT = np.array([255, 150, 40], np.float32)  # cloud in the clouds view (orange); clear sky is tinted blue
SKY_TINT = np.array([40, 120, 255], np.float32)
JPEG_QUALITY = 80


def flat_row(record: FrameRecord, source: str | None = None) -> tuple[Any, ...]:
    """A record as a results-table row (the CSV form: scores as one space-separated string)."""
    row = record_row(record)
    row["scores"] = "" if row["scores"] is None else " ".join(f"{s:.4f}" for s in row["scores"])
    if source is not None:
        row["source"] = source
    return tuple("" if row[c] is None else row[c] for c in COLUMNS)


def encode_jpeg(rgb: np.ndarray, max_side: int | None = None) -> bytes:
    """RGB or gray uint8 → JPEG bytes, shrunk so the longer side is at most `max_side`."""
    if max_side and max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """bool H×W → 8-bit PNG, 255 = sky (the runtime's mask convention)."""
    ok, buf = cv2.imencode(".png", np.where(mask, np.uint8(255), np.uint8(0)))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def cloud_view(record: FrameRecord) -> np.ndarray:
    """The frame with clear sky tinted blue and cloud orange (not-sky untouched), the cloud share written on it; a
    run without cloud cover shows the sky tint alone and says so."""
    rgb = record.rgb8 if record.rgb8.ndim == 3 else cv2.cvtColor(record.rgb8, cv2.COLOR_GRAY2RGB)
    out = rgb.astype(np.float32)
    sky = record.result.sky_mask
    clouds = record.extra.get(CLOUDS)
    cloud = clouds.cloud if clouds is not None else np.zeros_like(sky)
    clear = sky & ~cloud
    out[clear] = 0.6 * out[clear] + 0.4 * SKY_TINT
    out[cloud] = 0.45 * out[cloud] + 0.55 * CLOUD_TINT
    out = out.astype(np.uint8)
    if clouds is None:
        text = "cloud cover off (skyseg serve --clouds)"
    elif clouds.cloud_fraction != clouds.cloud_fraction:
        text = "no sky in this frame"
    else:
        text = f"cloud {100 * clouds.cloud_fraction:.0f} % of the sky"
    scale = max(out.shape[:2]) / 1000.0
    cv2.putText(out, text, (int(12 * scale) + 1, int(36 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale,
                (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
    return out


class Kept(NamedTuple):
    """One row of the night as the page keeps it: its sequence number, when the server got it, the values."""

    seq: int
    received: float  # epoch seconds when the row reached the server (the chart's time axis: it only grows)
    values: tuple[Any, ...]
    cloud: Any = ""  # cloud_fraction when the run measures cloud cover (`--clouds`), else ""


@dataclass
class Latest:
    """The newest live frame: references only, encoded lazily."""

    version: int
    record: FrameRecord
    fps: float | None


class LiveState:
    """Thread-safe store between the pipeline thread (writers) and the web server (readers)."""

    def __init__(self, history: int = 20000, annotator: Annotator | None = None) -> None:
        self._lock = threading.Lock()
        self._rows: collections.deque[Kept] = collections.deque(maxlen=max(1, history))
        self._seq = 0
        self._latest: Latest | None = None
        self._cache: dict[tuple[Any, ...], bytes] = {}
        self._times: collections.deque[float] = collections.deque(maxlen=30)
        self.annotator = annotator or Annotator()
        self.frames = 0
        self.errors = 0
        self.uploads = 0
        self.started = time.time()
        self.static_mask: Callable[[], np.ndarray | None] = lambda: None
        self.static_frames: Callable[[], int] = lambda: 0

    # writers (pipeline thread, upload threads)
    def add_live(self, record: FrameRecord) -> None:
        """A frame (or error record) from the live source."""
        row = flat_row(record)
        cloud = cloud_values(record).get("cloud_fraction")
        now = time.perf_counter()
        with self._lock:
            self._seq += 1
            self._rows.append(Kept(self._seq, time.time(), row, "" if cloud is None else cloud))
            if record.result is None:
                self.errors += 1
                return
            self.frames += 1
            self._times.append(now)
            # keep what the views need, not the source's raw pixels (a 16-bit 12 MP FITS frame is 74 MB)
            slim = FrameRecord(result=record.result, rgb8=record.rgb8, fps=record.fps,
                               extra={CLOUDS: record.extra[CLOUDS]} if CLOUDS in record.extra else {})
            self._latest = Latest(self._seq, slim, self._fps_locked())
            self._cache.clear()

    def add_upload_rows(self, rows: list[tuple[Any, ...]]) -> list[Kept]:
        """Rows from a one-off detection; returns them as kept."""
        kept = []
        with self._lock:
            self.uploads += 1
            for row in rows:
                self._seq += 1
                self._rows.append(Kept(self._seq, time.time(), row))
                kept.append(self._rows[-1])
        return kept

    # readers (web server threads)
    def _fps_locked(self) -> float | None:
        if len(self._times) < 2:
            return None
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else None

    def live_fps(self) -> float:
        """Frames per second over the last 30 frames; 0 once the source has been quiet for 3 of its frame periods
        (and at least 10 s), so a finished or stalled source does not show its old rate."""
        with self._lock:
            fps = self._fps_locked()
            since = time.perf_counter() - self._times[-1] if self._times else float("inf")
        if fps is None or since > max(10.0, 3.0 / fps):
            return 0.0
        return fps

    @property
    def seq(self) -> int:
        return self._seq

    def latest(self) -> Latest | None:
        with self._lock:
            return self._latest

    def rows_since(self, seq: int, limit: int = 50) -> list[Kept]:
        """Rows newer than `seq`, oldest first, at most the last `limit` of them."""
        with self._lock:
            out = []
            for item in reversed(self._rows):
                if item.seq <= seq or len(out) >= limit:
                    break
                out.append(item)
        return out[::-1]

    def page(self, page: int, per_page: int) -> tuple[int, list[Kept]]:
        """(total rows, the page's rows newest first); page 0 is the newest."""
        with self._lock:
            total = len(self._rows)
            end = total - page * per_page
            start = max(0, end - per_page)
            rows = [self._rows[i] for i in range(max(end, 0) - 1, start - 1, -1)] if end > 0 else []
        return total, rows

    def all_rows(self) -> list[tuple[Any, ...]]:
        """Every kept row, oldest first (for the downloads), with its cloud_fraction last when the run measures
        cloud cover."""
        with self._lock:
            clouds = any(kept.cloud != "" for kept in self._rows)
            return [kept.values + (kept.cloud,) if clouds else kept.values for kept in self._rows]

    def series(self, max_points: int = 1500) -> list[tuple[int, float, Any, Any, Any]]:
        """(seq, received, sky_fraction, latency_ms, cloud_fraction or "") of the result rows, thinned to at most
        `max_points`."""
        sky, lat = COLUMNS.index("sky_fraction"), COLUMNS.index("latency_ms")
        with self._lock:
            points = [(k.seq, k.received, k.values[sky], k.values[lat], k.cloud) for k in self._rows
                      if k.values[sky] != ""]
        step = max(1, -(-len(points) // max_points))
        return points[::-1][::step][::-1]

    def image(self, view: str, max_side: int | None = None) -> tuple[int, bytes] | None:
        """(frame version, JPEG) of the latest frame as `view` (raw / overlay / mask), or None before any frame."""
        latest = self.latest()
        if latest is None or latest.record.rgb8 is None or latest.record.result is None:
            return None
        key = (latest.version, view, max_side)
        cached = self._cache.get(key)
        if cached is not None:
            return latest.version, cached
        record, result = latest.record, latest.record.result
        if view == "raw":
            pixels = record.rgb8
        elif view == "mask":
            pixels = np.where(result.sky_mask, np.uint8(255), np.uint8(0))
        elif view == "clouds":
            pixels = cloud_view(record)
        else:
            pixels = self.annotator.draw(record.rgb8, result, latest.fps)
        data = encode_jpeg(pixels, max_side)
        with self._lock:
            if self._latest is not None and self._latest.version == latest.version:
                self._cache[key] = data
        return latest.version, data

    def mask_png(self) -> tuple[int, bytes] | None:
        """(frame version, full-size mask PNG) of the latest frame, or None before any frame."""
        latest = self.latest()
        if latest is None or latest.record.result is None:
            return None
        key = (latest.version, "mask.png")
        data = self._cache.get(key)
        if data is None:
            data = encode_mask_png(latest.record.result.sky_mask)
            with self._lock:
                if self._latest is not None and self._latest.version == latest.version:
                    self._cache[key] = data
        return latest.version, data
