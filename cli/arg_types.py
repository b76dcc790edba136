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
