"""The benchmark and the CUDA check scripts run and report what they measured."""
from __future__ import annotations

import torch
import pytest

from skyseg.bench import models as bench
from skyseg.models.tools import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="this test covers the no-GPU message")
def test_gpu_check_without_cuda_says_so(capsys):
    assert gpu_check.main([]) == 2
    assert "no CUDA device is visible to PyTorch" in capsys.readouterr().err


def test_gpu_check_block_rows_run_on_cpu():
    """The autocast block checks as a CPU dry run (bfloat16: 8-bit mantissa, ~8× float16's rounding); a broken
    fusion gives errors of order 0.1–1, bfloat16 rounding alone stays under 0.02."""
    rows = gpu_check.block_rows(torch.device("cpu"), torch.bfloat16)
    assert len(rows) == 14 and {name.split(":")[0] for name, _, _ in rows} >= {"OREPA k3 s2 g2", "VSSBlock"}
    assert all(0 < value < 0.02 for _, value, _ in rows)


def test_bench_times_models_round_robin():
    models = {"a": torch.nn.Identity(), "b": torch.nn.Conv2d(3, 3, 1)}
    t = bench.time_round_robin(models, torch.rand(1, 3, 8, 8), runs=3, warmup=1)
    assert set(t) == {"a", "b"} and all(v > 0 for v in t.values())


def test_paired_ratio_cancels_drift_between_rounds():
    slow = [13.0, 26.0, 39.0, 13.0, 130.0]  # the machine slows down 10x in the last round
    fast = [10.0, 20.0, 30.0, 10.0, 100.0]
    assert bench.paired_ratio(slow, fast) == pytest.approx((1.3, 1.3, 1.3))
    assert bench.paired_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 1.0]) == (4.0, 2.0, 9.0)
