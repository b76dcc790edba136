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


@pytest.fixture(scope="session")
def rect_cli_export(skyseg_pt: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    """`skyseg export` at 128×256 (a rectangular input) through the CLI: (exit code, stdout, onnx path)."""
    import io
    import sys

    from skyseg.cli.main import main

    out = tmp_path_factory.mktemp("cli") / "rect.onnx"
    buf = io.StringIO()
    patch = pytest.MonkeyPatch()
    patch.setattr(sys, "stdout", buf)
    try:
        rc = main(["export", str(skyseg_pt), "-o", str(out), "--imgsz", "128", "256", "--synth-frames", "2"])
    finally:
        patch.undo()
    return rc, buf.getvalue(), out
