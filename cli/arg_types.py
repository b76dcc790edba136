"""argparse types that refuse impossible flag values up front, with one sentence (argparse exits 2).

`--threads 0`, `--conf 2`, `--iou 5` or `--max-det 0` used to reach the library and end in a traceback or a
silently empty result; these types turn them into `skyseg run: error: argument --conf: ...`.
"""
from __future__ import annotations

import argparse
from typing import Callable


def positive_int(text: str) -> int:
    """An integer ≥ 1 (threads, frame counts, detections)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def _bounded(low: float, high: float, low_open: bool, high_open: bool) -> Callable[[str], float]:
    shown = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {shown}, got {text!r}") from None
        if not (value > low if low_open else value >= low) or not (value < high if high_open else value <= high):
            raise argparse.ArgumentTypeError(f"must be in {shown}, got {text}")
        return value

    parse.__name__ = f"number in {shown}"
    return parse


# a score or IoU threshold: 0 keeps everything, 1 nothing but exact certainties
probability = _bounded(0.0, 1.0, low_open=False, high_open=False)
# a share of frames or pixels that must be positive to mean anything (0 would accept every pixel)
share = _bounded(0.0, 1.0, low_open=True, high_open=False)
# seconds between progress lines
positive_seconds = _bounded(0.0, float("inf"), low_open=True, high_open=True)
# megabytes of free disk (0 turns a check off)
megabytes = _bounded(0.0, float("inf"), low_open=False, high_open=True)


def add_imgsz_arg(parser: argparse.ArgumentParser, default: int | None = None, help: str | None = None) -> None:
    """`--imgsz S` (square) or `--imgsz H W` (e.g. 384 640 for 16:9 cameras); read back with `parse_imgsz`."""
    shown = f" (default {default})" if default is not None else ""
    parser.add_argument("--imgsz", type=positive_int, nargs="+", default=[default] if default is not None else None,
                        metavar="S | H W", help=(help or "input size: one value for square, or height width") + shown)


def parse_imgsz(values: list[int] | None) -> tuple[int, int] | None:
    """(height, width) of `--imgsz S` or `--imgsz H W`; None when the flag was not given."""
    if not values:
        return None
    if len(values) in (1, 2):
        return values[0], values[-1]
    from skyseg.runtime.errors import InputError

    raise InputError(f"--imgsz takes one value (square) or two (height width), got {len(values)}: {values}")
