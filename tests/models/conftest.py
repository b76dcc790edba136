"""Fixtures for tests/models: randomised BatchNorm and branch scales, so fusion errors cannot hide, and the
device the equivalence tests run on.

`SKYSEG_TEST_DEVICE=cuda pytest tests/models/test_blocks.py tests/models/test_selective_scan.py …` runs the same
tests with every module and tensor on the GPU (torch's default device), TF32 off so float32 means float32
(`skyseg.models.tools.gpu_check` adds the float16-autocast checks). Random inputs are drawn on the CPU with seeded
generators and moved, so both devices see the same numbers.
"""
from __future__ import annotations

import os

import pytest
import torch

from skyseg.models.tools.randomise import randomise as randomise_module

DEVICE = os.environ.get("SKYSEG_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session", autouse=True)
def test_device():
    """Make SKYSEG_TEST_DEVICE torch's default device for every test in this folder (cpu when unset)."""
    if DEVICE == "cpu":
        yield torch.device("cpu")
        return
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.exit(f"SKYSEG_TEST_DEVICE={DEVICE} but torch {torch.__version__} sees no CUDA device", returncode=2)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_default_device(DEVICE)
    yield torch.device(DEVICE)
    torch.set_default_device("cpu")


@pytest.fixture(scope="session")
def randomise():
    """Callable that randomises BN statistics/affine and OREPA scales of a module in place."""
    return randomise_module
