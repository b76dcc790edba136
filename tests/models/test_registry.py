"""Ultralytics' YAML parser builds skyseg's modules with the same width/depth scaling as the stock ones."""
from __future__ import annotations

import pytest
import torch

import skyseg.models
from skyseg.models.c3k2_rep import C3k2OREPA, C3k2Rep, RepC3k
from skyseg.models.orepa import OREPA
from skyseg.models.repconv import RepVGGConv
from skyseg.models.segment_rep import SegmentRep
from skyseg.models.training.loading import CFG_DIR, packaged_configs, resolve_config
from skyseg.runtime.errors import InputError
from skyseg.models.ss2d import VSSBlock
from ultralytics.nn import tasks
from ultralytics.nn.modules.block import C3k

skyseg.models.register()


def _output_channels(model: torch.nn.Module, imgsz: int = 64) -> list[int]:
    shapes: list[int] = []
    hooks = [layer.register_forward_hook(lambda m, i, o: shapes.append(o.shape[1] if torch.is_tensor(o) else -1))
             for layer in model.model]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, imgsz, imgsz))
    for h in hooks:
        h.remove()
    return shapes


@pytest.fixture(scope="module", params=["n", "s"])
def pair(request):
    scale = request.param
    ours = tasks.SegmentationModel(str(CFG_DIR / f"yolo11{scale}-sky-seg.yaml"), nc=1, verbose=False)
    stock = tasks.SegmentationModel(f"yolo11{scale}-seg.yaml", nc=1, verbose=False)
    return scale, ours, stock


def test_layers_scale_like_stock(pair):
    scale, ours, stock = pair
    assert ours.yaml["scale"] == scale and ours.yaml["nc"] == 1
    assert _output_channels(ours) == _output_channels(stock)
    expected = {"n": [32, 64, 64, 128, 128, 128, 256, 256, 256], "s": [64, 128, 128, 256, 256, 256, 512, 512, 512]}
    assert _output_channels(ours)[1:10] == expected[scale]
    for i in (2, 4, 6, 8):
        assert isinstance(ours.model[i], C3k2OREPA) and len(ours.model[i].m) == len(stock.model[i].m) == 1
        assert isinstance(ours.model[i].m[0], RepC3k) == isinstance(stock.model[i].m[0], C3k) == (i in (6, 8))
        assert ours.model[i].cv1.conv.in_channels == stock.model[i].cv1.conv.in_channels
    for i in (13, 16, 19, 22):
        assert isinstance(ours.model[i], C3k2Rep)
        assert ours.model[i].cv2.conv.out_channels == stock.model[i].cv2.conv.out_channels
    for i in (0, 1, 3, 5, 7, 17, 20):  # the stride-2 convs
        assert isinstance(ours.model[i], RepVGGConv) and ours.model[i].s == 2 and ours.model[i].bn_id is None
        assert ours.model[i].conv.weight.shape == stock.model[i].conv.weight.shape
    head, stock_head = ours.model[23], stock.model[23]
    assert isinstance(head, SegmentRep) and (head.nc, head.nm) == (stock_head.nc, stock_head.nm) == (1, 32)
    assert head.proto.cv1.conv.weight.shape == stock_head.proto.cv1.conv.weight.shape  # npr scaled like stock
    assert sum(isinstance(m, RepVGGConv) for m in head.modules()) == 14
    assert sum(p.numel() for p in head.cv3.parameters()) == sum(p.numel() for p in stock_head.cv3.parameters())
    vss = ours.model[10]
    assert isinstance(vss, VSSBlock) and vss.m[0].ss2d.d_inner == {"n": 128, "s": 256}[scale]
    assert vss.m[0].ss2d.d_state == 8
    assert (vss.i, vss.f, vss.type) == (10, -1, "skyseg.models.ss2d.VSSBlock")
    assert ours.save == stock.save and ours.stride.tolist() == stock.stride.tolist() == [8.0, 16.0, 32.0]


def test_stock_models_are_byte_identical_with_the_wrapper(monkeypatch):
    torch.manual_seed(0)
    wrapped = tasks.SegmentationModel("yolo11n-seg.yaml", nc=1, verbose=False)
    monkeypatch.setattr(tasks, "parse_model", tasks.parse_model.original)
    torch.manual_seed(0)
    plain = tasks.SegmentationModel("yolo11n-seg.yaml", nc=1, verbose=False)
    assert str(wrapped) == str(plain)
    a, b = wrapped.state_dict(), plain.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_register_is_idempotent():
    before = tasks.parse_model
    skyseg.models.register()
    assert tasks.parse_model is before and before.original is not before


def test_load_model_resolves_packaged_names():
    assert packaged_configs() == ["yolo11n-sky-seg.yaml", "yolo11s-sky-seg.yaml"]
    assert resolve_config("yolo11s-sky-seg.yaml") == CFG_DIR / "yolo11s-sky-seg.yaml"
    model = skyseg.models.load_model("yolo11n-sky-seg.yaml")
    from ultralytics import YOLO

    assert isinstance(model, YOLO) and model.task == "segment" and model.names == {0: "sky"}
    assert type(model.model).__name__ == "SkySegmentationModel"  # its fuse() reparameterizes skyseg's blocks
    assert model.model.yaml["scale"] == "n" and isinstance(model.model.model[10], VSSBlock)


@pytest.mark.parametrize("name,fragment", [
    ("yolo11n-seg.pt", "does not exist"),
    ("yolo11x-sky-seg.yaml", "asks for scale 'x'"),
    ("nothing.yaml", "neither an existing file nor a packaged config"),
    ("weights.onnx", "expected a .yaml model config or a .pt checkpoint"),
])
def test_load_model_never_downloads(name, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=fragment):
        skyseg.models.load_model(name)
    assert list(tmp_path.iterdir()) == []


def test_conv_style_modules_scale_with_width():
    cfg = {
        "nc": 1, "scales": {"n": [0.5, 0.25, 1024], "s": [0.5, 0.5, 1024]}, "scale": "s",
        "backbone": [[-1, 1, "OREPA", [64, 3, 2]], [-1, 1, "RepVGGConv", [128, 3, 2, 2]],
                     [-1, 3, "C3k2Rep", [128, "True", 0.5]], [-1, 1, "OREPA", [256, 1, 1]]],
        "head": [[[3], 1, "Detect", ["nc"]]],
    }
    model = tasks.DetectionModel(cfg, ch=3, nc=1, verbose=False)
    orepa, rep, c3k2, last = model.model[:4]
    assert (type(orepa), orepa.c1, orepa.c2, orepa.k, orepa.s) == (OREPA, 3, 32, 3, 2)
    assert (type(rep), rep.c1, rep.c2, rep.s, rep.g) == (RepVGGConv, 32, 64, 2, 2)
    assert isinstance(c3k2, C3k2Rep) and len(c3k2.m) == 2 and isinstance(c3k2.m[0], RepC3k)  # round(3·0.5)
    assert (last.c1, last.c2, last.k, len(last.branches)) == (64, 128, 1, 2)
