"""A Triton Inference Server model repository for an exported skyseg ONNX model.

    DIR/skyseg/config.pbtxt        onnxruntime backend: max_batch_size, dynamic batching, instance groups,
    DIR/skyseg/1/model.onnx        input/output names, types and dims read from the ONNX graph
    DIR/skyseg_trt/config.pbtxt    only where a TensorRT engine exists: the tensorrt_plan variant, GPU instances
    DIR/skyseg_trt/1/model.plan    (the bare plan: skyseg's JSON header is stripped, Triton reads plans only)

A graph with a dynamic first (batch) dimension gets `max_batch_size` and dynamic batching, so Triton merges the
frames of several cameras into one batch; a static batch-1 graph gets `max_batch_size: 0` (dims with the batch)
and no batcher, because Triton cannot batch a fixed-shape input; export with `--dynamic batch` for batching.
Only the network runs on the server: letterbox, NMS and mask decoding stay in skyseg (`--model triton://...`).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from skyseg.runtime.atomic_file import AtomicFile, write_bytes_atomic
from skyseg.runtime.errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)

ONNX_TO_TRITON = {  # onnxruntime type strings → Triton data types
    "tensor(float)": "TYPE_FP32", "tensor(float16)": "TYPE_FP16", "tensor(double)": "TYPE_FP64",
    "tensor(uint8)": "TYPE_UINT8", "tensor(int8)": "TYPE_INT8", "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64", "tensor(bool)": "TYPE_BOOL",
}


@dataclass(frozen=True)
class GraphTensor:
    name: str
    data_type: str  # TYPE_FP32, ...
    shape: tuple[int, ...]  # -1 for a symbolic dimension


def graph_tensors(onnx_path: Path) -> tuple[list[GraphTensor], list[GraphTensor], dict[str, str]]:
    """The graph's inputs, outputs (as Triton sees them) and metadata_props, read through ONNX Runtime."""
    from skyseg.runtime.backends.ort import ort_session
    from skyseg.runtime.errors import ModelContractError

    try:
        sess = ort_session(onnx_path)
    except ModelContractError as err:
        raise InputError(f"{onnx_path} is not a loadable ONNX model ({err})") from None

    def convert(arg) -> GraphTensor:
        if arg.type not in ONNX_TO_TRITON:
            raise InputError(f"{onnx_path}: tensor {arg.name} has type {arg.type}, which Triton has no name for")
        return GraphTensor(arg.name, ONNX_TO_TRITON[arg.type],
                           tuple(d if isinstance(d, int) and d > 0 else -1 for d in arg.shape))

    meta = dict(sess.get_modelmeta().custom_metadata_map)
    return [convert(a) for a in sess.get_inputs()], [convert(a) for a in sess.get_outputs()], meta


def build_config(name: str, platform: str, inputs: list[GraphTensor], outputs: list[GraphTensor],
                 max_batch_size: int, instances: int, kind: str, metadata: dict[str, str] | None = None,
                 queue_delay_us: int = 2000):
    """The ModelConfig message (tritonclient's protobuf) for one model of the repository."""
    try:
        from tritonclient.grpc import model_config_pb2 as mc
    except ImportError:
        raise MissingDependencyError("writing a Triton model repository needs tritonclient; "
                                     "`pip install 'skyseg[scale]'`") from None
    batched = all(t.shape and t.shape[0] == -1 for t in inputs)  # outputs follow the input's batch
    cfg = mc.ModelConfig(name=name, platform=platform, max_batch_size=max_batch_size if batched else 0)
    for group, tensors in ((cfg.input, inputs), (cfg.output, outputs)):
        for t in tensors:
            dims = t.shape[1:] if batched else t.shape
            group.add(name=t.name, data_type=mc.DataType.Value(t.data_type), dims=list(dims))
    if batched and max_batch_size > 1:
        cfg.dynamic_batching.max_queue_delay_microseconds = queue_delay_us
        cfg.dynamic_batching.preferred_batch_size.extend(sorted({b for b in (2, 4, max_batch_size)
                                                                 if b <= max_batch_size}))
    cfg.instance_group.add(count=instances, kind=mc.ModelInstanceGroup.Kind.Value(kind))
    if metadata:  # skyseg's model metadata (names, imgsz, ...) for the triton:// backend; Triton ignores it
        cfg.parameters["skyseg_metadata"].string_value = json.dumps(metadata, sort_keys=True)
    if not batched:
        log.warning("%s: the graph has a static batch dimension, so Triton cannot batch it (max_batch_size 0); "
                    "export with --dynamic batch for dynamic batching", name)
    return cfg


def _write_text(path: Path, text: str) -> None:
    with AtomicFile(path, "w") as f:
        f.handle.write(text)


def write_triton_repo(onnx_path: str | Path, repo: str | Path, name: str = "skyseg", max_batch_size: int = 8,
                      cpu_instances: int = 1, gpu_instances: int = 1, engine: str | Path | None = None) -> list[Path]:
    """Write DIR/NAME/{config.pbtxt,1/model.onnx} (and NAME_trt/ with a plan when `engine` is given)."""
    from google.protobuf import text_format

    onnx_path, repo = Path(onnx_path), Path(repo)
    if not onnx_path.is_file():
        raise InputError(f"ONNX model {onnx_path} does not exist")
    if max_batch_size < 1:
        raise InputError(f"--triton-max-batch must be at least 1, got {max_batch_size}")
    inputs, outputs, meta = graph_tensors(onnx_path)
    written: list[Path] = []
    model_dir = repo / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    with AtomicFile(model_dir / "1" / "model.onnx", "wb") as f, open(onnx_path, "rb") as src:
        shutil.copyfileobj(src, f.handle)
    cfg = build_config(name, "onnxruntime_onnx", inputs, outputs, max_batch_size, cpu_instances, "KIND_CPU",
                       meta)
    _write_text(model_dir / "config.pbtxt", text_format.MessageToString(cfg))
    written += [model_dir / "config.pbtxt", model_dir / "1" / "model.onnx"]
    if engine is not None:
        from skyseg.runtime.backends.engine_file import read_engine_file

        plan = read_engine_file(engine).plan
        trt_dir = repo / f"{name}_trt"
        (trt_dir / "1").mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(trt_dir / "1" / "model.plan", plan)
        trt_cfg = build_config(f"{name}_trt", "tensorrt_plan", inputs, outputs, max_batch_size, gpu_instances,
                               "KIND_GPU", meta)
        _write_text(trt_dir / "config.pbtxt", text_format.MessageToString(trt_cfg))
        written += [trt_dir / "config.pbtxt", trt_dir / "1" / "model.plan"]
    log.info("Triton model repository in %s: %s", repo, ", ".join(str(p.relative_to(repo)) for p in written))
    return written
