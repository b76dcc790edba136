"""TensorRT compatibility lint for an ONNX graph, on the CPU, before anyone reaches a Jetson.

Checks every node (subgraphs included) against the ONNX-parser support tables in `skyseg.export.trt.ops` for TensorRT
8.5 (JetPack 5.1), 8.6, 10.3 (JetPack 6), 10.x and 11.x: op types, custom domains, opset range, control flow, key
attributes (Resize modes, pooling dilations, Q/DQ zero points, constant-only inputs), INT64 and DOUBLE tensors, and
dynamic dimensions when a static model was asked for. Returns findings with a severity; export verification fails on any "error".
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from skyseg.export.trt.ops import (
    CONSTANT_INPUTS_86,
    CONTROL_FLOW,
    DISCOURAGED,
    PARSER_8,
    RESIZE_COORD_MODES,
    RESIZE_MODES,
    RESIZE_NEAREST_MODES,
    TARGETS,
)

SEVERITIES = ("error", "warning", "info")
_DEFAULT_DOMAINS = ("", "ai.onnx")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class LintFinding:
    """One problem: how bad, a stable code, one sentence, the node (if any) and the TensorRT targets affected."""

    severity: str
    code: str
    message: str
    node: str = ""
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class LintReport:
    """All findings for one graph and the targets it was checked against."""

    targets: tuple[str, ...]
    findings: tuple[LintFinding, ...] = field(default_factory=tuple)

    def by_severity(self, severity: str) -> list[LintFinding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def errors(self) -> list[LintFinding]:
        return self.by_severity("error")

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def format_table(self) -> str:
        """A plain-text table, one finding per line, errors first."""
        if not self.findings:
            labels = ", ".join(TARGETS[t].label for t in self.targets)
            return f"TensorRT lint: no findings ({labels})"
        order = {s: i for i, s in enumerate(SEVERITIES)}
        rows = sorted(self.findings, key=lambda f: (order.get(f.severity, 9), f.code, f.node))
        lines = [f"{'severity':<8}  {'code':<20}  {'TensorRT':<12}  message"]
        for f in rows:
            where = f" [{f.node}]" if f.node else ""
            lines.append(f"{f.severity:<8}  {f.code:<20}  {','.join(f.targets) or 'all':<12}  {f.message}{where}")
        return "\n".join(lines)


def _walk(graph: onnx.GraphProto, prefix: str = "") -> Iterator[tuple[str, onnx.NodeProto, onnx.GraphProto]]:
    """Every node with a readable path, recursing into Loop/Scan/If bodies."""
    for index, node in enumerate(graph.node):
        path = f"{prefix}{node.name or f'{node.op_type}_{index}'}"
        yield path, node, graph
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g, f"{path}/{attr.name}/")
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for j, sub in enumerate(attr.graphs):
                    yield from _walk(sub, f"{path}/{attr.name}[{j}]/")


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _dims(vi: onnx.ValueInfoProto) -> list[int | str | None]:
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return [None]  # unknown rank
    out: list[int | str | None] = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in _DEFAULT_DOMAINS:
            return int(imp.version)
    return 1


class _Linter:
    def __init__(self, model: onnx.ModelProto, targets: Sequence[str], expect_static: bool) -> None:
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown TensorRT target(s) {unknown}; choose from {sorted(TARGETS)}")
        self.model = model
        self.targets = tuple(targets)
        self.expect_static = expect_static
        self.findings: list[LintFinding] = []
        graph = model.graph
        self.initializers = {init.name: init for init in graph.initializer}
        self.constants = set(self.initializers)
        for _, node, _ in _walk(graph):
            if node.op_type == "Constant":
                self.constants.update(node.output)
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for _, node, _ in _walk(graph):
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def add(self, severity: str, code: str, message: str, node: str = "", targets: Sequence[str] = ()) -> None:
        self.findings.append(LintFinding(severity, code, message, node, tuple(targets)))

    def run(self) -> LintReport:
        self.check_opset()
        self.check_io()
        self.check_initializers()
        for path, node, _ in _walk(self.model.graph):
            self.check_node(path, node)
        return LintReport(self.targets, tuple(self.findings))

    def check_opset(self) -> None:
        opset = _opset(self.model)
        for t in self.targets:
            spec = TARGETS[t]
            if not spec.min_opset <= opset <= spec.max_opset:
                self.add("error", "opset", f"opset {opset} is outside {spec.label}'s parser range "
                         f"{spec.min_opset}-{spec.max_opset}; re-export with --opset {min(17, spec.max_opset)}",
                         targets=[t])

    def check_io(self) -> None:
        graph = self.model.graph
        init_names = set(self.initializers)
        for kind, values in (("input", [v for v in graph.input if v.name not in init_names]), ("output", graph.output)):
            for vi in values:
                dims = _dims(vi)
                dynamic = [i for i, d in enumerate(dims) if not isinstance(d, int)]
                if dynamic and self.expect_static:
                    self.add("error", "dynamic-dim", f"graph {kind} '{vi.name}' has dynamic dims at {dynamic} "
                             f"(shape {dims}) but a static model was asked for", vi.name)
                elif dynamic:
                    self.add("info", "dynamic-dim", f"graph {kind} '{vi.name}' is dynamic (shape {dims}); the engine "
                             "needs an optimization profile (--min/--opt/--max-batch)", vi.name)
                elem = vi.type.tensor_type.elem_type
                if elem == onnx.TensorProto.INT64:
                    bad = [t for t in self.targets if not TARGETS[t].int64_io]
                    if bad:
                        self.add("error", "int64-io", f"graph {kind} '{vi.name}' is INT64, which TensorRT < 10 cannot "
                                 "use as a network I/O type", vi.name, bad)
                elif elem == onnx.TensorProto.DOUBLE:
                    self.add("warning", "double", f"graph {kind} '{vi.name}' is DOUBLE; TensorRT casts it to FLOAT",
                             vi.name)

    def check_initializers(self) -> None:
        old = [t for t in self.targets if not TARGETS[t].int64_io]
        for name, init in self.initializers.items():
            if init.data_type == onnx.TensorProto.DOUBLE:
                self.add("warning", "double", f"initializer '{name}' is DOUBLE; TensorRT casts it to FLOAT", name)
            if init.data_type != onnx.TensorProto.INT64 or not old:
                continue
            values = numpy_helper.to_array(init)
            if values.size == 0 or (values.min() >= _INT32_MIN and values.max() <= _INT32_MAX):
                continue
            users = {n.op_type for n in self.consumers.get(name, [])}
            if users <= {"Slice"}:
                continue  # INT64_MAX as "to the end" of a Slice clamps harmlessly
            self.add("warning", "int64-range", f"INT64 initializer '{name}' holds values outside INT32 (used by "
                     f"{sorted(users)}); TensorRT 8.x clamps them to INT32", name, old)

    def check_node(self, path: str, node: onnx.NodeProto) -> None:
        op = node.op_type
        if node.domain not in _DEFAULT_DOMAINS:
            self.add("error", "custom-domain", f"node {op} is in custom domain '{node.domain}'; the TensorRT parser "
                     "needs a plugin for it, which skyseg does not ship", path)
            return
        missing = [t for t in self.targets if op not in TARGETS[t].ops]
        if missing:
            hint = ("; `skyseg export --target jetpack5` decomposes it into primitive ops"
                    if op == "LayerNormalization" else "")
            self.add("error", "unsupported-op", f"{op} is not supported by the ONNX parser of "
                     f"{', '.join(TARGETS[t].label for t in missing)}{hint}", path, missing)
        if op in CONTROL_FLOW:
            severity = "warning" if op == "If" else "error"
            self.add(severity, "control-flow", f"{op} in the deploy graph (TensorRT needs static trip counts, it "
                     "blocks layer fusion, DLA and INT8); rewrite it with static tensor ops", path)
        elif op in DISCOURAGED:
            self.add("warning", "discouraged-op", f"{op} parses only with restrictions and is slow or data-dependent "
                     "on TensorRT", path)
        check = getattr(self, f"_check_{op}", None)
        if check is not None:
            check(path, node)
        old = [t for t in self.targets if t in PARSER_8]
        for index in CONSTANT_INPUTS_86.get(op, ()):
            if old and index < len(node.input) and node.input[index] and node.input[index] not in self.constants:
                self.add("error", "non-constant-input", f"{op} input {index} ('{node.input[index]}') must be an "
                         "initializer for the TensorRT 8.x parser", path, old)

    def _check_Resize(self, path: str, node: onnx.NodeProto) -> None:  # dispatch on op name
        mode = _attr(node, "mode", "nearest")
        coord = _attr(node, "coordinate_transformation_mode", "half_pixel")
        nearest = _attr(node, "nearest_mode", "round_prefer_floor")
        problems = []
        if mode not in RESIZE_MODES:
            problems.append(f"mode '{mode}' (supported: {sorted(RESIZE_MODES)})")
        if coord not in RESIZE_COORD_MODES:
            problems.append(f"coordinate_transformation_mode '{coord}'")
        if mode == "nearest" and nearest not in RESIZE_NEAREST_MODES:
            problems.append(f"nearest_mode '{nearest}'")
        if _attr(node, "antialias", 0):
            problems.append("antialias=1")
        if _attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
            problems.append(f"keep_aspect_ratio_policy '{_attr(node, 'keep_aspect_ratio_policy')}'")
        if problems:
            self.add("error", "resize-attr", f"Resize uses {'; '.join(problems)}, which TensorRT cannot parse", path)

    def _check_pool(self, path: str, node: onnx.NodeProto) -> None:
        kernel = _attr(node, "kernel_shape", [])
        if kernel and len(kernel) not in (2, 3):
            self.add("error", "pool-rank", f"{node.op_type} is {len(kernel)}-D; TensorRT pools 2-D or 3-D only", path)
        dilations = _attr(node, "dilations", [])
        if dilations and any(d != 1 for d in dilations):
            self.add("error", "pool-dilation", f"{node.op_type} dilations {list(dilations)} must be all ones", path)
        if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
            self.add("error", "pool-indices", "MaxPool's Indices output is not supported by TensorRT", path)

    _check_MaxPool = _check_pool
    _check_AveragePool = _check_pool

    def _check_Conv(self, path: str, node: onnx.NodeProto) -> None:
        kernel = _attr(node, "kernel_shape", [])
        if not kernel and len(node.input) > 1 and node.input[1] in self.initializers:
            kernel = list(self.initializers[node.input[1]].dims)[2:]
        if kernel and len(kernel) not in (2, 3):
            self.add("error", "conv-rank", f"{node.op_type} is {len(kernel)}-D; TensorRT convolves 2-D or 3-D only", path)

    _check_ConvTranspose = _check_Conv

    def _zero_point(self, path: str, node: onnx.NodeProto) -> None:
        if len(node.input) < 3 or not node.input[2]:
            return
        init = self.initializers.get(node.input[2])
        if init is None:
            if node.input[2] not in self.constants:
                self.add("error", "qdq-zero-point", f"{node.op_type} zero point '{node.input[2]}' is not a constant; "
                         "TensorRT needs a zero point of 0", path)
            return
        if init.data_type == onnx.TensorProto.UINT8:
            self.add("error", "qdq-uint8", f"{node.op_type} uses a UINT8 zero point '{node.input[2]}'; TensorRT's Q/DQ "
                     "is signed INT8 only: quantize with symmetric INT8 activations", path)
        if np.any(numpy_helper.to_array(init) != 0):
            self.add("error", "qdq-zero-point", f"{node.op_type} zero point '{node.input[2]}' is non-zero; TensorRT "
                     "supports symmetric quantization only (zero point 0)", path)

    _check_QuantizeLinear = _zero_point
    _check_DequantizeLinear = _zero_point


def lint_onnx(
    model: onnx.ModelProto | str | os.PathLike[str],
    targets: Sequence[str] = tuple(TARGETS),
    expect_static: bool = True,
) -> LintReport:
    """Lint an ONNX model (or file) for the TensorRT ONNX parser of `targets` (keys of `TARGETS`: "8.5", "8.6",
    "10.3", "10", "11"; all of them by default)."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(Path(model)))
    return _Linter(model, targets, expect_static).run()
