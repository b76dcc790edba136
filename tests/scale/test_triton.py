"""Triton: the model repository's config.pbtxt read back with Triton's own protobuf and checked against the ONNX
graph, and the triton:// backend through a real Triton server (PyTriton) against local ONNX Runtime."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.errors import InputError
from skyseg.runtime.pipeline import RunConfig, run
from skyseg.scale.triton_repo import write_triton_repo
from triton_server import TritonServer

MODEL = bundled_model_path()


def _read_config(path: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    return text_format.Parse(path.read_text(), mc.ModelConfig())


def test_config_pbtxt_matches_the_graph(tmp_path: Path) -> None:
    import onnxruntime as ort
    from tritonclient.grpc import model_config_pb2 as mc

    written = write_triton_repo(MODEL, tmp_path / "repo", max_batch_size=4, cpu_instances=2)
    assert (tmp_path / "repo" / "skyseg" / "1" / "model.onnx").read_bytes() == MODEL.read_bytes()
    cfg = _read_config(tmp_path / "repo" / "skyseg" / "config.pbtxt")
    assert written[0].name == "config.pbtxt" and cfg.name == "skyseg" and cfg.platform == "onnxruntime_onnx"
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    batched = not isinstance(sess.get_inputs()[0].shape[0], int)
    assert cfg.max_batch_size == (4 if batched else 0)
    for declared, graph in ((cfg.input, sess.get_inputs()), (cfg.output, sess.get_outputs())):
        assert [t.name for t in declared] == [g.name for g in graph]
        for t, g in zip(declared, graph):
            assert t.data_type == mc.TYPE_FP32
            assert list(t.dims) == [d if isinstance(d, int) else -1 for d in (g.shape[1:] if batched else g.shape)]
    assert cfg.HasField("dynamic_batching") == batched
    assert [(g.count, g.kind) for g in cfg.instance_group] == [(2, mc.ModelInstanceGroup.KIND_CPU)]
    assert "names" in cfg.parameters["skyseg_metadata"].string_value


def test_dynamic_batch_graph_gets_the_batcher(tmp_path: Path) -> None:
    import onnx
    from tritonclient.grpc import model_config_pb2 as mc

    model = onnx.load(str(MODEL))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, str(tmp_path / "dyn.onnx"))
    write_triton_repo(tmp_path / "dyn.onnx", tmp_path / "repo", max_batch_size=8)
    cfg = _read_config(tmp_path / "repo" / "skyseg" / "config.pbtxt")
    assert cfg.max_batch_size == 8 and list(cfg.input[0].dims) == [3, 320, 320]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [2, 4, 8]
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU


def test_bad_inputs_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_triton_repo(tmp_path / "missing.onnx", tmp_path / "repo")
    for bad in ("triton://host/skyseg", "triton://host:8001/", "triton://host:8001/m?protocol=udp"):
        with pytest.raises(InputError):
            open_backend(bad).__enter__()
    with pytest.raises(InputError, match="not reachable"):
        from broker import free_port

        with open_backend(f"triton://127.0.0.1:{free_port()}/skyseg"):
            pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    s = TritonServer(MODEL, "skyseg", tmp_path_factory.mktemp("triton") / "server.log")
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_backend_matches_ort(tmp_path: Path, server: TritonServer, protocol: str, realsky_dir: Path) -> None:
    from astropy.io import fits

    from skyseg.runtime.process.preprocess import to_rgb8

    night = tmp_path / "night"
    night.mkdir()
    base = to_rgb8(np.squeeze(fits.getdata(realsky_dir / "iceact_starry.fits")))
    for i in range(3):
        cv2.imwrite(str(night / f"image-{i:04d}.png"), cv2.resize(np.roll(base, 37 * i, axis=1), (160, 120)))
    masks = {}
    for name, model in (("ort", str(MODEL)), ("triton", server.uri(protocol))):
        summary = run(RunConfig(source=str(night), model=model, threads=1, masks=str(tmp_path / name),
                                headless=True))
        assert summary.frames == 3 and summary.errors == 0
        masks[name] = sorted((tmp_path / name).glob("*.png"))
    assert [p.name for p in masks["ort"]] == [p.name for p in masks["triton"]]
    for a, b in zip(masks["ort"], masks["triton"]):
        ma, mb = cv2.imread(str(a), 0) > 0, cv2.imread(str(b), 0) > 0
        union = np.count_nonzero(ma | mb)
        iou = np.count_nonzero(ma & mb) / union if union else 1.0
        assert iou >= 0.999


def test_skyseg_export_writes_the_repository(tmp_path: Path) -> None:
    """`skyseg export WEIGHTS -o M.onnx --triton-repo DIR` on a freshly built model, dynamic batch."""
    import subprocess
    import sys

    from tritonclient.grpc import model_config_pb2 as mc

    weights = MODEL.with_suffix(".pt")
    if not weights.is_file():
        pytest.fail(f"the bundled checkpoint {weights} is missing")
    proc = subprocess.run([sys.executable, "-m", "skyseg.cli.main", "export", str(weights), "-o",
                           str(tmp_path / "m.onnx"), "--imgsz", "128", "--dynamic", "batch", "--no-verify",
                           "--triton-repo", str(tmp_path / "repo"), "--triton-max-batch", "4"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Triton model repository" in proc.stdout
    cfg = _read_config(tmp_path / "repo" / "skyseg" / "config.pbtxt")
    assert cfg.max_batch_size == 4 and list(cfg.input[0].dims) == [3, 128, 128]
    assert cfg.dynamic_batching.max_queue_delay_microseconds > 0
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert not (tmp_path / "repo" / "skyseg_trt").exists()  # no engine beside the ONNX
