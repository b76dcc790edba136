"""Train form vs deploy form of every reparameterizable block, and OREPA's kernel algebra against real branches."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import skyseg.models  # noqa: F401  (offline Ultralytics)
from skyseg.models.c3k2_rep import C3k2OREPA, C3k2Rep
from skyseg.models.kernels import fuse_bn
from skyseg.models.orepa import OREPA
from skyseg.models.repconv import RepVGGConv
from skyseg.models.reparam import reparameterize_model
from skyseg.models.ss2d import SS2D, VSSBlock

CASES = [  # (class, c1, c2, k, s, g)
    (cls, c1, c2, k, s, g)
    for cls, ks in ((OREPA, (1, 3)), (RepVGGConv, (3,)))
    for k in ks
    for (c1, c2) in ((6, 6), (6, 10))
    for s in (1, 2)
    for g in (1, 2)
] + [(OREPA, 5, 7, 3, 1, 1), (OREPA, 7, 5, 3, 2, 1), (RepVGGConv, 7, 7, 3, 1, 1), (RepVGGConv, 5, 9, 3, 2, 1)]


def _make(cls, c1, c2, k, s, g, dtype, randomise):
    torch.manual_seed(0)
    return randomise(cls(c1, c2, k, s, g=g).to(dtype)).eval()


@pytest.mark.parametrize("cls,c1,c2,k,s,g", CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_conv_block_deploy_equals_train(cls, c1, c2, k, s, g, dtype, randomise):
    m = _make(cls, c1, c2, k, s, g, dtype, randomise)
    x = torch.randn(2, c1, 11, 9, dtype=dtype)
    with torch.no_grad():
        y = m(x)
        m.reparameterize()
        z = m(x)
    assert m.deploy and set(m.children()) == {m.act, m.conv}
    assert not any(isinstance(c, nn.BatchNorm2d) for c in m.modules())
    assert [n for n, _ in m.named_parameters()] == ["conv.weight", "conv.bias"]
    if dtype is torch.float64:
        assert (y - z).abs().max().item() <= 1e-9
    else:
        torch.testing.assert_close(z, y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [OREPA, RepVGGConv])
def test_reparameterize_twice_is_noop_and_deploy_loads_state(cls, randomise):
    m = _make(cls, 6, 8, 3, 1, 2, torch.float32, randomise)
    m.reparameterize()
    conv = m.conv
    state = copy.deepcopy(m.state_dict())
    m.reparameterize()
    assert m.conv is conv and all(torch.equal(state[k], v) for k, v in m.state_dict().items())
    fresh = cls(6, 8, 3, 1, g=2, deploy=True).eval()
    fresh.load_state_dict(state)  # strict: same keys and shapes
    x = torch.randn(1, 6, 7, 7)
    with torch.no_grad():
        assert torch.equal(fresh(x), m(x))


def _branch_outputs(m: OREPA, x: torch.Tensor) -> torch.Tensor:
    """OREPA's pre-BN output computed branch by branch with real convs/pools (no kernel algebra)."""
    k, s, g, p = m.k, m.s, m.g, m.k // 2
    v = m.vector
    scale = lambda i, t: t * v[i].reshape(1, -1, 1, 1)  # noqa: E731
    first = m.weight_1x1_kxk_a + m.id_1x1
    if k == 1:
        return scale(0, F.conv2d(x, m.weight_origin, stride=s, groups=g)) + scale(
            1, F.conv2d(F.conv2d(x, first, groups=g), m.weight_1x1_kxk_b, stride=s, groups=g))
    out = scale(0, F.conv2d(x, m.weight_origin, stride=s, padding=p, groups=g))
    out = out + scale(1, F.avg_pool2d(F.conv2d(x, m.weight_avg, groups=g), k, s, p, count_include_pad=True))
    out = out + scale(2, F.conv2d(x, m.weight_prior * m.prior, stride=s, padding=p, groups=g))
    mid = F.pad(F.conv2d(x, first, groups=g), (p, p, p, p))  # 1×1 then k×k on the zero-padded map
    out = out + scale(3, F.conv2d(mid, m.weight_1x1_kxk_b, stride=s, groups=g))
    out = out + scale(4, F.conv2d(x, m.weight_1x1, stride=s, groups=g))
    dw = F.conv2d(x, m.weight_dw, stride=s, padding=p, groups=m.c1)
    return out + scale(5, F.conv2d(dw, m.weight_pw, groups=g))


