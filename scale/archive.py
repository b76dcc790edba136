"""Segment an archive of frames on Ray Data: `skyseg archive ROOT_OR_MANIFEST --save-dir DIR [--address ...]`.

- The frame list is a Parquet manifest (path, size, mtime), built once from ROOT (DIR/manifest.parquet) or read
  from the file given, so no reader lists millions of files.
- `map_batches` with a callable class on an `ActorPoolStrategy`: each actor opens ONNX Runtime once with as many
  threads as CPUs it was given, decodes frames with the runtime's own readers (FITS, 16-bit PNG, JPEG, ...) and runs
  each batch through the runtime's Pipeline, so masks are named and written by `skyseg run --masks DIR/masks`'s sink.
- Masks are named by the frame's path relative to the archive's root (`2026-03-01/frame_1.jpg` →
  `masks/2026-03-01/frame_1_mask.png`), as `skyseg run --masks` names a folder's frames, so two nights'
  `frame_1.jpg` never share a mask. A corrupt frame becomes a row with its error, never a failed job.
- The ledger is the night tables (scale/archive_nights.py): DIR/nights/NIGHT.csv, one row per frame (path, mtime,
  sky_fraction, instances, latency_ms, mask relative to DIR/masks, error, the frame's own time, model sha256
  prefix, conf, iou; with `clouds=True` (`--clouds`) also cloud_fraction and clear_fraction, and cloud maps in
  DIR/clouds/). Actors append each row as its frame finishes, before its mask, so a kill leaves a row for every mask
  written; a rerun segments every frame without a finished row whose mask is on disk (a corrupt frame is tried
  again). NIGHT runs from local noon to local noon at the site (`tz` / `longitude`, default the system's zone), by
  the frame's own time (FITS DATE-OBS, EXIF DateTimeOriginal, else the file's mtime).
- A local Ray that the job starts is watched by a small process that ends Ray's processes when the driver dies,
  even by SIGKILL (scale/ray_guard.py).
- `--output mqtt://HOST/BASE`: each night's summary under BASE/archive/<night>/ once its table is written, and a
  BASE/archive/state JSON, published by the driver (scale/archive_mqtt.py); never the live BASE/* topics.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from skyseg.runtime.atomic_file import AtomicFile
from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.runtime.sources.uri import FITS_SUFFIXES, IMAGE_SUFFIXES
from skyseg.scale.archive_mqtt import ArchivePublisher, night_summary
from skyseg.scale.archive_nights import (CLOUD_ROW_COLUMNS, ROW_COLUMNS, NightTables, SiteClock, compact, done_paths,
                                         frame_time, prepare)

log = logging.getLogger(__name__)

SUFFIXES = (*FITS_SUFFIXES, *IMAGE_SUFFIXES)  # the runtime's readers' registry: what `skyseg run` reads
__all__ = ["CLOUD_ROW_COLUMNS", "ROW_COLUMNS", "SegmentBatch", "build_manifest", "load_manifest", "run_archive"]


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


def archive_root(paths: list[str]) -> str:
    """The folder every frame's mask name is relative to: the deepest folder holding them all."""
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]) if paths else "."


def frame_names(paths: list[str], root: str) -> list[str]:
    """Each frame's name (its path relative to `root` without image suffixes); inputs that would share one (an
    indi-allsky `a.jpg` beside `a.fits`) keep their suffix in it (`a_jpg`, `a_fits`), so every mask is its own."""
    from skyseg.runtime.sinks.naming import relative_name

    names = [relative_name(p, Path(root)) for p in paths]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [name if seen[name] == 1 else f"{name}_{Path(p).name[len(Path(name).name):].strip('.').replace('.', '_')}"
            for p, name in zip(paths, names)]


