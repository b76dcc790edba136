"""`skyseg archive ROOT_OR_MANIFEST --save-dir DIR`: segment an archive of frames on Ray Data (scale/archive.py)."""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `skyseg run`: OpenBLAS threads fight ORT's

from pathlib import Path

from skyseg.cli.arg_types import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="a folder of frames (searched recursively) or a .parquet "
                        "manifest with path, size, mtime columns")
    parser.add_argument("--save-dir", type=Path, required=True,
                        help="masks/ (named by the path relative to the archive's root, as `skyseg run --masks`), "
                        "nights/NIGHT.csv (the ledger a rerun resumes from) and manifest.parquet go here")
    parser.add_argument("--model", default=None, help="ONNX model (default: the bundled skyseg-n.onnx)")
    parser.add_argument("--address", default=None, help="Ray cluster: auto or ray://HOST:10001 "
                        "(default: a local Ray on this machine)")
    parser.add_argument("--actors", type=positive_int, default=1, help="inference actors (default 1)")
    parser.add_argument("--cpus-per-actor", type=positive_int, default=1,
                        help="CPUs per actor = ONNX Runtime threads (default 1)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="frames per Ray batch (default 8)")
    parser.add_argument("--output", action="append", default=[], metavar="mqtt://HOST[:PORT]/BASE",
                        help="publish each night's summary (frames, errors, mean sky fraction), retained, under "
                        "BASE/archive/NIGHT/ when its table is written, and a JSON BASE/archive/state; past nights "
                        "never touch the live BASE/sky_fraction, BASE/state, ... topics; repeatable")
    site = parser.add_mutually_exclusive_group()
    site.add_argument("--tz", default=None, metavar="ZONE",
                      help="the site's time zone (IANA, e.g. Australia/Sydney): a night runs from local noon to noon "
                           "(default: this system's zone)")
    site.add_argument("--longitude", type=float, default=None, metavar="DEG",
                      help="instead of --tz: the site's longitude in degrees east; nights from local mean solar noon")
    parser.add_argument("--clouds", action="store_true",
                        help="also measure cloud cover: cloud maps in SAVE_DIR/clouds/, cloud_fraction and "
                             "clear_fraction in the nights' tables (docs/clouds.md)")


def run(args: argparse.Namespace) -> int:
    import sys

    from skyseg.runtime.bundled_model import bundled_model_path
    from skyseg.scale.archive import run_archive

    from skyseg.runtime.checkpoint_export import resolve_model  # a PyTorch best.pt: its cached ONNX export

    model = resolve_model(args.model, args.save_dir) if args.model else str(bundled_model_path())
    counts = run_archive(args.source, args.save_dir, model, actors=args.actors, cpus_per_actor=args.cpus_per_actor,
                         address=args.address, batch_size=args.batch_size, outputs=args.output,
                         clouds=args.clouds, tz=args.tz, longitude=args.longitude)
    sys.stdout.write(f"archive: {counts['frames']} segmented, {counts['skipped']} skipped (done before), "
                     f"{counts['errors']} errors; masks in {args.save_dir / 'masks'}\n")
    return 0
