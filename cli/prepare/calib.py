"""`skyseg calib select|synth`: build a calibration set (frames + manifest.json) for `skyseg quantize`."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{select,synth}")
    sel = sub.add_parser("select", help="choose frames covering the conditions of a folder, glob, video or FITS night")
    sel.add_argument("source", help="folder, glob, video file or any URI `skyseg run` accepts")
    sel.add_argument("-o", "--output", type=Path, required=True, help="calibration directory to write")
    sel.add_argument("--n", type=int, default=500, help="frames to keep (default 500)")
    sel.add_argument("--seed", type=int, default=0)
    sel.add_argument("--clusters", type=int, default=None, help="k-means clusters (default ≈ sqrt(n), ≤ 24)")
    syn = sub.add_parser("synth", help="draw a calibration set from generated night skies (exact masks kept)")
    syn.add_argument("-o", "--output", type=Path, required=True, help="calibration directory to write")
    syn.add_argument("--n", type=int, default=200, help="frames to render (default 200)")
    syn.add_argument("--seed", type=int, default=1000)
    syn.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    syn.add_argument("--kind", choices=("mixed", "allsky", "camera"), default="mixed")
    syn.add_argument("--bit-depth", type=int, choices=(8, 16), default=8)


def run(args: argparse.Namespace) -> int:
    from skyseg.calib.selection import SelectConfig, SynthCalibConfig, select_calibration_set, synth_calibration_set

    if args.action == "select":
        path = select_calibration_set(SelectConfig(args.source, args.output, args.n, args.seed, args.clusters))
    else:
        path = synth_calibration_set(SynthCalibConfig(args.output, args.n, args.seed, tuple(args.size), args.kind,
                                                      args.bit_depth))
    log.info("manifest: %s", path)
    return 0
