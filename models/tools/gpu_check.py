"""Train form vs deploy form on CUDA under float16 autocast, the whole model in float32, and GPU timings.

The float32/float64 per-module and scan equivalence tests run on the GPU as they are:
`SKYSEG_TEST_DEVICE=cuda pytest tests/models/test_blocks.py tests/models/test_selective_scan.py
tests/models/test_model_deploy.py -k "not onnx"` (see tests/models/conftest.py). This script adds what those
tests cannot say: every reparameterizable block and the whole n model under `torch.autocast(float16)` (deploy
vs train form, both against the float32 train form), the whole model in float32 with TF32 off and on, and
batch-1 forward latency of train form, deploy form and stock yolo11n-seg in float32 and float16 autocast.

`python -m skyseg.models.tools.gpu_check` exits 0 when every check passes, 3 when one fails, and 2 with one sentence
when no CUDA device is visible. `--device cpu` runs the same code on the CPU (bfloat16 autocast) as a dry run.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

import torch
from torch import nn

from skyseg.models.tools.randomise import randomise
from skyseg.runtime.timing import median_ms

log = logging.getLogger(__name__)

Row = tuple[str, float, float | None]  # (check, value, limit; None = reported, not judged)


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    a, ref = a.float(), ref.float()
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item()


def _blocks(device: torch.device) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """One of each reparameterizable block: odd channels, groups 2, stride 2 where the block has it."""
    from skyseg.models.c3k2_rep import C3k2OREPA, C3k2Rep
    from skyseg.models.orepa import OREPA
    from skyseg.models.repconv import RepVGGConv
    from skyseg.models.ss2d import VSSBlock

    torch.manual_seed(0)
    cases = [("OREPA k3 s2 g2", OREPA(6, 10, 3, 2, g=2), 6), ("OREPA k1 s1", OREPA(7, 5, 1, 1), 7),
             ("RepVGGConv k3 s1", RepVGGConv(7, 7, 3, 1), 7), ("RepVGGConv k3 s2 g2", RepVGGConv(6, 10, 3, 2, g=2), 6),
             ("C3k2OREPA c3k", C3k2OREPA(7, 16, 2, True, 0.5, 2), 7), ("C3k2Rep", C3k2Rep(7, 16, 2, False, 0.5, 2), 7),
             ("VSSBlock", VSSBlock(32, 32, 1, 0.5, 8), 32)]
    g = torch.Generator().manual_seed(1)
    return [(name, randomise(m).eval().to(device), torch.randn(2, c, 20, 18, generator=g).to(device))
            for name, m, c in cases]


def block_rows(device: torch.device, amp: torch.dtype) -> list[Row]:
    """Per block under autocast: deploy vs train form (same precision), and deploy-autocast vs train-float32."""
    from skyseg.models.reparam import reparameterize_model

    rows: list[Row] = []
    for name, train, x in _blocks(device):
        deploy = reparameterize_model(train)
        with torch.no_grad():
            ref = train(x)
            with torch.autocast(device.type, dtype=amp):
                y_train, y_deploy = train(x), deploy(x)
        rows += [(f"{name}: autocast deploy vs autocast train (rel)", _rel(y_deploy, y_train), 5e-3),
                 (f"{name}: autocast deploy vs float32 train (rel)", _rel(y_deploy, ref), 5e-3)]
    return rows


def _whole_model(device: torch.device) -> tuple[nn.Module, nn.Module]:
    import skyseg.models

    torch.manual_seed(0)
    train = randomise(skyseg.models.load_model("yolo11n-sky-seg.yaml").model).eval()
    deploy = skyseg.models.reparameterize_model(train)
    return train.to(device), deploy.to(device)


def model_rows(train: nn.Module, deploy: nn.Module, device: torch.device, amp: torch.dtype, imgsz: int) -> list[Row]:
    """Whole n model at `imgsz`: float32 (TF32 off, the acceptance limits), TF32 on (reported), autocast."""
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(1)).to(device)
    rows: list[Row] = []
    with torch.no_grad():
        for tf32 in (False, True):
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            (y0, p0), _ = train(x)
            (y1, p1), _ = deploy(x)
            tag = "TF32 on" if tf32 else "float32"
            judged = (lambda limit: None) if tf32 else (lambda limit: limit)
            rows += [(f"model {tag}: boxes max abs px", (y0[:, :4] - y1[:, :4]).abs().max().item(), judged(1e-2)),
                     (f"model {tag}: scores+coeffs max abs", (y0[:, 4:] - y1[:, 4:]).abs().max().item(), judged(1e-4)),
                     (f"model {tag}: protos max abs", (p0 - p1).abs().max().item(), judged(1e-4))]
            if not tf32:
                ref_y, ref_p = y0, p0
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        with torch.autocast(device.type, dtype=amp):
            (h0, q0), _ = train(x)
            (h1, q1), _ = deploy(x)
    finite = all(torch.isfinite(t).all().item() for t in (h0, h1, q0, q1))
    rows += [("model autocast: all outputs finite (0 = yes)", 0.0 if finite else 1.0, 0.0),
             ("model autocast: deploy vs train scores max abs", (h1[:, 4:5] - h0[:, 4:5]).abs().max().item(), 1e-2),
             ("model autocast: deploy vs float32 train scores", (h1[:, 4:5].float() - ref_y[:, 4:5]).abs().max().item(),
              1e-2),
             ("model autocast: deploy vs float32 train protos", (q1.float() - ref_p).abs().max().item(), 5e-2),
             ("model autocast: deploy vs float32 train boxes px", (h1[:, :4].float() - ref_y[:, :4]).abs().max().item(),
              1.0)]
    return rows


def timing_lines(train: nn.Module, deploy: nn.Module, device: torch.device, amp: torch.dtype, sizes: Sequence[int],
                 runs: int) -> list[str]:
    """Batch-1 forward latency (ms, median, synchronised) of train form, deploy form and stock yolo11n-seg."""
    from ultralytics.nn.tasks import SegmentationModel

    stock = SegmentationModel("yolo11n-seg.yaml", nc=1, verbose=False).eval().fuse(verbose=False)  # as Ultralytics runs it
    models = {"train": train, "deploy": deploy, "stock": stock.to(device)}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    lines = ["| imgsz | precision | train ms | deploy ms | train/deploy | stock yolo11n-seg ms | deploy/stock |",
             "|---|---|---|---|---|---|---|"]
    for size in sizes:
        x = torch.rand(1, 3, size, size, device=device)
        for label, dtype in (("float32", None), (f"{str(amp).split('.')[-1]} autocast", amp)):
            t = {}
            for name, m in models.items():
                def forward(m: nn.Module = m, dtype: torch.dtype | None = dtype, x: torch.Tensor = x) -> object:
                    with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                         enabled=dtype is not None):
                        return m(x)
                t[name] = median_ms(forward, runs, sync=sync, warmup=5)
            lines.append(f"| {size} | {label} | {t['train']:.2f} | {t['deploy']:.2f} | "
                         f"{t['train'] / t['deploy']:.2f}× | {t['stock']:.2f} | {t['deploy'] / t['stock']:.2f}× |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.models.tools.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--time-sizes", type=int, nargs="*", default=[320, 640])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("skyseg gpu_check: no CUDA device is visible to PyTorch "
                         f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); run it on a GPU machine.\n")
        return 2
    amp = torch.float16 if device.type == "cuda" else torch.bfloat16
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    train, deploy = _whole_model(device)
    rows = block_rows(device, amp) + model_rows(train, deploy, device, amp, args.imgsz)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    out = [f"device: {name}, torch {torch.__version__}, autocast {amp}", "", "| check | value | limit | ok |",
           "|---|---|---|---|"]
    failed = 0
    for check, value, limit in rows:
        ok = limit is None or value <= limit
        failed += not ok
        mark = "reported" if limit is None else ("✓" if ok else "✗")
        out.append(f"| {check} | {value:.3g} | {'—' if limit is None else f'{limit:.3g}'} | {mark} |")
    if args.time_sizes:
        torch.backends.cudnn.benchmark = True
        out += ["", f"Forward latency, batch 1, median of {args.runs} (TF32 off):", *timing_lines(
            train, deploy, device, amp, args.time_sizes, args.runs)]
    sys.stdout.write("\n".join(out) + "\n")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
