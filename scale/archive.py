"""Segment an archive of frames on Ray Data: `skyseg archive ROOT_OR_MANIFEST --save-dir DIR [--address ...]`.

- The frame list is a Parquet manifest (path, size, mtime), built once from ROOT (DIR/manifest.parquet) or read
  from the file given, so no reader lists millions of files.
- `map_batches` with a callable class on an `ActorPoolStrategy`: each actor opens ONNX Runtime once with as many
  threads as CPUs it was given, decodes frames with the runtime's own readers (FITS, 16-bit PNG, JPEG, ...) and runs
  each batch through the runtime's Pipeline, so masks are named and written by `skyseg run --masks DIR/masks`'s sink.
- Resumable: frames whose mask already exists are skipped (masks are written atomically, so one that exists is
  complete). A corrupt frame becomes a row with its error, never a failed job.
- One CSV per night in DIR/nights/ (night = the UTC date of mtime − 12 h, so a night spans midnight), rows as
  `skyseg run --table` writes them plus `mask`; with `clouds=True` (`--clouds`) also cloud_fraction and
  clear_fraction, and cloud maps in DIR/clouds/ as `skyseg run --clouds` writes them.
- `--output mqtt://HOST/BASE`: each night's summary under BASE/archive/<night>/ once its table is written, and a
  BASE/archive/state JSON, published by the driver (scale/archive_mqtt.py); never the live BASE/* topics.
"""
from __future__ import annotations

import csv
import io
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from skyseg.runtime.atomic_file import AtomicFile
from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES
from skyseg.scale.archive_mqtt import ArchivePublisher, night_summary

log = logging.getLogger(__name__)

SUFFIXES = (*FITS_SUFFIXES, *IMAGE_SUFFIXES)  # the runtime's readers' registry: what `skyseg run` reads
ROW_COLUMNS = ("path", "mtime", "sky_fraction", "instances", "latency_ms", "mask", "error")
CLOUD_ROW_COLUMNS = ROW_COLUMNS + ("cloud_fraction", "clear_fraction")  # with clouds on


def build_manifest(root: Path):
    """A pyarrow Table (path, size, mtime) of every frame file under `root`, sorted by path."""
    import pyarrow as pa

    rows = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith(SUFFIXES):
                st = os.stat(os.path.join(dirpath, name))
                rows.append((os.path.join(dirpath, name), st.st_size, st.st_mtime))
    if not rows:
        raise InputError(f"{root} holds no frame files ({', '.join(SUFFIXES)})")
    rows.sort()
    return pa.table({"path": [r[0] for r in rows], "size": [r[1] for r in rows], "mtime": [r[2] for r in rows]})


def load_manifest(source: Path, save_dir: Path):
    import pyarrow.parquet as pq

    if source.is_file() and source.suffix == ".parquet":
        table = pq.read_table(source)
        missing = {"path", "size", "mtime"} - set(table.column_names)
        if missing:
            raise InputError(f"manifest {source} lacks column(s) {', '.join(sorted(missing))}")
        return table
    if not source.is_dir():
        raise InputError(f"{source} is neither a folder of frames nor a .parquet manifest")
    table = build_manifest(source)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with AtomicFile(save_dir / "manifest.parquet", "wb") as f:
        f.handle.write(buf.getvalue())
    log.info("manifest: %d frames under %s → %s", table.num_rows, source, save_dir / "manifest.parquet")
    return table


def mask_name(path: str) -> str:
    """The mask file name `skyseg run --masks` gives this input."""
    from skyseg.runtime.frame import frame_stem

    return frame_stem(path) + "_mask.png"


class _Rows:
    """The archive's row for each record the pipeline finishes (a Sink: the masks are written by the run's MaskSink)."""

    def __init__(self, mtimes: dict[str, float], columns: tuple = ROW_COLUMNS) -> None:
        self.mtimes = mtimes
        self.columns = columns
        self.out: dict[str, list] = {c: [] for c in columns}

    def write(self, record: Any) -> None:
        from skyseg.runtime.sinks.clouds import cloud_values

        path = str(record.path)
        row = dict.fromkeys(self.columns, "")
        row.update(path=path, mtime=self.mtimes[path])
        res = record.result
        if res is None:
            row["error"] = record.error.message or "unreadable"
        else:
            row.update(sky_fraction=round(res.sky_fraction, 6), instances=len(res),
                       latency_ms=round(res.latency_ms, 3), mask=mask_name(path))
            row.update({k: "" if v is None else v for k, v in cloud_values(record).items() if k in self.columns})
        for c in self.columns:
            self.out[c].append(row[c])

    def close(self) -> None:
        """Rows go back to Ray; nothing to finalise."""

    def outputs(self) -> list[Path]:
        return []


