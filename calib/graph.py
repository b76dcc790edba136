"""ONNX graph facts that quantization needs: blocks, the Segment head, exclusions, and Q/DQ structure checks.

Ultralytics' exporter names every node after the module that made it (`/model.K/...`), so a block is the set of
nodes sharing a `/model.K/` prefix and the Segment head is the block that produces `output0`.
"""
from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass, field

import onnx

from skyseg.runtime.errors import ModelContractError

_BLOCK_RE = re.compile(r"^/model\.(\d+)/")
# Ops whose inputs carry the INT8 math (TensorRT runs these in INT8 when fed by DequantizeLinear).
WEIGHTED_OPS = ("Conv", "ConvTranspose")
# in a VSS block: an op made by SS2D.forward itself (not by a submodule), SS2D's activations (they feed the scan and
# the gate, both float), or a LayerNorm (and its layout transposes)
_SCAN_OP_RE = re.compile(r"/ss2d/[A-Z][^/]*$|/ss2d/act(_\d+)?/[^/]*$|/norm/[^/]*$")


def block_of(node_name: str) -> int | None:
    """The Ultralytics block index K of a node named `/model.K/...`, or None."""
    match = _BLOCK_RE.match(node_name)
    return int(match.group(1)) if match else None


def find_head_index(model: onnx.ModelProto, output_name: str = "output0") -> int:
    """The block index of the Segment head: the block of the node producing `output0` (never hard-coded)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    if output_name not in producers:
        found = [o.name for o in model.graph.output]
        raise ModelContractError(
            f"the model has no output named '{output_name}' (found {found}); export it with Ultralytics' segment "
            f"layout."
        )
    # Walk back from the output until a node carries a /model.K/ name (the final node may be an unnamed Concat).
    frontier, seen = [producers[output_name]], set()
    while frontier:
        node = frontier.pop(0)
        if node.name in seen:
            continue
        seen.add(node.name)
        k = block_of(node.name)
        if k is not None:
            return k
        frontier += [producers[i] for i in node.input if i in producers]
    blocks = [k for k in (block_of(n.name) for n in model.graph.node) if k is not None]
    if not blocks:
        raise ModelContractError(
            "no node is named '/model.K/...'; quantization needs an Ultralytics-exported graph to find the head."
        )
    return max(blocks)


def head_float_nodes(model: onnx.ModelProto, head: int | None = None) -> list[str]:
    """Nodes of the Segment head that stay float: its decode (DFL, anchors, Sigmoid, Concat) and the last conv of
    each branch, i.e. everything under `/model.<head>/` except the conv modules that feed only other convs.

    Quantizing the head's output Concat puts box pixels (0–640) and sigmoid scores (0–1) under one scale, which
    rounds every score to 0. A branch's last conv is kept float so that no decode op ever sees a dequantized
    tensor; the 3×3 conv modules before it (most of the head's work) stay INT8.
    """
    head = find_head_index(model) if head is None else head
    prefix = f"/model.{head}/"
    nodes = [n for n in model.graph.node if n.name.startswith(prefix)]
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in model.graph.node:
        for i in node.input:
            consumers[i].append(node)
    graph_outputs = {o.name for o in model.graph.output}
    keep_quantized: set[str] = set()
    for conv in (n for n in nodes if n.op_type in WEIGHTED_OPS):
        module, out = [conv.name], conv.output[0]
        sig = next((c for c in consumers[out] if c.op_type == "Sigmoid"), None)
        mul = None if sig is None else next(
            (c for c in consumers[out] if c.op_type == "Mul" and sig.output[0] in c.input), None)
        if sig is not None and mul is not None:  # SiLU, the activation of Ultralytics' Conv module
            module += [sig.name, mul.name]
            out = mul.output[0]
        if out not in graph_outputs and consumers[out] and all(c.op_type in WEIGHTED_OPS for c in consumers[out]):
            keep_quantized.update(module)
    return [n.name for n in nodes if n.name not in keep_quantized]


def scan_float_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of every VSS block that stay float: SS2D's own forward (the selective scan, the x/Δ projections, the
    direction merge and the gate — everything named `.../ss2d/<Op>` directly, and its SiLUs, which only feed
    those) and the LayerNorms, while the convs (`.../ss2d/in_proj/Conv`, `dwconv`, `out_proj`, the FFN and the
    block's own 1×1 convs with their activations) stay INT8.

    The scan multiplies a state by a decay and adds new input hundreds of times per map; Q/DQ between those steps
    rounds the state at every step (TensorRT would run the chain in INT8), and a LayerNorm gains nothing from
    INT8 inputs or an INT8 gain vector. Quantized, the block is also slower on ONNX Runtime's
    CPU: each broadcasting QLinearMul costs more than the float Mul it replaces (measured 12.1 vs 9.1 ms for the
    P5 block of skyseg-n at 320, interleaved runs, one thread).
    """
    vss = {block_of(n.name) for n in model.graph.node if "/ss2d/" in n.name}
    return [n.name for n in model.graph.node if block_of(n.name) in vss and _SCAN_OP_RE.search(n.name)]


def stem_float_nodes(model: onnx.ModelProto) -> list[str]:
    """The stem: the conv module that reads the image (its conv and activation) stays float.

    Quantizing the image itself gives a dark night frame (most pixels in the bottom tenth of the range) only a
    dozen INT8 levels, and the 3-channel conv gains nothing from INT8: on ONNX Runtime's CPU the quantized stem
    was slower (1.9 vs 1.1 ms at 320), and TensorRT pads 3 input channels for its INT8 kernels.
    """
    inputs = {i.name for i in model.graph.input}
    first = next((n for n in model.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs), None)
    if first is None:
        return []
    scope = first.name.rsplit("/", 2)[0] + "/" if first.name.count("/") >= 3 else first.name
    return [n.name for n in model.graph.node if n.name == first.name or n.name.startswith(scope)]


def match_patterns(model: onnx.ModelProto, patterns: tuple[str, ...] | list[str]) -> list[str]:
    """Node names matching any shell-style pattern (e.g. `/model.10/*`); a pattern that matches nothing is an error."""
    names = [n.name for n in model.graph.node]
    out: list[str] = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ModelContractError(
                f"--exclude pattern '{pattern}' matches no node; node names look like '{names[0] if names else '?'}'."
            )
        out += [h for h in hits if h not in out]
    return out


def blocks(model: onnx.ModelProto) -> dict[int, list[str]]:
    """Node names grouped by `/model.K/` block index, in graph order."""
    groups: dict[int, list[str]] = defaultdict(list)
    for node in model.graph.node:
        k = block_of(node.name)
        if k is not None:
            groups[k].append(node.name)
    return dict(sorted(groups.items()))


@dataclass
class QdqSummary:
    """What a Q/DQ graph quantizes: weighted ops fed by DequantizeLinear and any problems found."""

    quantized_weighted: list[str] = field(default_factory=list)
    float_weighted: list[str] = field(default_factory=list)
    quantize_nodes: int = 0
    dequantize_nodes: int = 0
    nonzero_zero_points: list[str] = field(default_factory=list)
    partially_quantized: list[str] = field(default_factory=list)
    quantized_excluded: list[str] = field(default_factory=list)
    constant_dequantize: list[str] = field(default_factory=list)  # DQ reading an initializer: TensorRT rejects it

    @property
    def ok(self) -> bool:
        return not (self.nonzero_zero_points or self.partially_quantized or self.quantized_excluded
                    or self.constant_dequantize)


def summarize_qdq(
    model: onnx.ModelProto, excluded: list[str] | tuple[str, ...] = (), also_float: list[str] | tuple[str, ...] = ()
) -> QdqSummary:
    """Check TensorRT's explicit-quantization rules on a Q/DQ graph.

    A weighted op is quantized when its data and weight inputs both come from DequantizeLinear; one of two is a
    mistake (TensorRT falls back to float for it) unless the op was excluded on purpose. Zero points must be 0
    (symmetric INT8). No DequantizeLinear may read an initializer (TensorRT's parser wants Q→DQ on float
    weights and float biases). An `excluded` non-weighted op (the head's decode) must neither read a dequantized
    tensor nor feed a QuantizeLinear. `also_float` nodes (user/sensitivity exclusions) may sit at INT8↔float
    boundaries.
    """
    producers = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in model.graph.node:
        for i in node.input:
            consumers[i].append(node)
    inits = {i.name: i for i in model.graph.initializer}
    summary = QdqSummary()
    excluded_set = set(excluded)
    boundary_ok = set(also_float)
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear":
            summary.quantize_nodes += 1
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            summary.dequantize_nodes += node.op_type == "DequantizeLinear"
            if node.op_type == "DequantizeLinear" and node.input[0] in inits:
                summary.constant_dequantize.append(node.name)
            if len(node.input) > 2 and node.input[2] in inits:
                zp = onnx.numpy_helper.to_array(inits[node.input[2]])
                if zp.size and (zp != 0).any():
                    summary.nonzero_zero_points.append(node.name)
            continue
        fed = [bool(i in producers and producers[i].op_type == "DequantizeLinear") for i in node.input[:2] if i]
        if node.op_type in WEIGHTED_OPS:
            if all(fed) and fed:
                summary.quantized_weighted.append(node.name)
            elif any(fed) and node.name not in excluded_set and node.name not in boundary_ok:
                summary.partially_quantized.append(node.name)
            else:  # an excluded conv may read a dequantized input: the INT8→float boundary, computed in float
                summary.float_weighted.append(node.name)
        elif node.name in excluded_set and (
            any(i in producers and producers[i].op_type == "DequantizeLinear" for i in node.input if i)
            or any(c.op_type == "QuantizeLinear" for o in node.output for c in consumers[o])
        ):
            summary.quantized_excluded.append(node.name)
    return summary