@pytest.mark.parametrize("k,s,g", [(3, 1, 1), (3, 2, 2), (1, 1, 2), (1, 2, 1)])
def test_orepa_single_kernel_equals_six_branches(k, s, g, randomise):
    m = _make(OREPA, 6, 10, k, s, g, torch.float64, randomise)
    x = torch.randn(2, 6, 9, 12, dtype=torch.float64)
    with torch.no_grad():
        one_conv = F.conv2d(x, m.kernel(), None, s, k // 2, 1, g)
        assert (one_conv - _branch_outputs(m, x)).abs().max().item() <= 1e-10
    assert len(m.branches) == (6 if k == 3 else 2)


def test_orepa_trains_with_one_conv_per_forward():
    m = OREPA(8, 8, 3).train()
    calls = []
    handle = torch.nn.modules.module.register_module_forward_hook(lambda mod, i, o: calls.append(type(mod)))
    try:
        m(torch.randn(2, 8, 6, 6)).sum().backward()
    finally:
        handle.remove()
    assert nn.Conv2d not in calls  # the kernel is built and applied with a single F.conv2d
    assert m.vector.grad is not None and m.weight_dw.grad is not None and m.weight_prior.grad is not None


def test_fuse_bn_matches_batchnorm(randomise):
    torch.manual_seed(1)
    bn = randomise(nn.BatchNorm2d(5).double()).eval()
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    fw, fb = fuse_bn(w, bn)
    assert (F.conv2d(x, fw, fb, padding=1) - bn(F.conv2d(x, w, padding=1))).abs().max().item() <= 1e-12


@pytest.mark.parametrize("cls", [C3k2OREPA, C3k2Rep])
@pytest.mark.parametrize("c3k", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_c3k2_family_deploy_equals_train(cls, c3k, dtype, randomise):
    torch.manual_seed(0)
    m = randomise(cls(7, 16, 2, c3k, 0.5, 2).to(dtype)).eval()  # odd c1, g=2 inside the bottlenecks
    x = torch.randn(2, 7, 10, 10, dtype=dtype)
    with torch.no_grad():
        y = m(x)
        d = reparameterize_model(m)
        z = d(x)
        assert torch.equal(m(x), y)  # original untouched
    assert not any(isinstance(c, nn.BatchNorm2d) for c in d.modules())
    if dtype is torch.float64:
        assert (y - z).abs().max().item() <= 1e-9
    else:
        torch.testing.assert_close(z, y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_vss_block_export_form_equals_train(dtype, randomise):
    torch.manual_seed(0)
    m = randomise(VSSBlock(24, 24, 1, 0.5, 4).to(dtype)).eval()
    x = torch.randn(1, 24, 5, 7, dtype=dtype)  # non-square: row/column scans differ
    with torch.no_grad():
        y = m(x)
        d = reparameterize_model(m)
        z = d(x)
    ss2d = d.m[0].ss2d
    assert ss2d.deploy and not hasattr(ss2d, "A_logs") and "A_neg" in dict(ss2d.named_buffers())
    if dtype is torch.float64:
        assert (y - z).abs().max().item() <= 1e-9
    else:
        torch.testing.assert_close(z, y, rtol=1e-4, atol=1e-5)
    fresh = SS2D(12, 12, 4, deploy=True)
    fresh.load_state_dict(ss2d.state_dict())


def test_ss2d_directions_cover_the_whole_map():
    """A change at one pixel reaches every output pixel (four scan orders give a global receptive field)."""
    torch.manual_seed(0)
    m = SS2D(4, 4, 2).double().eval()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    m(x)[0, :, 2, 3].sum().backward()
    assert (x.grad.abs().sum(1) > 0).all()


def test_vss_block_runs_in_float16():
    torch.manual_seed(0)
    m = VSSBlock(16, 16, 1, 0.5, 8).eval()
    x = torch.randn(1, 16, 6, 6)
    with torch.no_grad():
        ref = m(x)
        y = copy.deepcopy(m).half()(x.half())
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    assert ((y.float() - ref).abs().max() / ref.abs().max()).item() <= 5e-3


@pytest.mark.parametrize("build", [
    lambda deploy: C3k2OREPA(7, 16, 2, False, 0.5, 1, True, deploy=deploy),
    lambda deploy: C3k2OREPA(8, 16, 1, True, deploy=deploy),
    lambda deploy: C3k2Rep(8, 16, 2, True, deploy=deploy),
    lambda deploy: VSSBlock(16, 16, 2, 0.5, 4, deploy=deploy),
], ids=["C3k2OREPA", "C3k2OREPA-c3k", "C3k2Rep-c3k", "VSSBlock"])
def test_deploy_built_block_loads_reparameterized_state(build, randomise):
    torch.manual_seed(0)
    trained = reparameterize_model(randomise(build(False)).eval())
    fresh = build(True).eval()
    fresh.load_state_dict(trained.state_dict())  # strict: identical keys and shapes
    x = torch.randn(1, fresh.cv1.conv.in_channels, 6, 6)
    with torch.no_grad():
        assert torch.equal(fresh(x), trained(x))


def _proto(c1, c_, c2, rep, randomise):
    from ultralytics.nn.modules.block import Proto

    torch.manual_seed(0)
    p = Proto(c1, c_, c2)
    if rep:  # SegmentRep's proto: RepVGG blocks for its two 3×3 convs
        p.cv1, p.cv2 = RepVGGConv(c1, c_), RepVGGConv(c_, c_)
    randomise(p)
    with torch.no_grad():
        p.upsample.bias.normal_()  # a transposed-conv bias that matters (it only reaches in-bounds taps)
    return p.eval()


@pytest.mark.parametrize("rep", [False, True], ids=["Proto", "Proto-RepVGG"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_subpixel_proto_equals_proto(rep, dtype, randomise):
    from skyseg.models.subpixel_proto import SubPixelProto

    p = _proto(7, 10, 5, rep, randomise).to(dtype)
    x = torch.randn(2, 7, 5, 8, dtype=dtype)  # odd, non-square: every border phase is exercised
    with torch.no_grad():
        y = p(x)
        d = reparameterize_model(p)
        z = d(x)
    assert isinstance(d, SubPixelProto)
    assert z.shape == y.shape == (2, 5, 10, 16)
    assert not any(isinstance(m, (nn.ConvTranspose2d, nn.BatchNorm2d)) for m in d.modules())
    if dtype is torch.float64:
        assert (y - z).abs().max().item() <= 1e-9
    else:
        torch.testing.assert_close(z, y, rtol=1e-4, atol=1e-5)


def test_subpixel_phases_match_the_transposed_conv_layout(randomise):
    """One input pixel's influence lands on the same 2×2-upsampled neighbourhood in both forms."""
    from skyseg.models.subpixel_proto import SubPixelProto

    p = _proto(3, 4, 2, False, randomise).double()
    x = torch.zeros(1, 3, 6, 6, dtype=torch.float64)
    base_p, base_s = p(x), SubPixelProto.from_proto(p)(x)
    x[0, :, 2, 3] = 1.0
    moved_p = (p(x) - base_p).abs().sum(1)[0] > 1e-12
    moved_s = (SubPixelProto.from_proto(p)(x) - base_s).abs().sum(1)[0] > 1e-12
    # 3×3 (low-res rows 1–3) → ×2 (rows 2–7) → 3×3 (rows 1–8); columns likewise from 3 → 3–10
    assert torch.equal(moved_p, moved_s) and moved_p[1:9, 3:11].all() and moved_p.sum() == 64


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_segment_rep_head_deploy_equals_train(dtype, randomise):
    from skyseg.models.segment_rep import SegmentRep
    from skyseg.models.subpixel_proto import SubPixelProto

    torch.manual_seed(0)
    head = SegmentRep(nc=1, nm=8, npr=16, ch=(16, 24, 40))
    head.stride = torch.tensor([8.0, 16.0, 32.0])
    head = randomise(head.to(dtype)).eval()
    reps = [m for m in head.modules() if isinstance(m, RepVGGConv)]
    assert len(reps) == 3 * 4 + 2  # two per box branch, two per mask branch, two in the proto
    xs = [torch.randn(1, c, s, s, dtype=dtype) for c, s in ((16, 8), (24, 4), (40, 2))]
    with torch.no_grad():
        (y, p), _ = head([x.clone() for x in xs])
        d = reparameterize_model(head)
        (z, q), _ = d([x.clone() for x in xs])
    assert isinstance(d.proto, SubPixelProto) and all(m.deploy for m in d.modules() if isinstance(m, RepVGGConv))
    if dtype is torch.float64:
        assert max((y - z).abs().max().item(), (q - p).abs().max().item()) <= 1e-9
    else:
        torch.testing.assert_close(z, y, rtol=1e-4, atol=1e-3)  # boxes in pixels
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    fresh = SegmentRep(nc=1, nm=8, npr=16, ch=(16, 24, 40), deploy=True).to(dtype)
    fresh.load_state_dict(d.state_dict())  # strict: the deploy-built head has the same layout
