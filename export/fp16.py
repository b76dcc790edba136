"""FP32 ONNX → FP16 ONNX with float32 `images`/outputs: what TensorRT 11 (strongly typed) builds as an FP16 engine.

The conversion itself is ONNX Runtime's `onnxruntime.transformers.float16` converter (keep_io_types inserts Casts at
the graph edges). It appends those Casts at the end of the node list, which onnx.checker rejects ("nodes must be
topologically sorted") and TensorRT's parser may too, so we re-sort the nodes afterwards.
"""
from __future__ import annotations

import onnx

from skyseg.runtime.errors import MissingDependencyError, ModelContractError


def toposort_nodes(graph: onnx.GraphProto) -> None:
    """Reorder `graph.node` in place so every node comes after the producers of its inputs (stable Kahn order)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            missing = sorted({n for node in rest for n in node.input if n not in ready})[:5]
            raise ModelContractError(f"the graph has a cycle or dangling inputs {missing}; it cannot be sorted.")
        pending = rest
    copies = [onnx.NodeProto() for _ in ordered]
    for dst, src in zip(copies, ordered):
        dst.CopyFrom(src)
    del graph.node[:]
    graph.node.extend(copies)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """FP16 weights and activations, float32 I/O kept, nodes topologically sorted."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:
        raise MissingDependencyError(
            "--half needs ONNX Runtime's float16 converter; install it with `pip install onnxruntime`.") from None
    converted = convert_float_to_float16(model, keep_io_types=True)
    toposort_nodes(converted.graph)
    return converted