class _Rows:
    """The archive's row for each record the pipeline finishes, appended to its night's table before the mask is
    written (a Sink placed before the MaskSink); the rows, with their night, also go back to the driver."""

    def __init__(self, mtimes: dict[str, float], tables: NightTables, clock: SiteClock, masks: Any) -> None:
        self.mtimes = mtimes
        self.tables = tables
        self.clock = clock
        self.masks = masks
        self.columns = tables.columns
        self.out: dict[str, list] = {c: [] for c in (*self.columns, "night")}

    def write(self, record: Any) -> None:
        from skyseg.runtime.run.ledger import iso_time
        from skyseg.runtime.sinks.clouds import cloud_values
        from skyseg.runtime.sinks.table import SETTINGS_KEY

        path = str(record.path)
        mtime = self.mtimes[path]
        stamp = frame_time(path, record.frame.timestamp if record.frame is not None else None, mtime, self.clock)
        row: dict[str, Any] = {"path": path, "mtime": mtime, "time": iso_time(stamp),
                               **record.extra.get(SETTINGS_KEY, {})}
        res = record.result
        if res is None:
            row["error"] = record.error.message or "unreadable"
        else:
            mask = self.masks.file_for(record)
            row.update(sky_fraction=round(res.sky_fraction, 6), instances=len(res),
                       latency_ms=round(res.latency_ms, 3), error="",
                       mask=mask.relative_to(self.masks.directory).as_posix() if mask is not None else "")
            row.update({k: "" if v is None else v for k, v in cloud_values(record).items()})
        row["night"] = self.clock.night_of(stamp)
        self.tables.append(row["night"], row)
        for column, values in self.out.items():
            values.append(row.get(column, ""))

    def close(self) -> None:
        """Rows are in the night tables already; nothing to finalise."""

    def outputs(self) -> list[Path]:
        return []


