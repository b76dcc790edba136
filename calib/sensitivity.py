"""Sensitivity-guided mixed precision: which `/model.K/` blocks must stay float to keep the sky mask.

Method (chosen to fit a few minutes on 2 cores): calibrate once; quantize ONE block at a time (everything else
float) and measure the worst hold-out frame's sky-mask IoU drop against FP32 — the block's own cost, free of
interactions. The hold-out is the calibration set's held-out share plus real night frames (see calib.quantize).
Then, starting from the fully quantized model, move blocks to float most-sensitive first, re-measuring the whole
model after each move (a move that raises the IoU by less than `min_gain` is undone: float costs speed), until the
drop is within budget or the time limit is reached. The score is the worst frame's, so a move can gain nothing while
another frame is worse and gain later: the blocks left INT8 are tried again (up to `max_passes` passes) while a pass
still keeps one float.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from skyseg.calib.compare import OrtModel, compare_frame, output_error
from skyseg.runtime.process.letterbox import LetterboxInfo

log = logging.getLogger(__name__)


class HoldoutEvaluator:
    """Hold-out tensors with their FP32 outputs; scores a quantized model by its worst frame's sky-mask IoU vs FP32
    (an INT8 model must hold on every frame, not on average)."""

    def __init__(self, fp32_model: Path, tensors: list[np.ndarray], infos: list[LetterboxInfo], threads: int = 1,
                 names: list[str] | None = None):
        self.tensors, self.infos, self.threads = tensors, infos, threads
        self.names = names or [f"hold-out {i}" for i in range(len(tensors))]
        fp32 = OrtModel(fp32_model, threads)
        self.refs = [fp32(t) for t in tensors]
        self.last: dict[str, float] = {}  # frame name → sky-mask IoU of the last model evaluated

    def evaluate(self, model_path: Path) -> tuple[float, float]:
        """(worst frame's sky-mask IoU vs FP32, mean raw-output error) of a model on the hold-out frames."""
        model = OrtModel(model_path, self.threads)
        ious, errs = [], []
        for tensor, info, ref in zip(self.tensors, self.infos, self.refs):
            out = model(tensor)
            ious.append(compare_frame(ref, out, info).sky_iou)
            errs.append(output_error(ref, out))
        self.last = dict(zip(self.names, ious))
        return float(np.min(ious)), float(np.mean(errs))

    def worst(self) -> tuple[str, float]:
        """The last model's worst frame and its IoU."""
        name = min(self.last, key=self.last.get)
        return name, self.last[name]


@dataclass
class BlockCost:
    block: int
    iou_drop: float  # 1 - worst hold-out frame's IoU vs FP32 with only this block quantized
    output_error: float
    nodes: int


@dataclass
class MixedPrecisionResult:
    """What the search measured and decided."""

    full_iou: float  # worst hold-out frame's sky-mask IoU vs FP32, all blocks quantized
    final_iou: float  # the same for the model written
    budget: float
    kept_float: list[int] = field(default_factory=list)
    costs: list[BlockCost] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)  # each move to float and the IoU after it
    budget_met: bool = True
    truncated: bool = False  # time limit reached before every block was measured
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["method"] = ("quantize one /model.K/ block at a time (others float) to rank blocks by the worst hold-out "
                       "frame's sky-mask IoU drop vs FP32, then keep the most sensitive blocks float until every "
                       "frame's drop ≤ budget")
        return d


def search_mixed_precision(
    block_nodes: dict[int, list[str]],
    quantize: Callable[[list[str], list[str] | None, Path], Path],
    evaluate: Callable[[Path], tuple[float, float]],
    base_excluded: list[str],
    budget: float,
    scratch: Path,
    time_limit_s: float = 240.0,
    min_gain: float = 0.001,
    max_passes: int = 3,
) -> MixedPrecisionResult:
    """Run the block-sensitivity search.

    `quantize(exclude, only, out_path)` writes a Q/DQ model (only=None: everything not excluded);
    `evaluate(path)` returns (worst frame's IoU vs FP32, output error).
    """
    start = time.monotonic()
    excluded = set(base_excluded)
    candidates = {k: [n for n in v if n not in excluded] for k, v in block_nodes.items()}
    candidates = {k: v for k, v in candidates.items() if v}
    full_iou, _ = evaluate(quantize(sorted(excluded), None, scratch / "full.onnx"))
    result = MixedPrecisionResult(full_iou=full_iou, final_iou=full_iou, budget=budget)
    log.info("all blocks INT8: worst hold-out frame's sky-mask IoU vs FP32 %.4f (budget: drop ≤ %.4f on every "
             "frame)", full_iou, budget)
    if 1.0 - full_iou <= budget:
        result.seconds = time.monotonic() - start
        return result
    for i, (k, nodes) in enumerate(sorted(candidates.items())):
        if time.monotonic() - start > time_limit_s * 0.7:
            result.truncated = True
            log.warning("sensitivity scan stopped at the time limit after %d of %d blocks", i, len(candidates))
            break
        iou, err = evaluate(quantize(sorted(excluded), nodes, scratch / f"block{k}.onnx"))
        result.costs.append(BlockCost(k, 1.0 - iou, err, len(nodes)))
        log.info("sensitivity %d/%d: block %d alone INT8 → IoU %.4f (output error %.4g)", i + 1, len(candidates),
                 k, iou, err)
    ranked = sorted(result.costs, key=lambda c: (c.iou_drop, c.output_error), reverse=True)
    current = full_iou
    tried_at: dict[int, float] = {}  # a block left INT8 → the score when it was tried
    for _ in range(max_passes):  # a block that gained nothing may gain once another frame stops being the worst
        kept_before = len(result.kept_float)
        for cost in [c for c in ranked if c.block not in result.kept_float and tried_at.get(c.block) != current]:
            if 1.0 - current <= budget:
                break
            if time.monotonic() - start > time_limit_s:
                result.truncated = True
                log.warning("mixed-precision search stopped at the time limit")
                break
            trial = [*result.kept_float, cost.block]
            excl = sorted(excluded.union(*(candidates[b] for b in trial)))
            iou, _ = evaluate(quantize(excl, None, scratch / "mixed.onnx"))
            gained = iou > current + min_gain  # smaller gains are noise; float costs speed
            result.steps.append({"block": cost.block, "iou_after": iou, "kept_float": gained,
                                 "reason": f"alone it costs {cost.iou_drop:.4f} IoU (output error "
                                           f"{cost.output_error:.3g})" + ("" if gained else
                                           f"; float gained < {min_gain} IoU, so it stays INT8")})
            log.info("block %d float → IoU %.4f (%s)", cost.block, iou,
                     "kept float" if gained else "no gain, stays INT8")
            if gained:
                result.kept_float.append(cost.block)
                current = iou
            else:
                tried_at[cost.block] = current
        if 1.0 - current <= budget or result.truncated or len(result.kept_float) == kept_before:
            break
    result.final_iou = current
    result.budget_met = 1.0 - current <= budget
    result.seconds = time.monotonic() - start
    return result
