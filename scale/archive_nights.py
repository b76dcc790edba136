"""The archive's ledger: one table per night, written row by row by the Ray actors, and the night a frame belongs to.

- A frame's time is its own: FITS `DATE-OBS` (the runtime's reader gives it as the frame time), EXIF
  `DateTimeOriginal` of a JPEG/TIFF (with `OffsetTimeOriginal` when the camera wrote it, else read in the site's
  zone), else the file's modification time.
- Its night is the local date of (time − 12 h) at the site, so a night runs from local noon to local noon: `tz` (an
  IANA zone, `--tz Australia/Sydney`), or `longitude` (degrees east, `--longitude 151.2`: local mean solar time),
  default the system's zone.
- Rows are appended to `nights/NIGHT.csv` as each frame finishes, before its mask is written (one `write` per row on
  an O_APPEND file, so actors of one machine never interleave), so a killed job leaves a row for every mask it wrote;
  a row whose mask is missing counts as not done. After a job the driver compacts each night it touched: one row
  per path (the latest), sorted by path, written atomically.
"""
from __future__ import annotations

import csv
import logging
import os
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Iterator

from skyseg.runtime.atomic_file import AtomicFile
from skyseg.runtime.errors import InputError
from skyseg.runtime.run.ledger import csv_line, read_header, read_rows, upgrade_header
from skyseg.runtime.sources.uri import FITS_SUFFIXES

log = logging.getLogger(__name__)

ROW_COLUMNS = ("path", "mtime", "sky_fraction", "instances", "latency_ms", "mask", "error", "time", "model", "conf",
               "iou")
CLOUD_ROW_COLUMNS = ROW_COLUMNS + ("cloud_fraction", "clear_fraction")  # with clouds on
_EXIF_DATETIME_ORIGINAL, _EXIF_OFFSET_ORIGINAL, _EXIF_IFD = 0x9003, 0x9011, 0x8769


class SiteClock:
    """Which night a time belongs to at the site (see the module docstring)."""

    def __init__(self, tz: str | None = None, longitude: float | None = None) -> None:
        if tz is not None and longitude is not None:
            raise InputError("give --tz or --longitude, not both")
        if longitude is not None and not -180.0 <= longitude <= 180.0:
            raise InputError(f"--longitude must be in [-180, 180] degrees east, got {longitude:g}")
        self.zone: tzinfo | None = None
        if tz is not None:
            try:
                from zoneinfo import ZoneInfo  # novermin (3.9+; on 3.8 the ImportError below is one sentence)

                self.zone = ZoneInfo(tz)
            except (ImportError, KeyError, ValueError):
                raise InputError(f"--tz {tz!r} is not a time zone this system knows; use an IANA name such as "
                                 "Europe/Vienna or Australia/Sydney") from None
        elif longitude is not None:
            self.zone = timezone(timedelta(hours=longitude / 15.0))
        self.description = tz or (f"mean solar time at {longitude:g}° E" if longitude is not None else "system zone")

    def local(self, ts: float) -> datetime:
        when = datetime.fromtimestamp(ts, tz=timezone.utc)
        return when.astimezone(self.zone) if self.zone is not None else when.astimezone()

    def night_of(self, ts: float) -> str:
        """NIGHT (YYYY-MM-DD, the evening's date) of a time: local noon to local noon."""
        return (self.local(ts) - timedelta(hours=12)).date().isoformat()

    def naive_to_ts(self, naive: datetime) -> float:
        """A camera's wall-clock time without a zone, read in the site's zone."""
        if self.zone is not None:
            return naive.replace(tzinfo=self.zone).timestamp()
        return naive.timestamp()  # the system zone


def exif_time(path: str, clock: SiteClock) -> float | None:
    """EXIF DateTimeOriginal of an image (seconds since the epoch), or None when it has none (or Pillow is absent)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(path) as img:
            exif = img.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            text = sub.get(_EXIF_DATETIME_ORIGINAL) or exif.get(0x0132)  # DateTime when the original is absent
            offset = sub.get(_EXIF_OFFSET_ORIGINAL)
    except Exception:  # no readable EXIF: the caller falls back to the file time
        return None
    if not text:
        return None
    try:
        naive = datetime.strptime(str(text).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if offset:
        try:
            return datetime.fromisoformat(naive.isoformat() + str(offset).strip("\x00 ")).timestamp()
        except ValueError:
            pass
    return clock.naive_to_ts(naive)


def frame_time(path: str, frame_ts: float | None, mtime: float, clock: SiteClock) -> float:
    """The frame's own time: FITS DATE-OBS (the reader's frame time), EXIF, else the file's modification time."""
    lower = path.lower()
    if lower.endswith(FITS_SUFFIXES):
        return float(frame_ts) if frame_ts else mtime
    if lower.endswith((".jpg", ".jpeg", ".tif", ".tiff")):
        stamp = exif_time(path, clock)
        if stamp is not None:
            return stamp
    return mtime


class NightTables:
    """Appends rows to `folder/NIGHT.csv` (a new file starts with `columns`, an existing one keeps its own)."""

    def __init__(self, folder: Path, columns: tuple) -> None:
        self.folder = folder
        self.columns = columns
        self._fds: dict[str, tuple[int, list[str]]] = {}

    def append(self, night: str, row: dict[str, Any]) -> None:
        fd, header = self._open(night)
        os.write(fd, csv_line(row.get(c, "") for c in header).encode("utf-8"))

    def _open(self, night: str) -> tuple[int, list[str]]:
        if night not in self._fds:
            path = self.folder / f"{night}.csv"
            self.folder.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # a header-only file linked into place: never two headers, never a headless row
                tmp = AtomicFile(path, "wb")
                tmp.handle.write(csv_line(self.columns).encode("utf-8"))
                tmp.handle.flush()
                os.fsync(tmp.handle.fileno())
                tmp.handle.close()
                try:
                    os.link(tmp.tmp_path, path)
                except FileExistsError:
                    pass
                finally:
                    os.unlink(tmp.tmp_path)
            header = read_header(path) or list(self.columns)
            self._fds[night] = (os.open(path, os.O_WRONLY | os.O_APPEND), header)
        return self._fds[night]

    def close(self) -> None:
        for fd, _ in self._fds.values():
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._fds.clear()


def night_rows(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(night, row) of every complete row of every night table."""
    for path in sorted(folder.glob("*.csv")):
        for row in read_rows(path):
            yield path.stem, row


def done_paths(folder: Path, masks_dir: Path) -> set[str]:
    """Frames the ledger says are done: a row without an error whose mask is on disk (a row whose mask a kill left
    unwritten is not done)."""
    return {row["path"] for _, row in night_rows(folder)
            if not row.get("error") and row.get("mask") and (masks_dir / row["mask"]).is_file()}


def prepare(folder: Path, columns: tuple, known: tuple) -> None:
    """Before the actors append: every night table gets this version's columns (older rows get them empty)."""
    for path in sorted(folder.glob("*.csv")):
        upgrade_header(path, columns, known)


def compact(path: Path) -> list[dict[str, str]]:
    """One row per path (the latest; a finished row over an error row of an earlier try), sorted by path, written
    atomically; returns the rows."""
    header = read_header(path) or []
    latest: dict[str, dict[str, str]] = {}
    for row in read_rows(path):
        kept = latest.get(row["path"])
        if kept is None or not row.get("error") or kept.get("error"):
            latest[row["path"]] = row
    with AtomicFile(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out.handle, fieldnames=header, extrasaction="ignore", restval="")
        writer.writeheader()
        for key in sorted(latest):
            writer.writerow(latest[key])
    return list(latest.values())
