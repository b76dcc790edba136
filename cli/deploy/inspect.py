"""`skyseg inspect FILE`: I/O, metadata and precision of an .onnx, .engine or .engine.json (thin CLI).

For an ONNX model it also says what `--backend auto` runs it on here and why, from the cached race alone (never
measuring): the choice, each candidate's ms and sky IoU on the real frames, why the others were rejected, and
whether the cache is still valid for this CPU, thread count, library versions and files.

A path that is no file (a folder named `m.onnx`, nothing at all) and an ONNX model whose external data lies outside
its folder or is missing are refused with one sentence (exit 2) before anything reads them."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an .onnx, .engine/.plan, or .engine.json sidecar")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def check_external_data(path: Path) -> None:
    """InputError unless every tensor stored outside `path` is a file inside the model's folder."""
    from skyseg.runtime.errors import InputError

    try:
        import onnx
        from onnx.external_data_helper import uses_external_data
    except ImportError:  # without onnx the report below says so itself
        return
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # an unreadable file gets the report's own sentence
        return
    folder = path.resolve().parent
    tensors = [*model.graph.initializer, *(a.t for n in model.graph.node for a in n.attribute if a.HasField("t"))]
    for tensor in tensors:
        if not uses_external_data(tensor):
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or folder not in target.parents:
            raise InputError(f"{path}: tensor '{tensor.name}' keeps its data in '{location}', outside the model's "
                             f"folder {folder}; ONNX reads external data only from files beside the model")
        if not target.is_file():
            raise InputError(f"{path}: tensor '{tensor.name}' keeps its data in {target}, which does not exist; copy "
                             "the model's data file beside it")


def run(args: argparse.Namespace) -> int:
    from skyseg.export.inspect_model import format_report, inspect_file
    from skyseg.runtime.errors import InputError

    path: Path = args.file
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a model file; pass an .onnx, .engine/.plan or .engine.json "
                         "file")
    if not path.exists():
        raise InputError(f"{path} does not exist; pass an .onnx, .engine/.plan or .engine.json file")
    if path.name.lower().endswith(".onnx"):
        check_external_data(path)
    report = inspect_file(path)
    text = json.dumps(report, indent=2, default=str) if args.json else format_report(report)
    sys.stdout.write(text + "\n")
    return 0
