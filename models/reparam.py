"""`reparameterize_model`: the exact deploy form of a skyseg (or stock Ultralytics) model."""
from __future__ import annotations

import copy
import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def reparameterize_model(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Collapse every train-time structure: OREPA/RepVGG → one conv, SS2D → export form, Conv+BN folded, and
    Ultralytics' mask Proto → its sub-pixel form (transposed conv and the 3×3 after it as one 2×2 phase conv).

    Accepts an `nn.Module` (e.g. a SegmentationModel) or an Ultralytics `YOLO` wrapper (its `.model` is
    converted and the same kind is returned). Idempotent. With `inplace=False` the original is untouched.
    Use as `model = reparameterize_model(model)`.
    """
    from ultralytics.engine.model import Model

    if isinstance(model, Model):
        target = model if inplace else copy.deepcopy(model)
        target.model = reparameterize_model(target.model, inplace=True)
        return target
    target = model if inplace else copy.deepcopy(model)
    with torch.no_grad():
        blocks = [m for m in target.modules() if callable(getattr(m, "reparameterize", None))]
        for m in blocks:
            m.reparameterize()
        _fold_stock(target)
        protos = _swap_protos(target)
        if _is_proto(target):  # a bare Proto (its own root)
            from skyseg.models.subpixel_proto import SubPixelProto

            target, protos = SubPixelProto.from_proto(target), 1
    log.debug("reparameterized %d skyseg blocks and %d mask protos", len(blocks), protos)
    return target


def _fold_stock(model: nn.Module) -> None:
    """Fold BatchNorm into stock Ultralytics convs (its own `fuse()` for a whole model: the base class's, since
    SkySegmentationModel's calls this function)."""
    from ultralytics.nn.tasks import BaseModel

    if isinstance(model, BaseModel):
        BaseModel.fuse(model, verbose=False)
        return
    fold_stock_convs(model)


def _is_proto(m: nn.Module) -> bool:
    """Exactly Ultralytics' `Proto` (not its YOLO26 subclass, whose layout differs)."""
    from ultralytics.nn.modules.block import Proto

    return type(m) is Proto


def _swap_protos(model: nn.Module) -> int:
    """Replace every Ultralytics `Proto` below `model` by its `SubPixelProto`, in place; returns how many."""
    from skyseg.models.subpixel_proto import SubPixelProto

    found = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if _is_proto(child)]
    for parent, name, child in found:
        setattr(parent, name, SubPixelProto.from_proto(child))
    return len(found)


def fold_stock_convs(module: nn.Module) -> None:
    """Fold each stock Ultralytics Conv/DWConv's BatchNorm into its conv, in place (deploy-built blocks call this
    so their state_dict layout matches a reparameterized one)."""
    from ultralytics.nn.modules.conv import Conv, DWConv
    from ultralytics.utils.torch_utils import fuse_conv_and_bn

    for m in module.modules():
        if isinstance(m, (Conv, DWConv)) and hasattr(m, "bn"):
            with torch.no_grad():
                m.conv = fuse_conv_and_bn(m.conv, m.bn)
            delattr(m, "bn")
            m.forward = m.forward_fuse
