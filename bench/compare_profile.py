"""Where the time of one inference goes, per op type, on ONNX Runtime (its profiler) and OpenVINO (perf counts).

    python -m skyseg.bench.compare_profile M.onnx:ort M.onnx:openvino M.onnx:openvino:bf16 \\
        M.int8.cpu.onnx:ort M.int8.ov.onnx:openvino [--threads 1] [--runs 20]

Each MODEL:BACKEND[:bf16] column is the median over `--runs` inferences of the time the engine spent in each op
type (OpenVINO: node type and kernel precision, e.g. `Convolution i8`; ONNX Runtime: the node's op type after its
graph optimizations, e.g. `QLinearConv`), on one random input at the model's size. Why INT8 is or is not faster
than FP32 shows here: the rows that INT8 does not make faster.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _input(hw: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)


def profile_openvino(model: Path, threads: int, runs: int, bf16: bool) -> dict[str, float]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(model), "CPU", {
        "PERF_COUNT": True, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"})
    request = compiled.create_infer_request()
    shape = compiled.inputs[0].get_partial_shape()
    x = _input((shape[2].get_length(), shape[3].get_length()))
    request.infer({0: x})
    per_run: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        request.infer({0: x})
        totals: dict[str, float] = defaultdict(float)
        for info in request.get_profiling_info():
            if info.status.name != "EXECUTED":
                continue
            kind = re.search(r"(I8|U8|bf16|f32|f16)$", info.exec_type or "", re.I)
            key = f"{info.node_type} {kind.group(1).lower() if kind else ''}".strip()
            totals[key] += info.real_time.total_seconds() * 1e3
        for key, ms in totals.items():
            per_run[key].append(ms)
    return {k: statistics.median(v) for k, v in per_run.items()}


def profile_ort(model: Path, threads: int, runs: int) -> dict[str, float]:
    from skyseg.runtime.backends.ort import ort_session

    with tempfile.TemporaryDirectory() as tmp:
        session = ort_session(model, threads, allow_spinning=False, profile_prefix=str(Path(tmp) / "ort"))
        spec = session.get_inputs()[0]
        x = _input((int(spec.shape[2]), int(spec.shape[3])))
        session.run(None, {spec.name: x})
        for _ in range(runs):
            session.run(None, {spec.name: x})
        events = json.loads(Path(session.end_profiling()).read_text())
    per_run: dict[str, list[float]] = defaultdict(list)
    runs_seen = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    bounds = [(e["ts"], e["ts"] + e["dur"]) for e in runs_seen[1:]]  # the first run is the warm-up
    for start, end in bounds:
        totals: dict[str, float] = defaultdict(float)
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and start <= e["ts"] <= end:
                totals[e.get("args", {}).get("op_name", "?")] += e["dur"] / 1e3
        for key, ms in totals.items():
            per_run[key].append(ms)
    return {k: statistics.median(v) for k, v in per_run.items()}


def markdown(columns: dict[str, dict[str, float]], top: int = 14) -> str:
    keys = sorted({k for col in columns.values() for k in col}, key=lambda k: -max(c.get(k, 0.0) for c in
                                                                                     columns.values()))
    head = ["op type (kernel precision)"] + list(columns)
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(columns)]
    for key in keys[:top]:
        lines.append(f"| {key} | " + " | ".join(f"{c[key]:.2f}" if key in c else "—" for c in columns.values()) + " |")
    rest = keys[top:]
    if rest:
        lines.append("| (all other op types) | " + " | ".join(
            f"{sum(c.get(k, 0.0) for k in rest):.2f}" for c in columns.values()) + " |")
    lines.append("| **sum of op times** | " + " | ".join(f"**{sum(c.values()):.2f}**" for c in columns.values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.bench.compare_profile", description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", metavar="MODEL:BACKEND[:bf16]",
                        help="e.g. m.onnx:ort, m.onnx:openvino:bf16, m.int8.ov.onnx:openvino")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    columns: dict[str, dict[str, float]] = {}
    for config in args.configs:
        path, _, rest = config.partition(":")
        backend, _, hint = rest.partition(":")
        model = Path(path)
        if not model.is_file() or backend not in ("ort", "openvino") or hint not in ("", "bf16"):
            log.error("%s: expected MODEL:ort or MODEL:openvino[:bf16] with an existing model file.", config)
            return 2
        label = f"{model.name} · {backend}{' bf16' if hint else ''} (ms)"
        columns[label] = (profile_ort(model, args.threads, args.runs) if backend == "ort" else
                          profile_openvino(model, args.threads, args.runs, bool(hint)))
    sys.stdout.write(markdown(columns))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
