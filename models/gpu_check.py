"""Equivalence checks on CUDA: train form vs deploy form in float32 and under float16 autocast.

`python -m skyseg.models.gpu_check` exits 0 when every check passes, 3 when one fails, and 2 with a clear
message when no CUDA device is available (nothing is skipped silently).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

import torch

log = logging.getLogger(__name__)


def _randomise_bn(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) - 0.5)


def _scan_check(device: torch.device) -> list[tuple[str, float, float]]:
    """Chunked scan vs a float64 sequential reference on the device: fp32 and fp16."""
    from skyseg.models.selective_scan import selective_scan, softplus

    g = torch.Generator().manual_seed(0)
    b, k, d, n, length = 1, 4, 16, 8, 400
    u = torch.randn(b, k, d, length, generator=g)
    delta = softplus(torch.randn(b, k, d, length, generator=g) + torch.where(torch.arange(d) % 2 == 0, -10.0, 10.0)
                     .reshape(1, 1, d, 1))
    A = -torch.exp(torch.rand(k, d, n, generator=g) * 5 - 2)
    B, C = torch.randn(b, k, n, length, generator=g), torch.randn(b, k, n, length, generator=g)
    D = torch.randn(k, d, generator=g)
    h = torch.zeros(b, k, d, n, dtype=torch.float64)
    ys = []
    for t in range(length):
        h = torch.exp(delta[..., t, None].double() * A.double()) * h + (
            (delta[..., t] * u[..., t]).double()[..., None] * B[:, :, None, :, t].double())
        ys.append((h * C[:, :, None, :, t].double()).sum(-1) + D.double() * u[..., t].double())
    ref = torch.stack(ys, -1)
    out = []
    for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 5e-3)):
        y = selective_scan(*(t.to(device, dtype) for t in (u, delta, A, B, C, D))).double().cpu()
        err = ((y - ref).abs().max() / ref.abs().max()).item() if torch.isfinite(y).all() else float("inf")
        out.append((f"selective_scan {str(dtype).split('.')[-1]} rel err", err, tol))
    return out


def _model_check(device: torch.device, imgsz: int) -> list[tuple[str, float, float]]:
    """Whole n model: train form (eval) vs reparameterized, fp32 and fp16 autocast."""
    import skyseg.models

    torch.manual_seed(0)
    train = skyseg.models.load_model("yolo11n-sky-seg.yaml").model.eval()
    _randomise_bn(train)
    deploy = skyseg.models.reparameterize_model(train).to(device)
    train = train.to(device)
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(1)).to(device)
    out = []
    with torch.no_grad():
        (y0, p0), _ = train(x)
        (y1, p1), _ = deploy(x)
        out += [("fp32 boxes px", (y0[:, :4] - y1[:, :4]).abs().max().item(), 1e-2),
                ("fp32 scores+coeffs", (y0[:, 4:] - y1[:, 4:]).abs().max().item(), 1e-4),
                ("fp32 protos", (p0 - p1).abs().max().item(), 1e-4)]
        with torch.autocast("cuda", dtype=torch.float16):
            (h0, q0), _ = train(x)
            (h1, q1), _ = deploy(x)
        finite = all(torch.isfinite(t).all().item() for t in (h0, h1, q0, q1))
        out += [("fp16 autocast finite (0 = yes)", 0.0 if finite else 1.0, 0.0),
                ("fp16 autocast deploy vs fp32 scores", (h1[:, 4:5].float() - y0[:, 4:5]).abs().max().item(), 1e-2),
                ("fp16 autocast deploy vs fp32 protos", (q1.float() - p0).abs().max().item(), 5e-2),
                ("fp16 autocast boxes px", (h1[:, :4].float() - y0[:, :4]).abs().max().item(), 1.0)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.models.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=640)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    if not torch.cuda.is_available():
        sys.stderr.write("skyseg gpu_check: no CUDA device is visible to PyTorch "
                         f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); run it on a GPU machine.\n")
        return 2
    device = torch.device("cuda")
    rows = _scan_check(device) + _model_check(device, args.imgsz)
    failed = 0
    sys.stdout.write(f"device: {torch.cuda.get_device_name(device)}\n| check | value | limit | ok |\n|---|---|---|---|\n")
    for name, value, limit in rows:
        ok = value <= limit
        failed += not ok
        sys.stdout.write(f"| {name} | {value:.3g} | {limit:.3g} | {'✓' if ok else '✗'} |\n")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
