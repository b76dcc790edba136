"""`generate_dataset`: render N scenes in parallel into a YOLO-seg dataset with exact masks.

Layout of OUT_DIR:
    images/{train,val}/sky_000000.png   frames (RGB written as the file format expects)
    labels/{train,val}/sky_000000.txt   one line per sky region: `0 x1 y1 x2 y2 ...` (normalised)
    masks/{train,val}/sky_000000.png    the exact union sky mask, 255 = sky
    conditions.jsonl                    per-image scene conditions (moon, clouds, noise, ...), by index
    data.yaml                           absolute `path`, `train`, `val`, `names: {0: sky}`
Image i is rendered from a seed derived from (seed, i) alone, so the bytes do not depend on --workers.
"""
from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from skyseg.runtime.errors import InputError
from skyseg.synth.composite import composite_sky, load_textures
from skyseg.synth.polygons import to_label_lines
from skyseg.synth.scene import KINDS, render_scene

log = logging.getLogger(__name__)

CLASS_NAMES = {0: "sky"}
SPLITS = ("train", "val")


@dataclass(frozen=True)
class SynthConfig:
    """Everything `skyseg synth` needs: the output folder and how to render."""

    out_dir: Path
    n: int
    seed: int = 0
    kind: str = "mixed"
    size: tuple[int, int] = (640, 640)  # width, height
    bit_depth: int = 8
    workers: int = 1
    val_fraction: float = 0.1
    image_format: str = "png"  # png | jpg (jpg only for 8-bit)
    overwrite: bool = False
    real_sky: Path | None = None  # JSON list of real sky textures (synth.composite.load_textures)
    real_sky_share: float = 0.0  # fraction of frames whose sky is replaced by a real texture


_TEXTURES: dict[str, list] = {}  # per process: textures read once per spec file


def _maybe_composite(cfg: SynthConfig, index: int, scene) -> str | None:
    """Replace the sky of a share of the frames with real sky texture (same seed → same choice and placement)."""
    if cfg.real_sky is None or cfg.real_sky_share <= 0:
        return None
    rng = np.random.default_rng([image_seed(cfg.seed, index), 1])
    if rng.random() >= cfg.real_sky_share:
        return None
    key = str(cfg.real_sky)
    if key not in _TEXTURES:
        _TEXTURES[key] = load_textures(cfg.real_sky)
    tex = _TEXTURES[key][int(rng.integers(len(_TEXTURES[key])))]
    scene.image = composite_sky(rng, scene.image, scene.mask, tex, bool(scene.conditions.get("mono")))
    return tex.name


