"""A freshly initialised segmentation checkpoint, for plumbing tests and for the demo before trained weights exist.

A randomly initialised network is degenerate: with BatchNorm's default statistics its activations shrink to
nothing, so every anchor gets the same score and the protos are ~0 whatever the image. We make it input-dependent
the cheap way — re-estimate the BatchNorm statistics on a few synthetic night frames (forward passes only) — and
then set the class bias so that a chosen fraction of anchors passes the score threshold. NMS, mask assembly,
every sink and backend comparisons then have real, frame-dependent work. Such a model paints noise, not sky: it
exercises the pipeline, it does not demonstrate accuracy.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from skyseg.runtime.atomic_file import temp_beside

log = logging.getLogger(__name__)

STOCK_CFG = "yolo11n-seg.yaml"
_BN_FRAMES = 8
_SCORE_THRESHOLD = 0.25  # the runtime's default conf


def _synthetic_batch(count: int, imgsz: int, seed: int) -> "torch.Tensor":  # noqa: F821
    import torch

    from skyseg.runtime.process.preprocess import preprocess
    from skyseg.synth import render_scene

    tensors = [preprocess(render_scene(seed + i, kind="mixed", size=(imgsz * 2, imgsz * 3 // 2)).image,
                          (imgsz, imgsz))[0] for i in range(count)]
    return torch.from_numpy(np.concatenate(tensors, axis=0))


def _recalibrate_bn(net: "torch.nn.Module", images: "torch.Tensor") -> None:  # noqa: F821
    """Re-estimate every BatchNorm's running mean/var from `images` (cumulative average, no weight update)."""
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        net(images)
    net.eval()


def _class_logits(net: "torch.nn.Module", images: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
    import torch

    with torch.no_grad():
        (output0, _), _ = net(images)
    return torch.logit(output0[:, 4:5].clamp(1e-6, 1 - 1e-6))


def build_fresh_checkpoint(path: str | Path, cfg: str = STOCK_CFG, seed: int = 0, active_fraction: float = 0.01,
                           imgsz: int = 160) -> Path:
    """Write an Ultralytics-loadable .pt (one class 'sky') built from `cfg`; returns the path.

    `cfg` is a stock Ultralytics YAML name or a skyseg config understood by `skyseg.models.load_model`.
    About `active_fraction` of anchors score above 0.25 on synthetic night frames at `imgsz`.
    """
    import skyseg.models  # noqa: F401 - offline Ultralytics before its import
    import torch
    from ultralytics.nn.modules import Segment
    from ultralytics.nn.tasks import SegmentationModel

    torch.manual_seed(seed)
    if cfg == STOCK_CFG:
        net = SegmentationModel(cfg, nc=1, verbose=False)
    else:
        from skyseg.models import load_model

        net = load_model(cfg).model
    head = net.model[-1]
    if not isinstance(head, Segment):
        raise TypeError(f"{cfg} does not build a Segment head (got {type(head).__name__})")
    images = _synthetic_batch(_BN_FRAMES, imgsz, seed)
    _recalibrate_bn(net, images)
    logits = _class_logits(net, images)
    target = float(np.log(_SCORE_THRESHOLD / (1 - _SCORE_THRESHOLD)))
    shift = target - float(torch.quantile(logits.flatten().double(), 1.0 - active_fraction))
    with torch.no_grad():
        for branch in head.cv3:
            branch[-1].bias.add_(shift)
    net.names = {0: "sky"}
    net.args = {"task": "segment", "imgsz": imgsz}
    for p in net.parameters():
        p.requires_grad_(False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        torch.save({"model": net, "train_args": {"task": "segment", "imgsz": imgsz}, "epoch": -1}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote freshly initialised checkpoint %s (%s, seed %d, ~%.1f%% anchors active)", path, cfg, seed,
             100 * active_fraction)
    return path
