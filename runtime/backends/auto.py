"""`--backend auto` for ONNX models: every backend × precision present here, timed on this host and checked for
accuracy on real frames; the fastest that keeps the masks is run.

Candidates and the race are in backends/auto_measure.py: ONNX Runtime FP32 (the reference), OpenVINO f32 and bf16,
the INT8 forms `skyseg quantize` wrote beside the model on ONNX Runtime and OpenVINO, TensorRT engines beside it.
A candidate whose sky mask falls below IoU 0.99 (float) / 0.98 (INT8) against the reference on ANY frame is never
chosen, whatever its speed; one that is not at least 3 % faster than the reference loses to it.

The choice and its evidence (per candidate ms, IoU mean / min, why rejected) are cached under
`$XDG_CACHE_HOME/skyseg/backends/` (default ~/.cache; never beside the model) with what they depend on: the CPU's
name, the thread count, the onnxruntime / openvino / tensorrt versions, the model's sha256, the sha256 of every
candidate file and the accuracy frames. Any change measures again (seconds: each candidate segments ~21 frames).
`skyseg inspect MODEL.onnx` prints the cached choice and evidence. An INT8 model given as the model runs on
ONNX Runtime (there is no FP32 reference beside it to check it against). `SKYSEG_AUTO_MEASURE=0` skips measuring:
a valid cached choice is still used, else ONNX Runtime FP32.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from skyseg.runtime.atomic_file import write_bytes_atomic
from skyseg.runtime.file_digest import file_sha256
from skyseg.runtime.host import cpu_model

log = logging.getLogger(__name__)

CACHE_SUFFIX = ".backend.json"
CACHE_VERSION = 2
ENV_MEASURE = "SKYSEG_AUTO_MEASURE"
MARGIN = 0.03  # a candidate must beat the reference (ONNX Runtime FP32) by this much to replace it
NAMES = {"ort": "ONNX Runtime", "openvino": "OpenVINO", "trt": "TensorRT"}
REFERENCE = "onnxruntime fp32"


@dataclass(frozen=True)
class AutoChoice:
    """What `auto` runs an ONNX model on, why, and where that was remembered."""

    backend: str  # "ort", "openvino" or "trt"
    reason: str
    source: str  # "measured", "cache" or "rule" (decided without timing)
    model: Path | None = None  # the file to run: the model itself, an INT8 form or an engine beside it
    options: dict[str, str] = field(default_factory=dict)  # backend options, e.g. {"precision": "bf16"}
    name: str = REFERENCE  # the candidate's name, e.g. "openvino bf16"
    evidence: list[dict[str, Any]] = field(default_factory=list)
    cache: Path | None = None

    @property
    def measured_ms(self) -> dict[str, float]:
        return {e["name"]: e["ms"] for e in self.evidence if e.get("ms") is not None}


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


def conditions(model: Path, threads: int | None, sha256: str, candidates: list[Any] | None = None,
               frames: list[Path] | None = None) -> dict[str, Any]:
    """Everything the measurement depends on; a cached choice is valid only while all of it is unchanged."""
    found = {c.name: (file_sha256(c.model) if c.model != model else sha256) for c in (candidates or [])}
    names = "\n".join(f"{p.name}:{p.stat().st_size}" for p in (frames or []))
    return {"cpu": cpu_model(), "threads": threads if threads is not None else "default",
            "onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
            "openvino": _dist_version("openvino"), "tensorrt": _dist_version("tensorrt", "tensorrt-cu12"),
            "model_sha256": sha256, "model_bytes": model.stat().st_size, "candidates": found,
            "frames": hashlib.sha256(names.encode()).hexdigest()[:16]}


def cache_dir() -> Path:
    """Where choices go: $XDG_CACHE_HOME/skyseg/backends (default ~/.cache/skyseg/backends)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "skyseg" / "backends"


def cache_path(model: Path, root: Path | None = None) -> Path:
    """The cache file for a model, keyed by its absolute path (its content is checked inside)."""
    resolved = model.resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return (root or cache_dir()) / f"{resolved.name}.{key}{CACHE_SUFFIX}"