class SegmentBatch:
    """Ray actor: one model per actor, a batch of manifest rows in, result rows out; each batch is one run of the
    runtime's pipeline (`skyseg run FRAMES --masks DIR/masks` with the frames read by the runtime's own readers)."""

    def __init__(self, model: str, masks_dir: str, threads: int, clouds: bool = False) -> None:
        from skyseg.runtime.backends.base import open_backend
        from skyseg.runtime.pipeline import RunConfig, make_segmenter

        self.config = RunConfig(source="archive", model=model, backend="ort", threads=threads, masks=masks_dir,
                                headless=True, prior="off", min_free_mb=0, clouds=clouds)
        self._backend = open_backend(model, "ort", threads=threads)
        self.segmenter = make_segmenter(self._backend.__enter__(), self.config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from skyseg.runtime.pipeline import Hooks, Pipeline

        paths = [str(p) for p in batch["path"]]
        rows = _Rows({p: float(m) for p, m in zip(paths, batch["mtime"])},
                     CLOUD_ROW_COLUMNS if self.config.clouds else ROW_COLUMNS)
        with Pipeline(self.config, self.segmenter, Hooks(sinks=[rows]), source=_frames(paths)) as pipeline:
            pipeline.run()
        return rows.out

    def close(self) -> None:
        """Release the model (idempotent); Ray ends the actor's process after the job."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.__exit__(None, None, None)

    def __del__(self) -> None:
        self.close()


def _frames(paths: list[str]) -> Iterator[Any]:
    """Each path as a Frame, or a FrameError that becomes the row's error (a corrupt frame is a row, never a failed
    job)."""
    from skyseg.runtime.frame import FrameError
    from skyseg.runtime.sources.image_reader import read_frame_file

    for path in paths:
        try:
            yield read_frame_file(path, 0, "archive")
        except Exception as err:  # noqa: BLE001 - whatever a reader raises, the frame becomes an error row
            yield FrameError(0, "archive", path, str(err) or type(err).__name__, 0.0)


def night_of(mtime: float) -> str:
    return (datetime.fromtimestamp(mtime, tz=timezone.utc) - timedelta(hours=12)).date().isoformat()


def run_archive(source: str | Path, save_dir: str | Path, model: str, actors: int = 1, cpus_per_actor: int = 1,
                address: str | None = None, batch_size: int = 8, outputs: Iterable[str] = (),
                clouds: bool = False) -> dict[str, int]:
    """Segment every not-yet-done frame (and measure its cloud cover with `clouds`); returns counts {frames,
    skipped, errors}.

    `outputs`: mqtt:// URIs that get per-night summaries under BASE/archive/ (scale/archive_mqtt.py), published
    here in the driver, never from the Ray actors."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("skyseg archive needs Ray; `pip install 'ray[data]'`") from None
    with ArchivePublisher(outputs) as publisher:
        try:
            return _segment(ray, publisher, Path(source), Path(save_dir), model, actors, cpus_per_actor, address,
                            batch_size, clouds)
        except BaseException as err:
            publisher.state("failed" if isinstance(err, Exception) else "stopped",
                            error=f"{type(err).__name__}: {err}")
            raise


def _segment(ray: Any, publisher: ArchivePublisher, source: Path, save_dir: Path, model: str, actors: int,
             cpus_per_actor: int, address: str | None, batch_size: int, clouds: bool = False) -> dict[str, int]:
    masks_dir = save_dir / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    table = load_manifest(source, save_dir)
    paths = table.column("path").to_pylist()
    todo = [i for i, p in enumerate(paths) if not (masks_dir / mask_name(p)).is_file()]
    skipped = len(paths) - len(todo)
    if skipped:
        log.info("resume: %d of %d frames already have masks", skipped, len(paths))
    counts = {"frames": 0, "skipped": skipped, "errors": 0}
    publisher.state("running", todo=len(todo), skipped=skipped, save_dir=str(save_dir))
    if not todo:
        publisher.state("done", **counts, nights=[])
        return counts
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=max(os.cpu_count() or 1, actors * cpus_per_actor), include_dashboard=False)
    ds = ray.data.from_arrow(table.take(todo))
    rows = ds.map_batches(SegmentBatch, fn_constructor_kwargs={"model": str(Path(model).resolve()),
                                                               "masks_dir": str(masks_dir.resolve()),
                                                               "threads": cpus_per_actor, "clouds": clouds},
                          compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor,
                          batch_size=batch_size, batch_format="numpy").take_all()
    nights: dict[str, list[dict]] = {}
    for row in rows:
        nights.setdefault(night_of(float(row["mtime"])), []).append(row)
        counts["errors" if row["error"] else "frames"] += 1
    for night, night_rows in sorted(nights.items()):
        path = save_dir / "nights" / f"{night}.csv"
        columns = CLOUD_ROW_COLUMNS if clouds else ROW_COLUMNS
        publisher.night(night_summary(night, _append_night(path, night_rows, columns), path))
    log.info("archive: %d frames segmented, %d skipped, %d errors", counts["frames"], skipped, counts["errors"])
    publisher.state("done", **counts, nights=sorted(nights))
    return counts


def _append_night(path: Path, rows: list[dict], columns: tuple = ROW_COLUMNS) -> list[dict]:
    """Merge rows into the night's CSV (a re-run replaces rows of the same path), written atomically; returns them.
    Rows of an earlier run without a column (cloud cover added later) get it empty."""
    merged: dict[str, dict] = {}
    if path.is_file():
        with open(path, newline="") as f:
            merged = {r["path"]: r for r in csv.DictReader(f)}
    for r in rows:
        merged[str(r["path"])] = {c: r.get(c, "") for c in columns}
    with AtomicFile(path, "w", newline="") as f:
        writer = csv.DictWriter(f.handle, fieldnames=columns, extrasaction="ignore", restval="")
        writer.writeheader()
        for key in sorted(merged):
            writer.writerow(merged[key])
    return list(merged.values())
