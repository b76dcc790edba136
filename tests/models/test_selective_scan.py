"""The chunked selective scan against a float64 sequential reference written here from the recurrence."""
from __future__ import annotations

import math

import pytest
import torch

from skyseg.models.selective_scan import selective_scan, softplus


def reference_scan(u, delta, A, B, C, D):
    """h_t = exp(Δ_t·A)·h_{t−1} + Δ_t·B_t·u_t;  y_t = C_t·h_t + D·u_t, one step at a time in float64."""
    u, delta, A, B, C, D = (t.double() for t in (u, delta, A, B, C, D))
    b, k, d, length = u.shape
    h = torch.zeros(b, k, d, A.shape[-1], dtype=torch.float64)
    ys = []
    for t in range(length):
        h = torch.exp(delta[..., t, None] * A) * h + (delta[..., t] * u[..., t])[..., None] * B[:, :, None, :, t]
        ys.append((h * C[:, :, None, :, t]).sum(-1) + D[None] * u[..., t])
    return torch.stack(ys, dim=-1)


def _inputs(length, seed=0, b=1, k=4, d=6, n=4):
    """Seeded on the CPU, then moved to torch's default device (see conftest), so every device sees the same."""
    g = torch.Generator().manual_seed(seed)
    cpu = dict(generator=g, device="cpu")
    u = torch.randn(b, k, d, length, **cpu)
    # extreme Δ: half of the channels with bias −10 (Δ ≈ 5e-5), half with +10 (Δ ≈ 10)
    bias = torch.where(torch.arange(d, device="cpu") % 2 == 0, -10.0, 10.0).reshape(1, 1, d, 1)
    delta = softplus(torch.randn(b, k, d, length, **cpu) + bias)
    A = -torch.exp(torch.rand(k, d, n, **cpu) * 5.0 - 2.0)  # A_logs ∈ [−2, 3]
    B = torch.randn(b, k, n, length, **cpu)
    C = torch.randn(b, k, n, length, **cpu)
    D = torch.randn(k, d, **cpu)
    return tuple(t.to(torch.get_default_device()) for t in (u, delta, A, B, C, D))


def _rel_err(y, ref):
    return ((y.double() - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.parametrize("length", [1, 7, 16, 17, 400, 1600])
def test_float32_matches_sequential_reference(length):
    args = _inputs(length)
    ref = reference_scan(*args)
    y = selective_scan(*args)
    assert y.dtype == torch.float32 and y.shape == ref.shape
    assert _rel_err(y, ref) <= 1e-5


@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_chunk_size_does_not_change_result(chunk):
    args = _inputs(100, seed=3)
    assert _rel_err(selective_scan(*args, chunk=chunk), reference_scan(*args)) <= 1e-5


@pytest.mark.parametrize("length", [17, 400])
def test_float16_end_to_end_is_finite_and_close(length):
    args = _inputs(length, seed=1)
    ref = reference_scan(*args)
    y = selective_scan(*(t.half() for t in args))
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    assert _rel_err(y, ref) <= 5e-3


def test_no_d_skip_and_batch_independence():
    u, delta, A, B, C, D = _inputs(33, b=3)
    y = selective_scan(u, delta, A, B, C, None)
    ref = reference_scan(u, delta, A, B, C, torch.zeros_like(D))
    assert _rel_err(y, ref) <= 1e-5
    single = selective_scan(u[1:2], delta[1:2], A, B[1:2], C[1:2], None)
    torch.testing.assert_close(single, y[1:2], rtol=1e-6, atol=1e-6)


def test_gradients_match_reference():
    args = [t.double().requires_grad_(True) for t in _inputs(37, seed=2, d=3, n=2)]
    selective_scan(*args, chunk=8).pow(2).sum().backward()
    grads = [a.grad.clone() for a in args]
    for a in args:
        a.grad = None
    reference_scan(*args).pow(2).sum().backward()
    for got, a in zip(grads, args):
        torch.testing.assert_close(got, a.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("x", [-1e4, -60.0, -1.0, 0.0, 1.0, 20.0, 60.0, 1e4])
def test_softplus_is_overflow_free(x):
    t = torch.tensor([x])
    expected = math.log1p(math.exp(x)) if x < 700 else x
    assert softplus(t).item() == pytest.approx(expected, rel=1e-6, abs=1e-30)
    assert torch.isfinite(softplus(t.half())).all()
