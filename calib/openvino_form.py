"""The OpenVINO form of an INT8 model: quantized only where an INT8 kernel reads the value.

`skyseg quantize` places Q/DQ pairs the way TensorRT wants them: on every activation of a quantized block (conv
outputs, Sigmoid outputs, the SiLU products, adds, slices, concats). OpenVINO's CPU plug-in turns each pair into a
FakeQuantize and runs most of those that do not feed a convolution as separate element-wise passes; on skyseg's
192×320 model (1 thread, AMD Zen 4) the CPU form ran no faster on OpenVINO INT8 than OpenVINO f32. Keeping only
the pairs whose dequantized value feeds a Conv (NNCF's placement: the conv reads INT8, its bias, SiLU and the next
quantization fuse into it) ran 1.5x OpenVINO f32 with the same sky masks on real frames.

    python -m skyseg.calib.openvino_form M.int8.cpu.onnx M.int8.ov.onnx

The input must have uint8 activation codes (the ONNX Runtime CPU form, `skyseg quantize --ort-cpu`): OpenVINO
computes signed INT8 activations wrong (see skyseg.runtime.backends.openvino). `--backend auto` races a
`M.int8.ov.onnx` beside `M.onnx` on OpenVINO.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import onnx

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

INT8_READERS = ("Conv",)  # ops OpenVINO's CPU plug-in runs as INT8 kernels in skyseg's graphs


def to_openvino_form(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` without the activation Q/DQ pairs whose value no Conv reads; (model, pairs removed)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {i.name for i in graph.initializer}
    outputs = {o.name for o in graph.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rename: dict[str, str] = {}
    drop: set[int] = set()
    removed = 0
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in inits:
            continue  # weights stay as they are
        users = consumers.get(node.output[0], [])
        if not users or any(u.op_type != "DequantizeLinear" for u in users):
            continue
        readers = [r for dq in users for r in consumers.get(dq.output[0], [])]
        if any(r.op_type in INT8_READERS for r in readers) or any(dq.output[0] in outputs for dq in users):
            continue
        for dq in users:
            rename[dq.output[0]] = node.input[0]
            drop.add(id(dq))
        drop.add(id(node))
        removed += 1
    if not any(n.op_type == "QuantizeLinear" and n.input[0] not in inits and id(n) not in drop for n in graph.node):
        raise InputError("no quantized activation feeds a convolution: is this an INT8 Q/DQ model?")
    keep = [n for n in graph.node if id(n) not in drop]
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del graph.node[:]
    graph.node.extend(keep)
    return out, removed


def _signed_activations(model: onnx.ModelProto) -> bool:
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits and len(node.input) > 2:
            zero = inits.get(node.input[2])
            if zero is not None and zero.data_type == onnx.TensorProto.INT8:
                return True
    return False


def write_openvino_form(src: str | Path, dst: str | Path) -> Path:
    """Write the OpenVINO form of the CPU-form INT8 model `src` to `dst` (atomic)."""
    from skyseg.runtime.atomic_file import write_bytes_atomic

    model = onnx.load(str(src))
    if _signed_activations(model):
        raise InputError(f"{src} has signed INT8 activations (the TensorRT form), which OpenVINO computes wrong; "
                         "give the ONNX Runtime CPU form (`skyseg quantize --ort-cpu OUT`) instead.")
    form, removed = to_openvino_form(model)
    log.info("OpenVINO form: %d activation Q/DQ pairs no convolution reads removed", removed)
    return write_bytes_atomic(Path(dst), form.SerializeToString())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.calib.openvino_form", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="INT8 model in the ONNX Runtime CPU form (uint8 activations)")
    parser.add_argument("output", type=Path, help="where to write the OpenVINO form (M.int8.ov.onnx)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    if not args.model.is_file():
        log.error("%s does not exist; pass the CPU-form INT8 model `skyseg quantize --ort-cpu` wrote.", args.model)
        return 2
    try:
        log.info("wrote %s", write_openvino_form(args.model, args.output))
    except InputError as err:
        log.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