def image_seed(seed: int, index: int) -> int:
    """The render seed of image `index` in a dataset generated with `seed` (independent of worker count)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0])


def split_of(index: int, val_fraction: float) -> str:
    """'val' for an evenly spread val_fraction of the indices, 'train' otherwise."""
    return "val" if int((index + 1) * val_fraction) > int(index * val_fraction) else "train"


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temp file in the same folder, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# Fast lossless PNG settings (zlib level 1, run-length strategy): noisy frames compress about as well as with
# the defaults at a third of the time. Masks are flat, so no filter is needed at all.
_PNG_FRAME = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
              cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
_PNG_MASK = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
             cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]


def _encode(image: np.ndarray, ext: str) -> bytes:
    bgr = image[..., ::-1] if image.ndim == 3 else image
    if ext == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    else:
        params = _PNG_FRAME if image.ndim == 3 else _PNG_MASK
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:
        raise RuntimeError(f"cv2 could not encode a {image.dtype} image as {ext}")
    return buf.tobytes()


def _render_one(job: tuple[SynthConfig, int]) -> tuple[int, dict, float]:
    cfg, index = job
    cpu_start = time.process_time()
    scene = render_scene(image_seed(cfg.seed, index), cfg.kind, cfg.size, cfg.bit_depth)
    scene.conditions["real_sky"] = _maybe_composite(cfg, index, scene)
    split, stem = split_of(index, cfg.val_fraction), f"sky_{index:06d}"
    root = cfg.out_dir
    write_atomic(root / "images" / split / f"{stem}.{cfg.image_format}", _encode(scene.image, f".{cfg.image_format}"))
    write_atomic(root / "masks" / split / f"{stem}.png", _encode(scene.mask, ".png"))
    lines = to_label_lines(scene.polygons, cfg.size)
    write_atomic(root / "labels" / split / f"{stem}.txt", ("\n".join(lines) + "\n" if lines else "").encode())
    record = {"index": index, "file": f"images/{split}/{stem}.{cfg.image_format}", **scene.conditions}
    return index, record, time.process_time() - cpu_start


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed frame buffers instead of returning them to the OS after every image.

    Each frame allocates a few dozen multi-megabyte arrays; with glibc's defaults every one is a fresh mmap
    whose pages fault in again (measured: ~7400 page faults and ~24 ms of system time per 640×640 frame,
    a third of the cost). mallopt is glibc's documented tuning call; elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum on 64-bit
        libc.mallopt(_M_TRIM_THRESHOLD, 512 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc (e.g. musl): keep the defaults
        log.debug("mallopt unavailable; frame buffers use the allocator's defaults")


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core; cv2's own threads would fight over the same cores
    _keep_freed_memory()


def _validate(cfg: SynthConfig) -> None:
    if cfg.n < 1:
        raise InputError(f"--n must be at least 1, got {cfg.n}.")
    if cfg.kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}, got '{cfg.kind}'.")
    if cfg.bit_depth not in (8, 16):
        raise InputError(f"--bit-depth must be 8 or 16, got {cfg.bit_depth}.")
    if cfg.image_format not in ("png", "jpg"):
        raise InputError(f"--format must be png or jpg, got '{cfg.image_format}'.")
    if cfg.bit_depth == 16 and cfg.image_format != "png":
        raise InputError("16-bit frames need --format png; JPEG holds only 8 bits per channel.")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}.")
    if min(cfg.size) < 32:
        raise InputError(f"--size must be at least 32×32, got {cfg.size[0]}×{cfg.size[1]}.")
    if cfg.workers < 1:
        raise InputError(f"--workers must be at least 1, got {cfg.workers}.")
    if not 0.0 <= cfg.real_sky_share <= 1.0:
        raise InputError(f"--real-sky-share must be within 0–1, got {cfg.real_sky_share}.")
    if cfg.real_sky is not None:
        if cfg.bit_depth != 8:
            raise InputError("--real-sky composites are 8-bit frames; use --bit-depth 8.")
        load_textures(cfg.real_sky)  # fail before rendering anything when a texture cannot be read
    images = cfg.out_dir / "images"
    if not cfg.overwrite and images.is_dir() and any(images.rglob("*")):
        raise InputError(f"{cfg.out_dir} already holds a dataset (images/ is not empty); "
                         "choose an empty folder or pass --overwrite.")


def _remove_partial(root: Path) -> None:
    """Delete half-written temp files left by an interrupted run."""
    for sub in ("images", "labels", "masks"):
        for tmp in (root / sub).rglob(".*.tmp*"):
            tmp.unlink(missing_ok=True)


def write_data_yaml(root: Path, has_val: bool) -> Path:
    """data.yaml with an absolute `path` (Ultralytics resolves a relative one against its own datasets dir)."""
    data = {
        "path": str(root.resolve()),
        "train": "images/train",
        "val": "images/val" if has_val else "images/train",
        "names": dict(CLASS_NAMES),
    }
    path = root / "data.yaml"
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode())
    return path


def generate_dataset(cfg: SynthConfig) -> Path:
    """Render cfg.n scenes into cfg.out_dir as a YOLO-seg dataset; returns the path of data.yaml."""
    _validate(cfg)
    root = cfg.out_dir
    stale = 0
    for sub in ("images", "labels", "masks"):
        for split in SPLITS:
            folder = root / sub / split
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("sky_[0-9][0-9][0-9][0-9][0-9][0-9].*"):  # --overwrite: only our own files
                old.unlink()
                stale += 1
    if stale:
        log.info("--overwrite: removed %d files of the previous dataset in %s", stale, root)
    jobs = [(cfg, i) for i in range(cfg.n)]
    records: list[dict | None] = [None] * cfg.n
    cpu = [0.0]
    start = time.perf_counter()
    every = max(1, cfg.n // 20)
    log.info("rendering %d %s frames %dx%d %d-bit into %s with %d worker(s)", cfg.n, cfg.kind, *cfg.size,
             cfg.bit_depth, root, cfg.workers)

    def collect(results) -> None:
        for done, (index, record, cpu_s) in enumerate(results, 1):
            records[index] = record
            cpu[0] += cpu_s
            if done % every == 0 or done == cfg.n:
                rate = done / max(time.perf_counter() - start, 1e-9)
                log.info("%d/%d images (%.1f images/s)", done, cfg.n, rate)

    try:
        if cfg.workers == 1:
            threads = cv2.getNumThreads()
            _init_worker()
            try:
                collect(map(_render_one, jobs))
            finally:
                cv2.setNumThreads(threads)
        else:
            # forkserver: workers start from a clean process (no inherited cv2/BLAS thread pools), cheaply.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            with ctx.Pool(cfg.workers, initializer=_init_worker) as pool:
                collect(pool.imap_unordered(_render_one, jobs, chunksize=4))
    except BaseException:
        _remove_partial(root)  # finished frames stay; no data.yaml is written, so the set is visibly incomplete
        raise
    elapsed = time.perf_counter() - start
    lines = [json.dumps(r, sort_keys=True, default=str) for r in records]
    write_atomic(root / "conditions.jsonl", ("\n".join(lines) + "\n").encode())
    has_val = any(split_of(i, cfg.val_fraction) == "val" for i in range(cfg.n))
    path = write_data_yaml(root, has_val)
    rate = cfg.n / max(elapsed, 1e-9)
    cpu_ms = 1000.0 * cpu[0] / cfg.n
    # CPU time per image says what idle cores would give; wall-clock rate depends on what else runs.
    idle_rate = cfg.workers * 1000.0 / max(cpu_ms, 1e-9)
    log.info("wrote %d images in %.1f s (%.1f images/s; %.0f ms CPU per image, i.e. ~%.0f images/s on %d idle "
             "core(s)) → %s", cfg.n, elapsed, rate, cpu_ms, idle_rate, cfg.workers, path)
    return path
