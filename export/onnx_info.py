"""What an ONNX file is, without running it: I/O names/shapes/dtypes, metadata, and its precision.

Used by `skyseg build` (to choose TensorRT flags) and `skyseg inspect`.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from skyseg.export.metadata import read_onnx_metadata
from skyseg.runtime.errors import InputError

_FLOAT_TYPES = {onnx.TensorProto.FLOAT: "fp32", onnx.TensorProto.FLOAT16: "fp16", onnx.TensorProto.BFLOAT16: "bf16",
                onnx.TensorProto.DOUBLE: "fp64"}


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]  # ints for static dims, names (or "?") for dynamic ones

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.shape)


@dataclass(frozen=True)
class OnnxInfo:
    """A summary of one ONNX model."""

    path: Path
    opset: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: dict[str, Any]
    op_counts: dict[str, int]
    initializer_types: dict[str, int] = field(default_factory=dict)  # "fp32"/"fp16"/... → count

    @property
    def qdq_nodes(self) -> int:
        return self.op_counts.get("QuantizeLinear", 0) + self.op_counts.get("DequantizeLinear", 0)

    @property
    def fp16_initializers(self) -> int:
        return self.initializer_types.get("fp16", 0)

    @property
    def precision(self) -> str:
        """"int8-qdq", "fp16", "fp32" (Q/DQ wins: an INT8 graph may keep fp16/fp32 elsewhere)."""
        if self.qdq_nodes:
            return "int8-qdq"
        if self.fp16_initializers > self.initializer_types.get("fp32", 0):
            return "fp16"
        return "fp32"


def _tensor_info(vi: onnx.ValueInfoProto) -> TensorInfo:
    tt = vi.type.tensor_type
    dims: list[int | str] = []
    for d in tt.shape.dim:
        dims.append(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?"))
    return TensorInfo(vi.name, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else "?",
                      tuple(dims))


def read_onnx_info(path: str | os.PathLike[str]) -> OnnxInfo:
    """Load an ONNX file's structure (weights stay on disk when external) and summarise it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"ONNX file {p} does not exist; export one with `skyseg export WEIGHTS -o {p.name}`.")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError/RuntimeError variants for non-ONNX bytes
        raise InputError(f"{p} is not a readable ONNX model ({err.__class__.__name__}: {err}).") from None
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    types = Counter(_FLOAT_TYPES.get(i.data_type, onnx.TensorProto.DataType.Name(i.data_type).lower())
                    for i in graph.initializer)
    for node in graph.node:  # fp16 constants count too (the float16 converter emits some as Constant nodes)
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type in _FLOAT_TYPES:
                    types[_FLOAT_TYPES[attr.t.data_type]] += 1
    return OnnxInfo(
        path=p,
        opset=opset,
        inputs=tuple(_tensor_info(v) for v in graph.input if v.name not in inits),
        outputs=tuple(_tensor_info(v) for v in graph.output),
        metadata=read_onnx_metadata(model),
        op_counts=dict(Counter(n.op_type for n in graph.node)),
        initializer_types=dict(types),
    )
