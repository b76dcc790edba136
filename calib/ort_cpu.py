"""The ONNX Runtime CPU form of a TensorRT Q/DQ model: INT8 activations re-expressed as UINT8 with zero point 128,
weight Q→DQ pairs folded to INT8 initializers (what TensorRT's parser does).

TensorRT needs signed, symmetric INT8 activations (zero point 0). ONNX Runtime's x86 kernels only fuse
DequantizeLinear→Conv→QuantizeLinear into an integer convolution for UINT8 activations on CPUs without
AVX-VNNI (like this one), so the TensorRT graph runs as float convs plus Q/DQ there — slower than FP32.
Shifting every activation's integer code by +128 is exact: clamp(round(x/s)+128, 0, 255) − 128 =
clamp(round(x/s), −128, 127), so the dequantized values, and every output, are unchanged. Weights stay INT8;
biases stay float (ONNX Runtime's fused kernels quantize them internally).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def to_ort_cpu_form(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose activation Q/DQ pairs use uint8 with zero point 128 (weights untouched)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _fold_weight_quantize(out)
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


def _fold_weight_quantize(model: onnx.ModelProto) -> None:
    """Replace QuantizeLinear on float weight initializers by their INT8 result (what TensorRT's parser does)."""
    inits = {i.name: i for i in model.graph.initializer}
    keep_nodes = []
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in inits:
            keep_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zp = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 else np.zeros((), np.int8)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * w.ndim
            shape[axis] = scale.size
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        info = np.iinfo(zp.dtype)
        q = np.clip(np.rint(w / scale) + zp.astype(np.int32), info.min, info.max).astype(zp.dtype)
        model.graph.initializer.append(numpy_helper.from_array(q, node.output[0]))
    del model.graph.node[:]
    model.graph.node.extend(keep_nodes)