def read_cached(model: Path, root: Path | None = None) -> dict[str, Any] | None:
    """The cache document for a model, unchecked; None when missing, unreadable or of another version."""
    try:
        doc = json.loads(cache_path(model, root).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(doc, dict) and doc.get("version") == CACHE_VERSION and doc.get("backend") in NAMES
    return doc if ok else None


def stale_keys(doc: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The conditions that changed since the cached measurement (empty: still valid)."""
    then = doc.get("conditions") or {}
    return [key for key in now if then.get(key) != now[key]]


def _write(path: Path, doc: dict[str, Any]) -> Path | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_bytes_atomic(path, (json.dumps(doc, indent=2) + "\n").encode())
    except OSError as err:
        log.warning("backend auto: cannot cache the choice in %s (%s); it is measured again next time", path, err)
        return None


def _from_doc(doc: dict[str, Any], source: str, cache: Path | None) -> AutoChoice:
    return AutoChoice(doc["backend"], doc.get("reason", ""), source, Path(doc["model"]), dict(doc.get("options") or {}),
                      doc.get("name", REFERENCE), list(doc.get("evidence") or []), cache)


def pick(evidence: list[Any]) -> Any:
    """The fastest accepted candidate; the reference (first) unless another is ≥ MARGIN faster."""
    ref = evidence[0]
    fit = [e for e in evidence if not e.rejected and e.ms is not None]
    best = min(fit, key=lambda e: e.ms) if fit else ref
    return best if best is not ref and best.ms < ref.ms * (1.0 - MARGIN) else ref


def _reason(best: Any, ref: Any, evidence: list[Any], frames_text: str, threads: Any) -> str:
    if best is ref:
        head = f"{REFERENCE} {ref.ms:.1f} ms: no accepted candidate ≥ {MARGIN:.0%} faster"
    else:
        head = (f"{best.candidate.name} ({best.candidate.model.name}) {best.ms:.1f} ms vs {ref.ms:.1f} ms {REFERENCE} "
                f"= {ref.ms / best.ms:.2f}x, sky IoU {best.iou_mean:.3f} mean / {best.iou_min:.3f} min")
    rejected = [f"{e.candidate.name} ({e.rejected})" for e in evidence if e.rejected]
    return (f"{head}; per inference at {threads} thread(s), accuracy on {frames_text}"
            + (f"; rejected: {'; '.join(rejected)}" if rejected else ""))


def choose_onnx_backend(model: str | os.PathLike[str], threads: int | None = None,
                        cache_root: Path | None = None) -> AutoChoice:
    """The fastest accurate way to run this model on this host and thread count; cached, see the module doc."""
    from skyseg.runtime.backends import auto_measure

    path = Path(model)
    sha256, quantized = _model_digest(path)
    if quantized:
        return AutoChoice("ort", "an INT8 Q/DQ model: run as given on ONNX Runtime (auto races the FP32 model "
                                 "against the INT8 forms beside it)", "rule", path)
    candidates = auto_measure.find_candidates(path)
    if len(candidates) == 1:
        return AutoChoice("ort", "only ONNX Runtime can run it here (no OpenVINO, no INT8 form or engine beside it)",
                          "rule", path)
    files, _ = auto_measure.frame_files()
    now = conditions(path, threads, sha256, candidates, files)
    cache = cache_path(path, cache_root)
    doc = read_cached(path, cache_root)
    if doc is not None and not stale_keys(doc, now):
        return _from_doc(doc, "cache", cache)
    if os.environ.get(ENV_MEASURE, "1").strip() == "0":
        return AutoChoice("ort", f"{ENV_MEASURE}=0: not measured, and no cached choice matches this host", "rule",
                          path)
    frames, frames_text = auto_measure.load_frames()
    log.info("backend auto: racing %d ways to run %s on %s (once per host; cached in %s)", len(candidates),
             path.name, frames_text, cache.parent)
    evidence = auto_measure.race(candidates, threads, frames)
    best = pick(evidence)
    c = best.candidate
    doc = {"version": CACHE_VERSION, "backend": c.backend, "model": str(c.model.resolve()), "options": c.options,
           "name": c.name, "reason": _reason(best, evidence[0], evidence, frames_text, now["threads"]),
           "frames": frames_text, "evidence": [e.to_json() for e in evidence],
           "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "conditions": now}
    return _from_doc(doc, "measured", _write(cache, doc))


def _evidence_line(e: dict[str, Any]) -> str:
    ms = f"{e['ms']:.1f} ms" if e.get("ms") is not None else "not timed"
    iou = (f", sky IoU {e['iou_mean']:.3f} mean / {e['iou_min']:.3f} min" if e.get("iou_min") is not None else "")
    return f"{ms}{iou}, " + (f"rejected: {e['rejected']}" if e.get("rejected") else "accepted")


def describe(model: str | os.PathLike[str], cache_root: Path | None = None) -> dict[str, Any]:
    """What `auto` would do with this model here, from the cache alone (never measures): for `skyseg inspect`."""
    from skyseg.runtime.backends import auto_measure

    path = Path(model)
    sha256, quantized = _model_digest(path)
    if quantized:
        return {"choice": NAMES["ort"], "reason": "an INT8 Q/DQ model runs as given on ONNX Runtime"}
    candidates = auto_measure.find_candidates(path)
    if len(candidates) == 1:
        return {"choice": NAMES["ort"], "reason": "only ONNX Runtime can run it here"}
    doc = read_cached(path, cache_root)
    if doc is None:
        return {"choice": "not measured yet", "candidates": ", ".join(c.name for c in candidates),
                "reason": "the first `--backend auto` run on this host times these and checks their masks on real "
                          "frames, then caches the fastest accurate one"}
    then = doc.get("conditions") or {}
    now = conditions(path, then.get("threads") if isinstance(then.get("threads"), int) else None, sha256, candidates,
                     auto_measure.frame_files()[0])
    stale = stale_keys(doc, now)
    return {"choice": f"{NAMES[doc['backend']]} ({doc.get('name')}, {Path(doc['model']).name})",
            "reason": doc.get("reason", ""), "measured_at": doc.get("measured_at"), "threads": then.get("threads"),
            "frames": doc.get("frames"), "cache": str(cache_path(path, cache_root)),
            "valid": "yes" if not stale else f"no, re-measured on the next run ({', '.join(stale)} changed)",
            "candidates": {e["name"]: _evidence_line(e) for e in doc.get("evidence") or []}}
