"""Shared export fixtures: small fresh checkpoints (input-dependent, some anchors above conf) built once."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def skyseg_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised skyseg (yolo11n-sky-seg) checkpoint with ~2% of anchors above conf 0.25."""
    from skyseg.export.fresh_weights import build_fresh_checkpoint

    return build_fresh_checkpoint(tmp_path_factory.mktemp("ckpt") / "sky.pt", cfg="yolo11n-sky-seg.yaml", imgsz=128,
                                  active_fraction=0.02)
