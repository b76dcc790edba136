"""Carry a checkpoint trained with an earlier skyseg config into the current one, keeping its function.

`python -m skyseg.models.tools.upgrade OLD.pt -o NEW.pt [--model yolo11n-sky-seg.yaml]`

Where the current config has a RepVGGConv and the old model has a plain Ultralytics Conv at the same place
(the stride-2 convs, SegmentRep's head convs), the old conv and its BatchNorm become the 3×3 branch, and the new
1×1 and identity branches start with BatchNorm γ = β = 0, so they add exactly zero until fine-tuning grows them
(their 1×1 weights keep their random init, so γ gets a gradient). Every other tensor is copied by name and
shape. The result is checked: the new train form must reproduce the old model's outputs (float32) on a fixed
input, else nothing is written. Then fine-tune it with `skyseg train --model NEW.pt`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from skyseg.runtime.atomic_file import AtomicFile
from skyseg.runtime.errors import InputError, ModelContractError, SkysegError

log = logging.getLogger(__name__)

MAX_ABS_DIFF = 1e-4  # float32 outputs of old vs upgraded train form (boxes in px: far below)


def _carry_branch(new: nn.Module, old: nn.Module) -> None:
    """Old Conv(+BN) → the RepVGGConv's 3×3 branch; its other branches' BatchNorms add zero."""
    new.conv_kxk.weight.copy_(old.conv.weight)
    new.bn_kxk.load_state_dict(old.bn.state_dict())
    for bn in (new.bn_1x1, new.bn_id):
        if bn is not None:
            nn.init.zeros_(bn.weight)
            nn.init.zeros_(bn.bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)


@torch.no_grad()
def upgrade_model(old: nn.Module, new: nn.Module) -> dict[str, int]:
    """Copy `old`'s weights into `new` in place (see module docstring); returns counts of what was carried."""
    from ultralytics.nn.modules.conv import Conv

    from skyseg.models.repconv import RepVGGConv

    old_modules = dict(old.named_modules())
    branches = 0
    carried: set[str] = set()
    for name, m in new.named_modules():
        was = old_modules.get(name)
        if isinstance(m, RepVGGConv) and not m.deploy and type(was) is Conv and hasattr(was, "bn"):
            if was.conv.weight.shape != m.conv_kxk.weight.shape:
                raise ModelContractError(f"layer {name}: old conv {tuple(was.conv.weight.shape)} does not fit the "
                                         f"new 3×3 branch {tuple(m.conv_kxk.weight.shape)}")
            _carry_branch(m, was)
            carried |= {f"{name}.{k}" for k in was.state_dict()}
            branches += 1
    old_state, new_state = old.state_dict(), new.state_dict()
    same = [k for k, v in new_state.items() if k in old_state and old_state[k].shape == v.shape]
    for k in same:
        new_state[k].copy_(old_state[k])
    unused = [k for k in old_state if k not in carried and k not in same]
    if unused:
        raise ModelContractError(f"{len(unused)} tensors of the old model have no place in the new config "
                                 f"(first: {unused[:3]}); is it the same scale and head?")
    return {"branches": branches, "copied": len(same), "new_tensors": len(new_state) - len(same)}


def _outputs_diff(old: nn.Module, new: nn.Module, imgsz: int) -> float:
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (y0, p0), _ = old.eval()(x)
        (y1, p1), _ = new.eval()(x)
    return max((y0 - y1).abs().max().item(), (p0 - p1).abs().max().item())


def upgrade_checkpoint(src: Path, dst: Path, config: str = "yolo11n-sky-seg.yaml", imgsz: int = 320) -> dict[str, float]:
    """Write `dst`: `src`'s model in the current `config`, function-preserving (checked), as an Ultralytics ckpt."""
    import skyseg.models
    from ultralytics.nn.tasks import load_checkpoint

    if not src.is_file():
        raise InputError(f"checkpoint {str(src)!r} does not exist")
    old, ckpt = load_checkpoint(str(src))
    old = old.float().eval()
    new = skyseg.models.load_model(config).model
    old_nc, new_nc = getattr(old.model[-1], "nc", None), new.model[-1].nc
    if old_nc != new_nc:
        raise ModelContractError(f"{src.name} has {old_nc} classes, the config {new_nc}")
    counts = upgrade_model(old, new)
    new.names, new.args = old.names, getattr(old, "args", {})
    diff = _outputs_diff(old, new, imgsz)
    if diff > MAX_ABS_DIFF:
        raise SkysegError(f"the upgraded model differs from {src.name} by {diff:.3g} (> {MAX_ABS_DIFF}); not written")
    out = {k: v for k, v in ckpt.items() if k in ("train_args", "date", "version", "license", "docs")}
    out.update(epoch=-1, best_fitness=None, model=new.half(), ema=None, updates=None, optimizer=None)
    with AtomicFile(dst, "wb") as f:
        torch.save(out, f.handle)
    log.info("upgraded %s → %s: %d conv(s) became RepVGG branches, %d tensors copied, %d new; max |Δ output| %.2g",
             src.name, dst, counts["branches"], counts["copied"], counts["new_tensors"], diff)
    return {**counts, "max_abs_diff": diff}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.models.tools.upgrade", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--model", default="yolo11n-sky-seg.yaml", help="the current config to carry it into")
    parser.add_argument("--imgsz", type=int, default=320, help="input size of the equality check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    try:
        upgrade_checkpoint(args.checkpoint, args.output, args.model, args.imgsz)
    except SkysegError as err:
        sys.stderr.write(f"skyseg upgrade: {err}\n")
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
