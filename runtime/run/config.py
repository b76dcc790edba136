"""`RunConfig`: one run's settings (source, model, thresholds, outputs, prior, disk guard), and `RunSummary`: what it
did. Every job that runs frames builds a RunConfig (the dashboard's config contains one)."""
from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from skyseg.runtime.errors import InputError


@dataclass(frozen=True)
class RunConfig:
    """Everything `skyseg run` needs; built by the CLI, usable from Python."""

    source: str
    model: str
    backend: str = "auto"
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    threads: int | None = None
    outputs: tuple[str, ...] = ()  # display://N, file://out.mp4 / out.mkv, or a folder for annotated images
    save_dir: str | None = None  # auto-save everything under this folder
    masks: str | None = None  # folder for per-frame mask PNGs
    table: str | None = None  # results.csv / .jsonl / .xlsx
    static_mask: str | None = None  # path of the per-night static mask PNG
    static_share: float = 0.9
    headless: bool = False
    watch: bool = False
    watch_existing: bool = False  # a watch also takes the files already there that have no row in the table
    recursive: bool = False  # a watch also takes frames in sub-folders (one folder per night)
    max_frames: int | None = None
    progress_s: float = 5.0
    gpu_prepost: str = "auto"  # TensorRT only: letterbox + mask assembly on the GPU (auto: when CuPy is installed)
    min_free_mb: float = 100.0  # below this, annotated video/images stop; below half, masks; 0 = off
    prior: str = "auto"  # per-installation horizon prior: auto (fixed-camera sources: folders, watch), on, off
    prior_frames: int = 8  # frames counted before the prior is applied
    clouds: bool = False  # cloud map and cloud/clear fractions per frame (runtime.clouds); off costs nothing


def table_path(config: RunConfig) -> str | None:
    """The results table a run writes (and a restart continues): --table, else SAVE_DIR/results.csv. One that exists
    but is no regular file (a FIFO would block the run in open(), deaf to SIGTERM) is refused with one sentence."""
    table = config.table or (str(Path(config.save_dir) / "results.csv") if config.save_dir else None)
    if table is not None:
        for path in {Path(table), Path(table).with_suffix(".csv") if table.lower().endswith(".xlsx") else Path(table)}:
            kind = _special_kind(path)
            if kind:
                raise InputError(f"the results table {path} is {kind}, not a regular file; pass a file path with "
                                 "--table (or another --save-dir)")
    return table


def _special_kind(path: Path) -> str:
    """'a FIFO', 'a directory', ... for an existing path that is no regular file; '' otherwise."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return ""


def source_options(config: RunConfig) -> dict:
    """What `open_source` gets besides the URI: a watch's options and the table it resumes from."""
    if not config.watch:
        return {}
    return {"existing": config.watch_existing, "recursive": config.recursive, "ledger": table_path(config)}


@dataclass
class RunSummary:
    frames: int = 0
    errors: int = 0
    seconds: float = 0.0
    dropped: int = 0
    stopped_by: str | None = None  # "SIGTERM", "SIGINT", or None at end of stream
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean per stage
    outputs: list[Path] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0
