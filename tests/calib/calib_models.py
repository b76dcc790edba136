"""Test helper (not a test module): a stock yolo11n-seg (nc=1) exported by Ultralytics with weights that behave.

Ultralytics' random initialisation gives near-constant outputs (features vanish through the untrained layers,
and the class bias starts at about -7), which would make every quantization look perfect. Here conv weights get
He-normal values, BatchNorm statistics are randomised, class logits are spread so that a few anchors pass
conf 0.25, and the proto/coefficient biases are raised so masks are non-empty: INT8 errors then show up in scores,
boxes and sky masks. Built from YAML (never a hub download), cached per size in a temp folder, written atomically.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / f"skyseg-calib-test-models-{os.getuid()}"


def _build(imgsz: int, out: Path, cls_bias: float, cls_gain: float) -> None:
    import torch
    from core_models import stock_yolo  # tests/ is on sys.path (tests/conftest.py)

    yolo = stock_yolo(Path(tempfile.mkdtemp(prefix="export-", dir=out.parent)))
    net = yolo.model
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        dfl = net.model[-1].dfl.conv  # fixed arange(16) expectation: not a learned weight
        for mod in net.modules():
            if isinstance(mod, torch.nn.Conv2d) and mod is not dfl:
                mod.weight.normal_(0, math.sqrt(2.0 / mod.weight[0].numel()), generator=g)
            elif isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1, generator=g)
                mod.running_var.uniform_(0.5, 1.5, generator=g)
                mod.weight.uniform_(0.5, 1.0, generator=g)
                mod.bias.normal_(0, 0.2, generator=g)
        head = net.model[-1]
        for seq in head.cv3:  # class logits: spread them, most anchors below conf
            seq[-1].bias.fill_(cls_bias)
            seq[-1].weight.mul_(cls_gain)
        head.proto.cv3.bn.bias.add_(1.0)  # protos mostly positive ...
        for seq in head.cv4:  # ... and coefficients leaning positive, so instance masks are not empty
            seq[-1].bias.fill_(0.05)
    exported = Path(yolo.export(format="onnx", imgsz=imgsz, simplify=True, opset=17, verbose=False))
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    exported.replace(tmp)
    tmp.replace(out)


def seg_onnx(imgsz: int = 256, cls_bias: float = -4.3, cls_gain: float = 15.0) -> Path:
    """Path to the cached test model at imgsz×imgsz, exporting it on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"yolo11n-seg-calib-{imgsz}-{cls_bias}-{cls_gain}.onnx"
    if not out.is_file():
        _build(imgsz, out, cls_bias, cls_gain)
    return out
