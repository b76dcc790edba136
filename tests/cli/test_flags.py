"""Impossible flag values are refused by the CLI with one sentence and exit 2, before any work starts."""
from __future__ import annotations

from pathlib import Path

import pytest

from skyseg.cli.main import main


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "test://sky?n=1", "--threads", "0"], "argument --threads: must be ≥ 1, got 0"),
    (["run", "test://sky?n=1", "--conf", "2"], "argument --conf: must be in [0, 1], got 2"),
    (["run", "test://sky?n=1", "--iou", "5"], "argument --iou: must be in [0, 1], got 5"),
    (["run", "test://sky?n=1", "--max-det", "0"], "argument --max-det: must be ≥ 1, got 0"),
    (["run", "test://sky?n=1", "--static-share", "0"], "argument --static-share: must be in (0, 1], got 0"),
    (["run", "test://sky?n=1", "--progress", "-1"], "argument --progress: must be in (0, inf), got -1"),
    (["run", "test://sky?n=1", "--min-free", "-5"], "argument --min-free: must be in [0, inf), got -5"),
    (["run", "test://sky?n=1", "--conf", "abc"], "argument --conf: expected a number in [0, 1], got 'abc'"),
    (["bench", "m.onnx", "--frames", "0"], "argument --frames: must be ≥ 1, got 0"),
    (["evaluate", "d", "--min-iou", "1.5"], "argument --min-iou: must be in [0, 1], got 1.5"),
    (["quantize", "m.onnx", "--calib", "c", "-o", "o.onnx", "--holdout", "0"], "argument --holdout: must be in (0, 1]"),
])
def test_bad_values_are_one_sentence(argv: list[str], message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv + (["--save-dir", str(tmp_path / "out")] if argv[0] == "run" else []))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert not (tmp_path / "out").exists()  # nothing was started or written


def test_good_values_still_parse() -> None:
    from skyseg.cli.arg_types import positive_int, probability, share

    assert (positive_int("3"), probability("0"), probability("1"), share("1"), share("0.5")) == (3, 0.0, 1.0, 1.0, 0.5)


def test_one_imgsz_parser() -> None:
    import argparse

    from skyseg.cli.arg_types import add_imgsz_arg, parse_imgsz
    from skyseg.runtime.errors import InputError

    parser = argparse.ArgumentParser()
    add_imgsz_arg(parser, default=320)
    assert parse_imgsz(parser.parse_args([]).imgsz) == (320, 320)
    assert parse_imgsz(parser.parse_args(["--imgsz", "384", "640"]).imgsz) == (384, 640)
    assert parse_imgsz(None) is None
    with pytest.raises(InputError, match="--imgsz takes one value .square. or two .height width., got 3"):
        parse_imgsz(parser.parse_args(["--imgsz", "1", "2", "3"]).imgsz)
    with pytest.raises(SystemExit):
        parser.parse_args(["--imgsz", "0"])
