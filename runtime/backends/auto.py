"""`--backend auto` for ONNX models: time ONNX Runtime and OpenVINO once on this host, run the faster one.

The choice is cached next to the model as `MODEL.onnx.backend.json` (under `~/.cache/skyseg/backends/` when the
model's folder is not writable) together with what it depends on: the CPU's name, the thread count, the
onnxruntime and openvino versions and the model's sha256. Any change re-measures (about 1–2 s). Only FP32 models
on a CPU-only ONNX Runtime are raced: an INT8 Q/DQ model stays on ONNX Runtime (OpenVINO refuses those: its INT8
kernels paint other masks), and so does everything when OpenVINO is not installed or ONNX Runtime has a GPU
provider. `SKYSEG_AUTO_MEASURE=0` skips measuring: a valid cached choice is still used, else ONNX Runtime.
Measured here (720p `skyseg run`, 1 thread): OpenVINO holds ~50 MB more than ONNX Runtime and compiles ~1 s
longer, and the measuring run briefly holds both; the choice is by speed alone.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.atomic_file import write_bytes_atomic
from skyseg.runtime.errors import SkysegError
from skyseg.runtime.host import cpu_model

log = logging.getLogger(__name__)

CACHE_SUFFIX = ".backend.json"
CACHE_VERSION = 1
ENV_MEASURE = "SKYSEG_AUTO_MEASURE"
MARGIN = 0.03  # OpenVINO must be this much faster: ONNX Runtime is the reference every check is made against
_MIN_PAIRS, _MAX_PAIRS, _BUDGET_S = 3, 9, 1.0  # timed (ORT, OpenVINO) pairs; stop after the budget once at MIN
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
NAMES = {"ort": "ONNX Runtime", "openvino": "OpenVINO"}


@dataclass(frozen=True)
class AutoChoice:
    """What `auto` runs an ONNX model on, why, and where that was remembered."""

    backend: str  # "ort" or "openvino"
    reason: str
    source: str  # "measured", "cache" or "rule" (decided without timing)
    measured_ms: dict[str, float] = field(default_factory=dict)
    cache: Path | None = None


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _model_digest(path: Path) -> tuple[str, bool]:
    """(sha256, holds Q/DQ nodes): op types are plain strings in the ONNX protobuf, so one read answers both."""
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), b"QuantizeLinear" in data  # also matches DequantizeLinear


def conditions(model: Path, threads: int | None, sha256: str) -> dict[str, Any]:
    """Everything the measured speeds depend on; a cached choice is valid only while all of it is unchanged."""
    return {"cpu": cpu_model(), "threads": threads if threads is not None else "default",
            "onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
            "openvino": _dist_version("openvino"), "model_sha256": sha256, "model_bytes": model.stat().st_size}


def cache_dir() -> Path:
    """Where choices for models in read-only folders go: $XDG_CACHE_HOME/skyseg/backends (default ~/.cache)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "skyseg" / "backends"


def cache_paths(model: Path) -> tuple[Path, Path]:
    """(beside the model, in the user's cache): the second is keyed by the model's absolute path."""
    resolved = model.resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return resolved.with_name(resolved.name + CACHE_SUFFIX), cache_dir() / f"{resolved.name}.{key}{CACHE_SUFFIX}"


