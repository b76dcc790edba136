"""The mixed-precision search: ranking by single-block cost, greedy keep-float until within budget, time bound."""
from __future__ import annotations

from pathlib import Path

import pytest

from skyseg.calib.sensitivity import search_mixed_precision

BLOCKS = {0: ["/model.0/conv/Conv"], 1: ["/model.1/conv/Conv"], 2: ["/model.2/conv/Conv", "/model.2/act/Mul"],
          3: ["/model.3/Concat"]}


class FakeModels:
    """quantize() remembers which blocks a file quantizes; evaluate() returns 1 - Σ cost of those blocks."""

    def __init__(self, cost: dict[int, float], floor: float = 0.0) -> None:
        self.cost, self.floor, self.files, self.calls = cost, floor, {}, 0

    def quantize(self, exclude: list[str], only: list[str] | None, out: Path) -> Path:
        chosen = set(only) if only is not None else {n for v in BLOCKS.values() for n in v}
        quantized = {k for k, v in BLOCKS.items() if any(n in chosen and n not in exclude for n in v)}
        self.files[out] = quantized
        return out

    def evaluate(self, path: Path) -> tuple[float, float]:
        self.calls += 1
        q = self.files[path]
        return 1.0 - sum(self.cost[k] for k in q) - (self.floor if q else 0.0), 0.1 * len(q)


@pytest.mark.parametrize(
    ("cost", "budget", "kept", "met"),
    [
        ({0: 0.001, 1: 0.05, 2: 0.004, 3: 0.0}, 0.01, [1], True),
        ({0: 0.02, 1: 0.05, 2: 0.004, 3: 0.0}, 0.01, [1, 0], True),
        ({0: 0.001, 1: 0.002, 2: 0.001, 3: 0.0}, 0.01, [], True),  # within budget: nothing measured or kept
        ({0: 0.3, 1: 0.3, 2: 0.3, 3: 0.0}, 0.01, [0, 1, 2], True),
    ],
)
def test_keeps_most_sensitive_blocks_float(cost: dict[int, float], budget: float, kept: list[int], met: bool,
                                          tmp_path: Path) -> None:
    fake = FakeModels(cost)
    res = search_mixed_precision(BLOCKS, fake.quantize, fake.evaluate, ["/model.3/Concat"], budget, tmp_path)
    assert res.kept_float == kept and res.budget_met is met
    assert res.final_iou == pytest.approx(1.0 - sum(c for k, c in cost.items() if k not in kept))
    if kept:
        assert {c.block for c in res.costs} == {0, 1, 2}  # block 3 is fully excluded: never a candidate
        assert [s["block"] for s in res.steps] == kept and "alone it costs" in res.steps[0]["reason"]
    else:
        assert res.costs == [] and fake.calls == 1


def test_a_float_move_without_gain_is_undone(tmp_path: Path) -> None:
    # a noise floor that no float block removes; block 0 costs 0.0005 alone, below min_gain (0.001): not worth float
    fake = FakeModels({0: 0.0005, 1: 0.05, 2: 0.02, 3: 0.0}, floor=0.01)
    res = search_mixed_precision(BLOCKS, fake.quantize, fake.evaluate, [], 0.005, tmp_path)
    assert res.kept_float == [1, 2] and not res.budget_met
    assert [(s["block"], s["kept_float"]) for s in res.steps] == [(1, True), (2, True), (0, False), (3, False)]
    assert "stays INT8" in res.steps[-1]["reason"] and res.final_iou == pytest.approx(0.9895)


def test_time_limit_stops_the_scan(tmp_path: Path) -> None:
    fake = FakeModels({0: 0.02, 1: 0.05, 2: 0.004, 3: 0.0})
    res = search_mixed_precision(BLOCKS, fake.quantize, fake.evaluate, [], 0.01, tmp_path, time_limit_s=0.0)
    assert res.truncated and res.costs == [] and not res.budget_met and res.kept_float == []


class WorstFrameModels(FakeModels):
    """Two frames, scored by the worse: frame X loses 0.05 while block 1 is INT8, frame Y 0.03 per INT8 block of 0
    and 2. Keeping block 1 float gains nothing until Y has been repaired."""

    def evaluate(self, path: Path) -> tuple[float, float]:
        self.calls += 1
        q = self.files[path]
        x = 1.0 - (0.05 if 1 in q else 0.0)
        y = 1.0 - 0.03 * len(q & {0, 2})
        return min(x, y), 0.1 * len(q)


def test_a_block_that_gained_nothing_is_tried_again_once_the_worst_frame_moved(tmp_path: Path) -> None:
    fake = WorstFrameModels({})
    res = search_mixed_precision(BLOCKS, fake.quantize, fake.evaluate, ["/model.3/Concat"], 0.01, tmp_path)
    first = [(s["block"], s["kept_float"]) for s in res.steps[:3]]
    assert first == [(1, False), (0, True), (2, False)] or first == [(1, False), (2, True), (0, False)]
    assert sorted(res.kept_float) == [0, 1, 2] and res.budget_met and res.final_iou == pytest.approx(1.0)
    one_pass = search_mixed_precision(BLOCKS, fake.quantize, fake.evaluate, ["/model.3/Concat"], 0.01, tmp_path,
                                      max_passes=1)
    assert len(one_pass.kept_float) == 1 and not one_pass.budget_met