class SegmentBatch:
    """Ray actor: one model per actor, a batch of manifest rows in, rows appended to the night tables and a short
    row per frame back; each batch is one run of the runtime's pipeline (`skyseg run ROOT --masks DIR/masks`, the
    frames read by the runtime's own readers and named by their path relative to `root`)."""

    def __init__(self, model: str, masks_dir: str, threads: int, clouds: bool = False, nights_dir: str | None = None,
                 root: str = ".", tz: str | None = None, longitude: float | None = None) -> None:
        from skyseg.runtime.backends.base import open_backend
        from skyseg.runtime.pipeline import RunConfig, make_segmenter

        self.config = RunConfig(source=root, model=model, backend="ort", threads=threads, headless=True,
                                prior="off", min_free_mb=0, clouds=clouds)
        self.masks_dir = Path(masks_dir)
        self.nights = NightTables(Path(nights_dir) if nights_dir else self.masks_dir.with_name("nights"),
                                  CLOUD_ROW_COLUMNS if clouds else ROW_COLUMNS)
        self.clock = SiteClock(tz, longitude)
        self._backend = open_backend(model, "ort", threads=threads)
        self.segmenter = make_segmenter(self._backend.__enter__(), self.config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from skyseg.runtime.pipeline import Hooks, Pipeline
        from skyseg.runtime.sinks.clouds import CloudMapSink
        from skyseg.runtime.sinks.masks import MaskSink

        paths = [str(p) for p in batch["path"]]
        names = [str(n) for n in batch["name"]] if "name" in batch else [None] * len(paths)
        masks = MaskSink(self.masks_dir)
        sinks: list[Any] = [masks]
        if self.config.clouds:
            sinks.append(CloudMapSink(self.masks_dir.with_name("clouds")))
        rows = _Rows({p: float(m) for p, m in zip(paths, batch["mtime"])}, self.nights, self.clock, masks)
        hooks = Hooks(sinks=[rows, *sinks])  # the row before the mask: a kill leaves a row for every mask
        with Pipeline(self.config, self.segmenter, hooks, source=_frames(paths, names)) as pipeline:
            pipeline.run()
        return rows.out

    def close(self) -> None:
        """Release the model and the night tables (idempotent); Ray ends the actor's process after the job."""
        self.nights.close()
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.__exit__(None, None, None)

    def __del__(self) -> None:
        self.close()


def _frames(paths: list[str], names: list[str | None]) -> Iterator[Any]:
    """Each path as a Frame named `name` (its masks' name), or a FrameError that becomes the row's error (a corrupt
    frame is a row, never a failed job)."""
    from skyseg.runtime.frame import Frame, FrameError
    from skyseg.runtime.sinks.naming import PRESET_KEY
    from skyseg.runtime.sources.image_reader import read_frame_file

    for path, name in zip(paths, names):
        try:
            item = read_frame_file(path, 0, "archive")
        except Exception as err:  # whatever a reader raises, the frame becomes an error row
            item = FrameError(0, "archive", path, str(err) or type(err).__name__, 0.0)
        if isinstance(item, Frame) and name:
            item.meta[PRESET_KEY] = name
        yield item


def run_archive(source: str | Path, save_dir: str | Path, model: str, actors: int = 1, cpus_per_actor: int = 1,
                address: str | None = None, batch_size: int = 8, outputs: Iterable[str] = (),
                clouds: bool = False, tz: str | None = None, longitude: float | None = None) -> dict[str, int]:
    """Segment every frame without a finished row (and measure its cloud cover with `clouds`); returns counts
    {frames, skipped, errors}. Nights are local noon to noon in `tz` (an IANA zone) or at `longitude` (degrees east,
    mean solar time), default the system's zone.

    `outputs`: mqtt:// URIs that get per-night summaries under BASE/archive/ (scale/archive_mqtt.py), published
    here in the driver, never from the Ray actors."""
    clock = SiteClock(tz, longitude)  # a bad zone is one sentence before anything starts
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("skyseg archive needs Ray; `pip install 'ray[data]'`") from None
    with ArchivePublisher(outputs) as publisher:
        try:
            return _segment(ray, publisher, Path(source), Path(save_dir), model, actors, cpus_per_actor, address,
                            batch_size, clouds, (tz, longitude), clock)
        except BaseException as err:
            publisher.state("failed" if isinstance(err, Exception) else "stopped",
                            error=f"{type(err).__name__}: {err}")
            raise


def _segment(ray: Any, publisher: ArchivePublisher, source: Path, save_dir: Path, model: str, actors: int,
             cpus_per_actor: int, address: str | None, batch_size: int, clouds: bool, site: tuple,
             clock: SiteClock) -> dict[str, int]:
    import pyarrow as pa

    masks_dir, nights_dir = save_dir / "masks", save_dir / "nights"
    masks_dir.mkdir(parents=True, exist_ok=True)
    table = load_manifest(source, save_dir)
    paths = table.column("path").to_pylist()
    columns = CLOUD_ROW_COLUMNS if clouds else ROW_COLUMNS
    prepare(nights_dir, columns, CLOUD_ROW_COLUMNS)
    done = done_paths(nights_dir, masks_dir)
    todo = [i for i, p in enumerate(paths) if p not in done]
    skipped = len(paths) - len(todo)
    if skipped:
        log.info("resume: %d of %d frames have their rows and masks", skipped, len(paths))
    counts = {"frames": 0, "skipped": skipped, "errors": 0}
    publisher.state("running", todo=len(todo), skipped=skipped, save_dir=str(save_dir))
    if not todo:
        publisher.state("done", **counts, nights=[])
        return counts
    log.info("nights from local noon to noon (%s), by each frame's own time", clock.description)
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            from skyseg.scale.ray_guard import guard_local_ray

            ray.init(num_cpus=max(os.cpu_count() or 1, actors * cpus_per_actor), include_dashboard=False)
            guard_local_ray()
    root = archive_root(paths)
    names = frame_names(paths, root)
    work = table.select(["path", "mtime"]).take(todo)
    ds = ray.data.from_arrow(work.append_column("name", pa.array([names[i] for i in todo], pa.string())))
    kwargs = {"model": str(Path(model).resolve()), "masks_dir": str(masks_dir.resolve()),
              "threads": cpus_per_actor, "clouds": clouds, "nights_dir": str(nights_dir.resolve()),
              "root": root, "tz": site[0], "longitude": site[1]}
    results = ds.map_batches(SegmentBatch, fn_constructor_kwargs=kwargs,
                             compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor,
                             batch_size=batch_size, batch_format="numpy")
    nights: set[str] = set()
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        for night, error in zip(batch["night"], batch["error"]):
            nights.add(str(night))
            counts["errors" if error else "frames"] += 1
    for night in sorted(nights):
        path = nights_dir / f"{night}.csv"
        publisher.night(night_summary(night, compact(path), path))
    log.info("archive: %d frames segmented, %d skipped, %d errors", counts["frames"], skipped, counts["errors"])
    publisher.state("done", **counts, nights=sorted(nights))
    return counts
