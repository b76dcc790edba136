"""`skyseg export`'s input size: the checkpoint's trained size by default, --imgsz when given, --aspect on request."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from skyseg.cli.deploy.export_size import aspect_hw, export_imgsz, parse_aspect
from skyseg.runtime.errors import InputError

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "models" / "weights" / "skyseg-n.pt"


def test_default_is_the_size_the_checkpoint_was_trained_at(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert export_imgsz(CHECKPOINT, None, None) == (320, 320)
    assert "export size 320x320 (HxW): the size skyseg-n.pt was trained at (its train_args)" in caplog.text


def test_camera_aspect_keeps_the_trained_size_on_the_long_side() -> None:
    assert export_imgsz(CHECKPOINT, None, "16:9") == (192, 320)  # 180 rounded up to the stride
    assert export_imgsz(CHECKPOINT, None, "1392x1040") == (256, 320)  # the MAGIC camera of datasets/realsky
    assert export_imgsz(CHECKPOINT, [640], "16:9") == (384, 640)
    assert aspect_hw(320, (1040, 1392)) == (320, 256)  # a portrait camera


def test_explicit_sizes_win_and_a_yaml_gets_640(caplog: pytest.LogCaptureFixture) -> None:
    assert export_imgsz(CHECKPOINT, [384, 640], None) == (384, 640)
    assert export_imgsz(CHECKPOINT, [256], None) == (256, 256)
    with caplog.at_level(logging.INFO):
        assert export_imgsz(REPO / "models" / "cfg" / "yolo11-sky-seg.yaml", None, None) == (640, 640)
    assert "records no training size" in caplog.text


@pytest.mark.parametrize(("imgsz", "aspect", "needle"), [
    ([384, 640], "16:9", "already fixes the aspect"), ([1, 2, 3], None, "one value"), (None, "wide", "WIDTH:HEIGHT"),
    (None, "16:0", "WIDTH:HEIGHT"),
])
def test_bad_size_flags_are_one_sentence(imgsz, aspect, needle) -> None:
    with pytest.raises(InputError, match=needle):
        export_imgsz(CHECKPOINT, imgsz, aspect)
    if aspect and imgsz is None:
        with pytest.raises(InputError):
            parse_aspect(aspect)
