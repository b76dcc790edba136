"""The ONNX Runtime CPU form of a TensorRT Q/DQ model: INT8 activations re-expressed as UINT8 with zero point 128,
weight Q→DQ pairs folded to INT8 initializers (what TensorRT's parser does).

TensorRT needs signed, symmetric INT8 activations (zero point 0). ONNX Runtime's x86 kernels only fuse
DequantizeLinear→Conv→QuantizeLinear into an integer convolution for UINT8 activations on CPUs without
AVX-VNNI (like this one), so the TensorRT graph runs as float convs plus Q/DQ there — slower than FP32.
Shifting every activation's integer code by +128 is exact: clamp(round(x/s)+128, 0, 255) − 128 =
clamp(round(x/s), −128, 127), so the dequantized values, and every output, are unchanged. Biases stay float
(ONNX Runtime's fused kernels quantize them internally).

Weights: without VNNI, ONNX Runtime's AVX2 UINT8×INT8 kernels add pairs of products in saturating 16-bit
arithmetic (2·255·127 > 32767), and with activation codes centred on 128 they saturate often — scores drift
upward. `reduce_range=True` (the default, ONNX Runtime's own advice for such CPUs) re-quantizes weights to 7 bits
(codes −64..63, scale ×2), which cannot saturate; `reduce_range=False` keeps TensorRT's exact INT8 weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def to_ort_cpu_form(model: onnx.ModelProto, reduce_range: bool = True) -> onnx.ModelProto:
    """A copy of `model` with uint8 activations (zero point 128) and folded 8- or 7-bit (reduce_range) weights."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _fold_weight_quantize(out, reduce_range)
    inits = {i.name: i for i in out.graph.initializer}
    activation_codes: set[str] = set()
    for node in out.graph.node:  # Q nodes on activations (their input is computed, not a weight initializer)
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            activation_codes.add(node.output[0])
    replaced: dict[str, str] = {}
    shifted = 0
    for node in out.graph.node:
        is_act_q = node.op_type == "QuantizeLinear" and node.output[0] in activation_codes
        is_act_dq = node.op_type == "DequantizeLinear" and node.input[0] in activation_codes
        if not (is_act_q or is_act_dq) or len(node.input) < 3:
            continue
        zp_name = node.input[2]
        zp = numpy_helper.to_array(inits[zp_name])
        if zp.dtype != np.int8:
            continue
        if zp.any():
            raise ValueError(f"{node.name}: expected symmetric INT8 (zero point 0), found {zp.ravel()[:4]}")
        if zp_name not in replaced:
            new_name = f"{zp_name}_u8"
            out.graph.initializer.append(numpy_helper.from_array(np.full(zp.shape, 128, np.uint8), new_name))
            replaced[zp_name] = new_name
        node.input[2] = replaced[zp_name]
        shifted += 1
    if shifted == 0:
        raise ValueError("no INT8 activation Q/DQ found: is this a Q/DQ model from `skyseg quantize`?")
    used = {i for n in out.graph.node for i in n.input}
    keep = [i for i in out.graph.initializer if i.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(keep)
    return out


def _fold_weight_quantize(model: onnx.ModelProto, reduce_range: bool = False) -> None:
    """Replace QuantizeLinear on float weight initializers by its integer result (what TensorRT's parser does);
    with `reduce_range`, use half the integer range and twice the scale (the consuming DQ gets the new scale)."""
    inits = {i.name: i for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    keep_nodes = []
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in inits:
            keep_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zp = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 else np.zeros((), np.int8)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        info = np.iinfo(zp.dtype)
        lo, hi = info.min, info.max
        if reduce_range:
            scale = scale * 2.0
            lo, hi = lo // 2, hi // 2
            new_scale = f"{node.input[1]}_x2"
            model.graph.initializer.append(numpy_helper.from_array(scale, new_scale))
            for dq in consumers.get(node.output[0], []):
                dq.input[1] = new_scale
        s_b, zp_b = scale, zp
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * w.ndim
            shape[axis] = scale.size
            s_b, zp_b = scale.reshape(shape), zp.reshape(shape)
        q = np.clip(np.rint(w / s_b) + zp_b.astype(np.int32), lo, hi).astype(zp.dtype)
        model.graph.initializer.append(numpy_helper.from_array(q, node.output[0]))
    del model.graph.node[:]
    model.graph.node.extend(keep_nodes)


def write_ort_cpu_form(qdq_path: str | Path, out_path: str | Path, reduce_range: bool = True) -> Path:
    """Write the ONNX Runtime CPU form of a Q/DQ model file (see the module notes); atomic, like every output."""
    from skyseg.runtime.atomic_file import write_bytes_atomic

    return write_bytes_atomic(out_path, to_ort_cpu_form(onnx.load(str(qdq_path)), reduce_range).SerializeToString())
