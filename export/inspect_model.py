"""`skyseg inspect FILE`: what an .onnx, .engine or .engine.json holds, as a dict and as readable text.

Engines are described from their header/sidecar without TensorRT; with TensorRT installed the plan is also
deserialized for I/O and per-layer precision/placement. A plan from another TensorRT version or GPU is reported
as a mismatch, never a crash.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from skyseg.export.onnx_info import read_onnx_info
from skyseg.export.trt.lint import lint_onnx
from skyseg.runtime.backends.auto import describe as describe_auto
from skyseg.runtime.backends.engine_file import read_engine_file, read_sidecar, sidecar_path
from skyseg.runtime.errors import InputError, MissingDependencyError, SkysegError

_PRECISION_WORDS = (("FP8", "fp8"), ("Int8", "int8"), ("INT8", "int8"), ("Half", "fp16"), ("FP16", "fp16"),
                    ("BF16", "bf16"), ("Float", "fp32"), ("FP32", "fp32"), ("Int32", "int32"), ("Bool", "bool"))


def _onnx_report(path: Path) -> dict[str, Any]:
    info = read_onnx_info(path)
    lint = lint_onnx(path, expect_static=not any(t.dynamic for t in info.inputs))
    return {
        "kind": "onnx",
        "path": str(path),
        "opset": info.opset,
        "inputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in info.inputs],
        "outputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in info.outputs],
        "precision": info.precision,
        "qdq_nodes": info.qdq_nodes,
        "initializer_types": info.initializer_types,
        "nodes": sum(info.op_counts.values()),
        "top_ops": dict(Counter(info.op_counts).most_common(8)),
        "metadata": info.metadata,
        "trt_lint": [f"{f.severity} {f.code}: {f.message}" for f in lint.findings] or ["no findings"],
        "backend_auto": describe_auto(path),  # what `--backend auto` runs it on here, from its cache (no timing)
    }


def layer_precision(layer: dict[str, Any]) -> str:
    """A layer's output precision from TensorRT's detailed inspector JSON ("Format/Datatype" strings)."""
    outputs = layer.get("Outputs") or []
    text = str(outputs[0].get("Format/Datatype", "")) if outputs and isinstance(outputs[0], dict) else ""
    for word, name in _PRECISION_WORDS:
        if word in text:
            return name
    return "unknown"


def summarize_layers(layers: list[Any]) -> dict[str, Any]:
    """Counts of layer precisions and of DLA-placed layers from inspector JSON layers."""
    dicts = [layer for layer in layers if isinstance(layer, dict)]
    precisions = Counter(layer_precision(layer) for layer in dicts)
    dla = sum(1 for layer in dicts if "DLA" in str(layer.get("LayerType", "")) or "ForeignNode" in str(layer.get("Name", "")))
    return {"layers": len(layers), "precisions": dict(precisions), "dla_layers": dla}


def _engine_report(path: Path) -> dict[str, Any]:
    eng = read_engine_file(path)
    side = eng.sidecar or {}
    report: dict[str, Any] = {
        "kind": "engine",
        "path": str(path),
        "layout": "ultralytics-header" if eng.has_header else "raw-plan",
        "plan_bytes": len(eng.plan),
        "metadata": eng.metadata,
        "sidecar": str(sidecar_path(path)) if eng.sidecar is not None else "missing",
        "built_with": {k: side.get(k) for k in ("tensorrt_version", "gpu_name", "compute_capability", "precision",
                                                "build_flags", "strongly_typed", "dla_core") if k in side},
    }
    try:
        from skyseg.export.trt.engine import engine_layers, gpu_identity, import_tensorrt

        trt = import_tensorrt()
    except MissingDependencyError as err:
        report["tensorrt"] = f"not installed: layer precisions unavailable ({err})"
        return report
    from skyseg.runtime.backends.trt import compatibility_problem  # the runtime's own wording

    gpu, cc = gpu_identity()
    report["this_machine"] = {"tensorrt_version": trt.__version__, "gpu_name": gpu, "compute_capability": cc}
    mismatch = compatibility_problem(eng.sidecar, trt.__version__, gpu, cc)
    if mismatch:
        report["mismatch"] = mismatch
    try:
        details = engine_layers(eng.plan)
    except SkysegError as err:
        report["deserialize"] = f"failed: {mismatch}" if mismatch else str(err)
        return report
    report["io"] = details["io"]
    report["layer_summary"] = summarize_layers(details["layers"])
    return report


def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe an .onnx, .engine/.plan, or .engine.json sidecar."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} does not exist.")
    name = p.name.lower()
    if name.endswith(".onnx"):
        return _onnx_report(p)
    if name.endswith(".json"):
        engine = p.with_name(p.name[: -len(".json")])
        if engine.is_file():
            return _engine_report(engine)
        doc = read_sidecar(engine)
        return {"kind": "sidecar", "path": str(p), "engine": f"{engine} (missing)", **(doc or {})}
    if name.endswith((".engine", ".plan", ".trt")):
        return _engine_report(p)
    raise InputError(f"cannot inspect {p}: expected .onnx, .engine/.plan, or .engine.json.")


def format_report(report: dict[str, Any]) -> str:
    """Readable text: one `key: value` line per field, nested dicts indented, metadata last."""
    lines: list[str] = []

    def emit(key: str, value: Any, indent: int) -> None:
        pad = "  " * indent
        if isinstance(value, dict) and value and key != "metadata":
            lines.append(f"{pad}{key}:")
            for k, v in value.items():
                emit(str(k), v, indent + 1)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{key}:")
            for v in value:
                lines.append(f"{pad}  - " + ", ".join(f"{k}={w}" for k, w in v.items()))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {v}" for v in value)
        else:
            lines.append(f"{pad}{key}: {json.dumps(value, default=str) if isinstance(value, (dict, list)) else value}")

    for key, value in report.items():
        if key != "metadata":
            emit(key, value, 0)
    meta = report.get("metadata") or {}
    lines.append("metadata:" if meta else "metadata: (none)")
    lines += [f"  {k}: {v}" for k, v in meta.items()]
    return "\n".join(lines)
