"""`skyseg dataset check DATA [--fix clip|drop] [--dry-run]`: validate a YOLO-seg dataset."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="list label/image problems (file and line); optionally fix them")
    check.add_argument("data", type=Path, help="data.yaml, or a dataset folder")
    check.add_argument("--fix", choices=["clip", "drop"], default=None,
                       help="clip: clamp coordinates to [0, 1]; drop: remove every bad label line")
    check.add_argument("--dry-run", action="store_true", help="show the fixes without writing anything")
    check.add_argument("--no-decode", action="store_true", help="do not open images (faster; misses corrupt ones)")


def run(args: argparse.Namespace) -> int:
    from skyseg.synth.dataset_check import CheckConfig, check_dataset

    report = check_dataset(CheckConfig(data=args.data, fix=args.fix, dry_run=args.dry_run,
                                       decode_images=not args.no_decode))
    return 0 if report.ok else 1