def read_cached(model: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The cache documents found for a model (beside it first), unchecked; unreadable ones are skipped."""
    found = []
    for path in cache_paths(model):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("version") == CACHE_VERSION and doc.get("choice") in NAMES:
            found.append((path, doc))
    return found


def stale_keys(doc: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The conditions that changed since the cached measurement (empty: still valid)."""
    then = doc.get("conditions") or {}
    return [key for key in now if then.get(key) != now[key]]


def _write(model: Path, doc: dict[str, Any]) -> Path | None:
    data = (json.dumps(doc, indent=2) + "\n").encode()
    beside, fallback = cache_paths(model)
    try:
        return write_bytes_atomic(beside, data)
    except OSError as err:
        log.debug("cannot write %s (%s); caching under %s", beside, err, fallback.parent)
    try:
        fallback.parent.mkdir(parents=True, exist_ok=True)
        return write_bytes_atomic(fallback, data)
    except OSError as err:
        log.warning("backend auto: cannot cache the choice for %s (%s beside it, %s in %s); it is measured again next "
                    "time", model.name, beside.parent, err, fallback.parent)
        return None


def measure(model: Path, threads: int | None) -> dict[str, float]:
    """Median ms per inference of the model on ONNX Runtime and on OpenVINO (f32), timed alternately."""
    from skyseg.runtime.backends.openvino import OpenVinoBackend
    from skyseg.runtime.backends.ort import OrtBackend

    with OrtBackend(model, providers=["CPUExecutionProvider"], threads=threads) as ort, \
            OpenVinoBackend(model, threads=threads) as ov:
        x = np.random.default_rng(0).random((ort.info.batch, 3, *ort.input_hw), dtype=np.float32)
        backends = {"ort": ort, "openvino": ov}
        for be in backends.values():  # first calls allocate and pick kernels
            be.infer(x)
        times: dict[str, list[float]] = {k: [] for k in backends}
        start = time.perf_counter()
        for i in range(_MAX_PAIRS):
            if i >= _MIN_PAIRS and time.perf_counter() - start > _BUDGET_S:
                break
            for name in (("ort", "openvino") if i % 2 == 0 else ("openvino", "ort")):
                t0 = time.perf_counter()
                backends[name].infer(x)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


def _rule(model: Path, quantized: bool, providers: Any) -> str | None:
    """Why no race is needed (ONNX Runtime then), or None."""
    if quantized:
        return "an INT8 Q/DQ model: OpenVINO's INT8 kernels paint other masks than ONNX Runtime's"
    if find_spec("openvino") is None:
        return "OpenVINO is not installed (pip install 'skyseg[openvino]' to let auto race it)"
    gpu = [p for p in providers if p in _GPU_PROVIDERS]
    if gpu:
        return f"ONNX Runtime has the GPU provider {gpu[0]}"
    return None


def choose_onnx_backend(model: str | os.PathLike[str], threads: int | None = None) -> AutoChoice:
    """The faster of ONNX Runtime and OpenVINO for this model, thread count and host; cached, see module doc."""
    from skyseg.runtime.backends.ort import import_onnxruntime

    path = Path(model)
    sha256, quantized = _model_digest(path)
    rule = _rule(path, quantized, import_onnxruntime().get_available_providers())
    if rule is not None:
        return AutoChoice("ort", rule, "rule")
    now = conditions(path, threads, sha256)
    for cache, doc in read_cached(path):
        if not stale_keys(doc, now):
            return AutoChoice(doc["choice"], doc.get("reason", ""), "cache", dict(doc.get("measured_ms") or {}), cache)
    if os.environ.get(ENV_MEASURE, "1").strip() == "0":
        return AutoChoice("ort", f"{ENV_MEASURE}=0: not measured, and no cached choice matches this host", "rule")
    try:
        ms = measure(path, threads)
    except SkysegError as err:  # OpenVINO cannot read or compile this model: nothing to race
        return AutoChoice("ort", f"OpenVINO cannot run it ({err})", "rule")
    faster = ms["openvino"] < ms["ort"] * (1.0 - MARGIN)
    choice = "openvino" if faster else "ort"
    reason = (f"{ms['openvino']:.1f} ms OpenVINO vs {ms['ort']:.1f} ms ONNX Runtime per inference at "
              f"{now['threads']} thread(s): " + (f"OpenVINO {ms['ort'] / ms['openvino']:.2f}x faster" if faster else
                                                 f"OpenVINO not ≥ {MARGIN:.0%} faster, so the reference ONNX Runtime"))
    doc = {"version": CACHE_VERSION, "choice": choice, "reason": reason, "measured_ms": ms,
           "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "conditions": now}
    return AutoChoice(choice, reason, "measured", ms, _write(path, doc))


def describe(model: str | os.PathLike[str]) -> dict[str, Any]:
    """What `auto` would do with this model here, from the cache alone (never measures): for `skyseg inspect`."""
    from skyseg.runtime.backends.ort import import_onnxruntime

    path = Path(model)
    sha256, quantized = _model_digest(path)
    rule = _rule(path, quantized, import_onnxruntime().get_available_providers())
    if rule is not None:
        return {"choice": NAMES["ort"], "reason": rule}
    found = read_cached(path)
    if not found:
        return {"choice": "not measured yet", "reason": "the first `--backend auto` run on this host times ONNX "
                                                        "Runtime against OpenVINO and caches the faster"}
    cache, doc = found[0]
    then = doc.get("conditions") or {}
    now = conditions(path, then.get("threads") if isinstance(then.get("threads"), int) else None, sha256)
    stale = stale_keys(doc, now)
    return {"choice": NAMES[doc["choice"]], "reason": doc.get("reason", ""), "measured_ms": doc.get("measured_ms"),
            "measured_at": doc.get("measured_at"), "threads": then.get("threads"), "cache": str(cache),
            "valid": "yes" if not stale else f"no, re-measured on the next run ({', '.join(stale)} changed)"}
