"""`skyseg inspect FILE`: I/O, metadata and precision of an .onnx, .engine or .engine.json (thin CLI).

For an ONNX model it also says what `--backend auto` runs it on here and why, from the cached race alone (never
measuring): the choice, each candidate's ms and sky IoU on the real frames, why the others were rejected, and
whether the cache is still valid for this CPU, thread count, library versions and files."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an .onnx, .engine/.plan, or .engine.json sidecar")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from skyseg.export.inspect_model import format_report, inspect_file  # noqa: PLC0415

    report = inspect_file(args.file)
    text = json.dumps(report, indent=2, default=str) if args.json else format_report(report)
    sys.stdout.write(text + "\n")
    return 0
