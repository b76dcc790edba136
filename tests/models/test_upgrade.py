"""`skyseg.models.tools.upgrade`: a checkpoint of the previous config carried into the current one, function-preserving."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import skyseg.models
from skyseg.models.training.loading import CFG_DIR
from skyseg.models.repconv import RepVGGConv
from skyseg.models.tools.upgrade import upgrade_checkpoint
from skyseg.runtime.errors import InputError, ModelContractError


def _previous_config(tmp_path: Path, scale: str = "n") -> Path:
    """The config before RepVGG stride-2 convs and the SegmentRep head: plain Conv and Segment rows."""
    text = (CFG_DIR / "yolo11-sky-seg.yaml").read_text()
    text = re.sub(r"RepVGGConv, \[(\d+), 3, 2\]", r"Conv, [\1, 3, 2]", text).replace("SegmentRep,", "Segment,")
    path = tmp_path / f"yolo11{scale}-old-sky-seg.yaml"
    path.write_text(text)
    return path


def _old_checkpoint(tmp_path: Path, randomise, scale: str = "n") -> Path:
    torch.manual_seed(0)
    old = skyseg.models.load_model(str(_previous_config(tmp_path, scale))).model
    assert not any(isinstance(m, RepVGGConv) and m.s == 2 for m in old.modules())
    randomise(old)
    path = tmp_path / f"old-{scale}.pt"
    torch.save({"model": old.half(), "train_args": {"task": "segment", "imgsz": 64}, "epoch": -1}, path)
    return path


def test_upgrade_keeps_the_function_and_zeroes_new_branches(tmp_path, randomise):
    from ultralytics.nn.tasks import load_checkpoint

    src, dst = _old_checkpoint(tmp_path, randomise), tmp_path / "new.pt"
    report = upgrade_checkpoint(src, dst, imgsz=64)
    assert report["branches"] == 7 + 14  # stride-2 convs; box, mask and proto convs of the head
    assert report["max_abs_diff"] <= 1e-6
    old, _ = load_checkpoint(str(src))
    new, _ = load_checkpoint(str(dst))
    reps = [m for m in new.modules() if isinstance(m, RepVGGConv)]
    upgraded = [m for m in reps if float(m.bn_1x1.weight.abs().max()) == 0.0]
    assert len(upgraded) == 21 and all(m.bn_id is None or float(m.bn_id.weight.abs().max()) == 0.0 for m in upgraded)
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))  # not the size it was checked at
    with torch.no_grad():
        (y0, p0), _ = old.float().eval()(x)
        (y1, p1), _ = new.float().eval()(x)
    assert (y0 - y1).abs().max().item() <= 1e-5 and (p0 - p1).abs().max().item() <= 1e-5


def test_upgrade_refuses_another_scale_and_writes_nothing(tmp_path, randomise):
    src, dst = _old_checkpoint(tmp_path, randomise, scale="s"), tmp_path / "new.pt"
    with pytest.raises(ModelContractError, match="does not fit|no place"):
        upgrade_checkpoint(src, dst, imgsz=64)
    assert not dst.exists() and not list(tmp_path.glob(".new.pt*"))


def test_upgrade_missing_checkpoint(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        upgrade_checkpoint(tmp_path / "none.pt", tmp_path / "new.pt")
