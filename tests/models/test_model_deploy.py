"""The whole n model: train form (eval) vs `reparameterize_model`, deploy structure, and its ONNX graph."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import skyseg.models
from skyseg.models.orepa import OREPA
from skyseg.models.repconv import RepVGGConv
from skyseg.models.ss2d import SS2D
from skyseg.models.subpixel_proto import SubPixelProto

FORBIDDEN_OPS = {"Loop", "Scan", "If", "Einsum"}


@pytest.fixture(scope="module")
def models(randomise):
    torch.manual_seed(0)
    yolo = skyseg.models.load_model("yolo11n-sky-seg.yaml")
    train = randomise(yolo.model).eval()
    snapshot = copy.deepcopy(train.state_dict())
    deploy = skyseg.models.reparameterize_model(train)
    return yolo, train, deploy, snapshot


@pytest.mark.slow
def test_whole_model_outputs_match_at_640(models):
    _, train, deploy, _ = models
    x = torch.rand(1, 3, 640, 640, generator=torch.Generator().manual_seed(1), device="cpu")
    x = x.to(torch.get_default_device())
    with torch.no_grad():
        (y0, p0), _ = train(x)
        (y1, p1), _ = deploy(x)
    assert y0.shape == (1, 4 + 1 + 32, 8400) and p0.shape == (1, 32, 160, 160)
    assert (y0[:, :4] - y1[:, :4]).abs().max().item() <= 1e-2  # boxes, input pixels
    assert (y0[:, 4:5] - y1[:, 4:5]).abs().max().item() <= 1e-4  # scores
    assert (y0[:, 5:] - y1[:, 5:]).abs().max().item() <= 1e-4  # mask coefficients
    assert (p0 - p1).abs().max().item() <= 1e-4  # protos


def test_original_untouched_and_deploy_structure(models):
    _, train, deploy, snapshot = models
    state = train.state_dict()
    assert list(state) == list(snapshot) and all(torch.equal(state[k], snapshot[k]) for k in state)
    assert any(isinstance(m, nn.BatchNorm2d) for m in train.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())
    convs = [m for m in deploy.modules() if isinstance(m, (OREPA, RepVGGConv))]
    assert convs and all(m.deploy and list(dict(m.named_children())) == ["act", "conv"] for m in convs)
    assert all(m.conv.bias is not None for m in convs)
    assert all(m.deploy and not hasattr(m, "A_logs") for m in deploy.modules() if isinstance(m, SS2D))
    assert isinstance(deploy.model[-1].proto, SubPixelProto)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in deploy.modules())
    names = {n.split(".")[-1] for n, _ in deploy.named_parameters()}
    assert not names & {"vector", "weight_origin", "weight_dw", "A_logs"}


def test_reparameterize_is_idempotent_and_pickles(models):
    _, _, deploy, _ = models
    again = skyseg.models.reparameterize_model(deploy)
    a, b = deploy.state_dict(), again.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    clone = pickle.loads(pickle.dumps(deploy))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(clone(x)[0][0], deploy(x)[0][0])


def test_yolo_wrapper_in_and_out(models):
    yolo, train, _, _ = models
    out = skyseg.models.reparameterize_model(yolo)
    assert type(out) is type(yolo) and out is not yolo and out.model is not train
    assert not any(isinstance(m, nn.BatchNorm2d) for m in out.model.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in yolo.model.modules())


@pytest.fixture(scope="module")
def onnx_file(models, tmp_path_factory):
    _, _, deploy, _ = models
    model = copy.deepcopy(deploy)
    model.model[-1].export, model.model[-1].format = True, "onnx"  # Ultralytics' export layout
    path = tmp_path_factory.mktemp("onnx") / "sky.onnx"
    x = torch.rand(1, 3, 320, 320)
    torch.onnx.export(model, (x,), str(path), opset_version=17, input_names=["images"],
                      output_names=["output0", "output1"], dynamo=False)
    with torch.no_grad():
        expected = [t.numpy() for t in model(x)]
    return path, x.numpy(), expected


def test_onnx_graph_is_plain(onnx_file):
    path, _, _ = onnx_file
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    ops = {n.op_type for n in model.graph.node}
    assert not ops & FORBIDDEN_OPS
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    assert "BatchNormalization" not in ops
    assert [o.name for o in model.graph.output] == ["output0", "output1"]


def test_onnx_runs_like_torch(onnx_file):
    ort = pytest.importorskip("onnxruntime")
    path, x, expected = onnx_file
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y0, y1 = session.run(None, {"images": x})
    assert y0.shape == (1, 37, 2100) and y1.shape == (1, 32, 80, 80)
    np.testing.assert_allclose(y0[:, 4:], expected[0][:, 4:], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(y0[:, :4], expected[0][:, :4], atol=1e-2, rtol=0)
    np.testing.assert_allclose(y1, expected[1], atol=1e-4, rtol=1e-4)
