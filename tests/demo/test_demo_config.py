"""Demo configuration and the bundled-weights lookup (fast, no pipeline run)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from skyseg.demo.demo import BUNDLED_WEIGHTS, DemoConfig, DemoSummary, bundled_weights
from skyseg.runtime.errors import InputError


def test_bundled_weights_lookup() -> None:
    expected = Path(str(resources.files("skyseg.models") / "weights" / BUNDLED_WEIGHTS))
    if expected.is_file():
        assert bundled_weights() == expected
    else:
        with pytest.raises(InputError, match=r"bundled weights skyseg-n.pt are not in this installation .*--weights"):
            bundled_weights()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 0}, "demo needs frames ≥ 1, bench_frames ≥ 1 and calib_frames ≥ 4; got 0, 20, 40"),
        ({"calib_frames": 2}, "calib_frames ≥ 4; got 48, 20, 2"),
        ({"run_model": "fp16"}, "run_model must be int8 or fp32, got fp16"),
    ],
)
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        DemoConfig(out=Path("x"), **kwargs)


def test_summary_markdown_lists_stages_and_files(tmp_path: Path) -> None:
    summary = DemoSummary(out=tmp_path, stages={"a": 1.25, "b": 2.0}, cpu={"a": 1.0, "b": 0.5},
                          files={"video": tmp_path / "v.mp4"}, numbers={"fps": 3.5}, notes=["careful"])
    text = summary.markdown()
    assert "| a | 1.2 | 1.0 |" in text and "| **total** | **3.2** | **1.5** |" in text
    assert f"- video: `{tmp_path / 'v.mp4'}`" in text and "- fps: 3.5" in text and "- careful" in text
