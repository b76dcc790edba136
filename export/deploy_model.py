"""Weights → the PyTorch deploy model that is exported AND used as the reference in verification.

One function prepares it, so "what we exported" and "what we compared against" are the same module: reparameterized
(skyseg's `reparameterize_model`), eval, float32, and the Segment head switched to export mode, where it returns
`(output0 [B, 4+nc+32, A], output1 [B, 32, H/4, W/4])` exactly as Ultralytics' own exporter sets it up.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import skyseg.models  # noqa: F401 - configures Ultralytics offline before it is imported
import torch
from torch import nn

from skyseg.runtime.errors import InputError, ModelContractError

log = logging.getLogger(__name__)


@dataclass
class DeployModel:
    """The prepared module and the facts the exporter writes into metadata."""

    module: nn.Module
    names: dict[int, str]
    stride: int
    channels: int
    source: Path
    train_imgsz: int | None = None  # the size a .pt was trained at (its train_args), None for a .yaml


def _load_ultralytics(weights: str | os.PathLike[str]) -> nn.Module:
    """The nn.Module inside skyseg's loader (`skyseg.models.load_model`), for a .pt checkpoint or a .yaml config."""
    from skyseg.models import load_model  # pulls in Ultralytics and the custom blocks

    try:
        yolo = load_model(str(weights))
    except FileNotFoundError as err:
        raise InputError(f"weights {weights} not found ({err}); pass a .pt checkpoint or a model .yaml.") from None
    return yolo.model if hasattr(yolo, "model") and isinstance(yolo.model, nn.Module) else yolo


def prepare_for_export(net: nn.Module) -> nn.Module:
    """Put an Ultralytics SegmentationModel into deploy/export form, in place: reparameterized, eval, fp32."""
    from skyseg.models import reparameterize_model
    from ultralytics.nn.modules import C2f, Detect, Segment

    net = reparameterize_model(net, inplace=True)
    net = net.float().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    heads = [m for m in net.modules() if isinstance(m, Detect)]
    if not heads or not isinstance(heads[-1], Segment):
        raise ModelContractError(
            f"the model's head is {type(heads[-1]).__name__ if heads else 'missing'}, expected an Ultralytics "
            "Segment head (task 'segment'); export a segmentation model."
        )
    for m in net.modules():
        if isinstance(m, Detect):  # what Ultralytics' Exporter sets for format='onnx'
            m.export, m.format, m.dynamic, m.shape = True, "onnx", False, None
            m.xyxy = False
        elif isinstance(m, C2f):
            m.forward = m.forward_split  # Split instead of chunk: the cleaner graph Ultralytics exports
    return net


def set_head_dynamic(net: nn.Module, dynamic: bool) -> None:
    """Dynamic height/width: the Segment head recomputes its anchors from the feature sizes on every call
    (Ultralytics' `dynamic`); with a fixed size they are traced once as constants."""
    from ultralytics.nn.modules import Detect

    for m in net.modules():
        if isinstance(m, Detect):
            m.dynamic = dynamic


def load_deploy_model(weights: str | os.PathLike[str]) -> DeployModel:
    """Load weights (or a YAML) and return the deploy module with its names/stride/channels."""
    source = Path(weights)
    if source.suffix not in (".pt", ".yaml", ".yml"):
        raise InputError(f"cannot export {source}: expected a .pt checkpoint or a model .yaml, got '{source.suffix}'.")
    if source.suffix == ".pt" and not source.is_file():
        raise InputError(f"weights file {source} does not exist.")
    net = prepare_for_export(_load_ultralytics(source))
    names = {int(k): str(v) for k, v in dict(getattr(net, "names", {0: "sky"})).items()}
    stride = int(max(getattr(net, "stride", torch.tensor([32])).tolist()))
    channels = int(getattr(net, "yaml", {}).get("channels", 3))
    return DeployModel(net, names, stride, channels, source, _train_imgsz(net) if source.suffix == ".pt" else None)


def _train_imgsz(net: nn.Module) -> int | None:
    """The training image size recorded in a checkpoint's train_args (an int, or the larger of a pair)."""
    args = getattr(net, "args", None)
    value = args.get("imgsz") if isinstance(args, dict) else None
    if isinstance(value, (list, tuple)) and value:
        value = max(value)
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


@torch.no_grad()
def run_deploy(net: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward the deploy module; returns (output0, output1) or raises ModelContractError on another layout."""
    out = net(images)
    if isinstance(out, (list, tuple)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out):
        return out[0], out[1]
    raise ModelContractError(
        f"the deploy model returned {type(out).__name__} of {len(out) if isinstance(out, (list, tuple)) else 1} "
        "items, expected (output0, output1) from a Segment head in export mode."
    )
