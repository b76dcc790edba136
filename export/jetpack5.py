"""`skyseg export --target jetpack5`: an ONNX that JetPack 5.1's TensorRT 8.5 parser takes.

TensorRT's ONNX parser supports LayerNormalization only from 8.6 (onnx-tensorrt release/8.5-GA operators.md: N),
and skyseg's SS2D blocks export two of them at opset 17. Here each LayerNormalization node becomes the primitive
ops it is defined by, which every TensorRT 8.x parses:

    mean = ReduceMean(X, axes)         d = Sub(X, mean)          var = ReduceMean(Pow(d, 2), axes)
    Y = Add(Mul(Div(d, Sqrt(Add(var, epsilon))), Scale), B)

over the axes [axis, rank). Opset 17 added only new operators (LayerNormalization among them), so once none of
those is left the model is relabelled opset 16, which `relabel_opset` proves node by node from ONNX's schemas.
The result is verified against the PyTorch model like every export (`export_jetpack5`).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, List

import numpy as np
import onnx
from onnx import helper, numpy_helper

from skyseg.runtime.errors import InputError, ModelContractError

log = logging.getLogger(__name__)

JETPACK5_OPSET = 16
JETPACK5_LINT = ("8.5", "8.6", "10.3", "10", "11")
_DEFAULT_DOMAINS = ("", "ai.onnx")


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _tensor_types(model: onnx.ModelProto) -> dict:
    """name -> (elem_type, rank or None) for every tensor shape inference can type."""
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {i.name: (i.data_type, len(i.dims)) for i in graph.initializer}
    for vi in [*graph.value_info, *graph.input, *graph.output]:
        tensor = vi.type.tensor_type
        types[vi.name] = (tensor.elem_type, len(tensor.shape.dim) if tensor.HasField("shape") else None)
    return types


def _primitive_nodes(node: onnx.NodeProto, axes: List[int], dtype: np.dtype, tag: str) -> tuple:
    """(nodes, initializers) that compute the LayerNormalization `node`, named under `tag`."""
    x, scale = node.input[0], node.input[1]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    outputs = list(node.output) + ["", ""]
    y, mean_out, inv_std_out = outputs[0], outputs[1], outputs[2]
    eps = float(_attr(node, "epsilon", 1e-5))
    inits = [numpy_helper.from_array(np.array(eps, dtype), f"{tag}/epsilon"),
             numpy_helper.from_array(np.array(2.0, dtype), f"{tag}/two")]
    mean = mean_out or f"{tag}/mean"
    nodes = [
        helper.make_node("ReduceMean", [x], [mean], name=f"{tag}/ReduceMean", axes=axes, keepdims=1),
        helper.make_node("Sub", [x, mean], [f"{tag}/centred"], name=f"{tag}/Sub"),
        helper.make_node("Pow", [f"{tag}/centred", f"{tag}/two"], [f"{tag}/squared"], name=f"{tag}/Pow"),
        helper.make_node("ReduceMean", [f"{tag}/squared"], [f"{tag}/var"], name=f"{tag}/ReduceMean_var", axes=axes,
                         keepdims=1),
        helper.make_node("Add", [f"{tag}/var", f"{tag}/epsilon"], [f"{tag}/var_eps"], name=f"{tag}/Add_eps"),
        helper.make_node("Sqrt", [f"{tag}/var_eps"], [f"{tag}/std"], name=f"{tag}/Sqrt"),
        helper.make_node("Div", [f"{tag}/centred", f"{tag}/std"], [f"{tag}/normed"], name=f"{tag}/Div"),
        helper.make_node("Mul", [f"{tag}/normed", scale], [y if bias is None else f"{tag}/scaled"], name=f"{tag}/Mul"),
    ]
    if bias is not None:
        nodes.append(helper.make_node("Add", [f"{tag}/scaled", bias], [y], name=f"{tag}/Add_bias"))
    if inv_std_out:
        inits.append(numpy_helper.from_array(np.array(1.0, dtype), f"{tag}/one"))
        nodes.append(helper.make_node("Div", [f"{tag}/one", f"{tag}/std"], [inv_std_out], name=f"{tag}/Div_inv_std"))
    return nodes, inits


def decompose_layer_norm(model: onnx.ModelProto) -> int:
    """Replace every LayerNormalization node of the main graph in place; returns how many were replaced."""
    graph = model.graph
    count = 0
    new_nodes: list = []
    types = _tensor_types(model)
    for index, node in enumerate(graph.node):
        if node.op_type != "LayerNormalization" or node.domain not in _DEFAULT_DOMAINS:
            new_nodes.append(node)
            continue
        axis = int(_attr(node, "axis", -1))
        elem, rank = types.get(node.input[0], (onnx.TensorProto.FLOAT, None))
        if axis < 0:
            axes = list(range(axis, 0))
        else:
            if rank is None:
                raise ModelContractError(f"LayerNormalization {node.name or index} has axis {axis} on an input of "
                                         "unknown rank; cannot decompose it")
            axes = list(range(axis - rank, 0))
        if elem != onnx.TensorProto.FLOAT:
            raise InputError(f"LayerNormalization {node.name or index} works on "
                             f"{onnx.TensorProto.DataType.Name(elem)}; the jetpack5 target decomposes FP32 graphs only "
                             "(TensorRT 8.5 builds FP16 from the FP32 ONNX with `skyseg build --precision fp16`)")
        nodes, inits = _primitive_nodes(node, axes, np.dtype(np.float32), node.name or f"LayerNormalization_{index}")
        new_nodes += nodes
        graph.initializer.extend(inits)
        count += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    return count


def relabel_opset(model: onnx.ModelProto, target: int = JETPACK5_OPSET) -> None:
    """Lower the default-domain opset to `target` when every node means the same there (same schema version)."""
    current = next((imp for imp in model.opset_import if imp.domain in _DEFAULT_DOMAINS), None)
    if current is None or current.version <= target:
        return
    for node in model.graph.node:
        if node.domain not in _DEFAULT_DOMAINS:
            continue
        try:
            now = onnx.defs.get_schema(node.op_type, current.version, "").since_version
            then = onnx.defs.get_schema(node.op_type, target, "").since_version
        except onnx.defs.SchemaError:
            now, then = 1, 0
        if now != then:
            raise ModelContractError(f"{node.op_type} ({node.name}) changed or appeared after opset {target} (schema "
                                     f"version {now}); the model cannot be labelled opset {target}")
    current.version = target


def to_jetpack5(model: onnx.ModelProto) -> onnx.ModelProto:
    """LayerNormalization decomposed and opset 16, in place; the model is checked by onnx.checker."""
    replaced = decompose_layer_norm(model)
    relabel_opset(model, JETPACK5_OPSET)
    onnx.checker.check_model(model, full_check=True)
    log.info("jetpack5: %d LayerNormalization node(s) decomposed, opset %d", replaced, JETPACK5_OPSET)
    return model


def _retag(model: onnx.ModelProto) -> None:
    from skyseg.export.metadata import read_onnx_metadata, set_onnx_metadata

    metadata = read_onnx_metadata(model)
    if isinstance(metadata.get("args"), dict):
        metadata["args"]["opset"] = JETPACK5_OPSET
    metadata["skyseg_target"] = "jetpack5"
    set_onnx_metadata(model, metadata)


def export_jetpack5(cfg: Any) -> Any:
    """`export_onnx` for JetPack 5: export (unverified, to a temp file), convert with `to_jetpack5`, verify the
    converted graph against the PyTorch model and lint it for TensorRT 8.5 too; written to `cfg.output` only if
    everything passed. Returns the ExportResult of the converted file."""
    from skyseg.export.deploy_model import load_deploy_model, set_head_dynamic
    from skyseg.export.onnx_export import (
        ExportResult, ExportVerificationError, _io_shapes, export_onnx, resolve_dynamic, static_spatial_blocks)
    from skyseg.export.verify import FP32_TOLERANCES, verify_onnx
    from skyseg.export.verify_frames import folder_frames, synthetic_frames
    from skyseg.runtime.atomic_file import temp_beside

    if cfg.half:
        raise InputError("--target jetpack5 takes no --half: TensorRT 8.5 builds FP16 from the FP32 ONNX "
                         "(`skyseg build --precision fp16`).")
    start = time.perf_counter()
    out = Path(cfg.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, raw = temp_beside(out.with_name(out.stem + ".opset17"), suffix=".tmp.onnx")
    os.close(fd)
    fd, tmp = temp_beside(out.with_name(out.stem), suffix=".tmp.onnx")
    os.close(fd)
    try:
        export_onnx(dataclasses.replace(cfg, output=raw, verify=False))
        model = to_jetpack5(onnx.load(str(raw)))
        _retag(model)
        onnx.save(model, str(tmp))
        report = None
        if cfg.verify:
            deploy = load_deploy_model(cfg.weights)
            mode = resolve_dynamic(cfg.dynamic, static_spatial_blocks(deploy.module))
            set_head_dynamic(deploy.module, mode == "full")
            frames = synthetic_frames(cfg.synth_frames)
            if cfg.verify_images is not None:
                frames += folder_frames(cfg.verify_images)
            targets = tuple(dict.fromkeys(("8.5", *cfg.lint_targets)))
            report = verify_onnx(tmp, deploy.module, frames, cfg.imgsz, batch=cfg.batch, dynamic=mode,
                                 tolerances=FP32_TOLERANCES, lint_targets=targets)
            if not report.ok:
                raise ExportVerificationError(
                    f"jetpack5 export verification failed ({len(report.failures)} problem(s), first: "
                    f"{report.failures[0]}); nothing was written to {out}.", report)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        raw.unlink(missing_ok=True)
    from skyseg.export.metadata import read_onnx_metadata

    return ExportResult(out, time.perf_counter() - start, out.stat().st_size, read_onnx_metadata(model), report,
                        _io_shapes(model))
