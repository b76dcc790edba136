"""`skyseg` command line: a thin dispatcher.

Each subcommand lives in its own module under `skyseg.cli` exposing `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their subcommand is chosen, so `skyseg run` never pays
for PyTorch.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import Sequence

from skyseg.runtime.backends.library_telemetry import switch_off
from skyseg.runtime.errors import SkysegError

log = logging.getLogger("skyseg")


@dataclass(frozen=True)
class Subcommand:
    module: str
    summary: str


COMMANDS: dict[str, Subcommand] = {
    "train": Subcommand("skyseg.cli.prepare.train", "train the improved YOLO11-seg with Ultralytics"),
    "synth": Subcommand("skyseg.cli.prepare.synth", "generate a synthetic night-sky YOLO-seg dataset with exact masks"),
    "dataset": Subcommand("skyseg.cli.prepare.dataset", "validate (and optionally fix) a YOLO-seg dataset"),
    "label": Subcommand("skyseg.cli.prepare.label", "make a checked sky mask for one fixed camera (stack, circle, polygons)"),
    "export": Subcommand("skyseg.cli.deploy.export", "reparameterize, export to ONNX and verify it"),
    "build": Subcommand("skyseg.cli.deploy.build", "build a TensorRT engine from an ONNX model"),
    "inspect": Subcommand("skyseg.cli.deploy.inspect", "show I/O, metadata and precision of an .onnx/.engine/.json"),
    "calib": Subcommand("skyseg.cli.prepare.calib", "select a night-sky calibration set"),
    "quantize": Subcommand("skyseg.cli.deploy.quantize", "INT8 Q/DQ quantization with sensitivity-guided mixed precision"),
    "run": Subcommand("skyseg.cli.operate.run", "run a camera/video/image source through the model and write results"),
    "serve": Subcommand("skyseg.cli.operate.serve", "run a source like `run` and show it live in the browser (dashboard + API)"),
    "archive": Subcommand("skyseg.cli.operate.archive", "segment an archive of frames on Ray (resumable, one table per night)"),
    "bench": Subcommand("skyseg.cli.bench", "benchmarks: runtime latency (MODEL), models, calib, e2e"),
    "evaluate": Subcommand("skyseg.cli.operate.evaluate", "sky-mask IoU of a model against labelled frames"),
    "verify": Subcommand("skyseg.cli.deploy.verify", "compare backends on the same frames (sky-mask IoU, output diffs)"),
    "demo": Subcommand("skyseg.cli.demo", "the whole pipeline end to end on the bundled model and sample data"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: skyseg [-v|-q] COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines += ["", "Run `skyseg COMMAND --help` for a command's options."]
    return "\n".join(lines)


def _modes_epilog(name: str, modes: dict[str, str]) -> str | None:
    if not modes:
        return None
    return (f"other modes: {', '.join(f'skyseg {name} {m}' for m in modes)} "
            f"(each with its own --help)")


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity = 0
    while argv and argv[0] in ("-v", "--verbose", "-q", "--quiet"):
        verbosity += 1 if argv.pop(0) in ("-v", "--verbose") else -1
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage() + "\n")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"skyseg: unknown command '{name}'; choose one of: {', '.join(COMMANDS)}.\n")
        return 2
    _configure_logging(verbosity)
    switch_off()  # before any command imports onnxruntime or openvino: nothing written to ~/.cache or ~/intel
    try:
        module = importlib.import_module(COMMANDS[name].module)
        modes: dict[str, str] = getattr(module, "MODES", {})
        mode = importlib.import_module(modes[rest[0]]) if rest and rest[0] in modes else None
    except ModuleNotFoundError as err:
        if err.name != COMMANDS[name].module:
            raise
        sys.stderr.write(f"skyseg: command '{name}' is not available in this installation.\n")
        return 2
    except KeyboardInterrupt:  # Ctrl-C while torch & co. load: nothing has started yet
        log.error("interrupted while starting; nothing was written")
        return 130
    if mode is not None:  # `skyseg bench models ...`: a mode module with its own main(argv)
        call = lambda: mode.main(rest[1:])  # noqa: E731
    else:
        parser = argparse.ArgumentParser(prog=f"skyseg {name}", description=COMMANDS[name].summary,
                                         epilog=_modes_epilog(name, modes))
        module.add_arguments(parser)
        args = parser.parse_args(rest)  # bad flags: argparse prints one error line and exits 2
        call = lambda: module.run(args)  # noqa: E731
    try:
        return int(call())
    except SkysegError as err:
        log.error("%s", err)
        return err.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; completed outputs were kept, partial ones removed")
        return 130
    except OSError as err:  # an output path that is a file, a read-only or full disk: a sentence, not a traceback
        log.error("%s", _os_error_sentence(err))
        return 2 if err.errno in _USAGE_ERRNOS else 1


# A path the user gave cannot be used (exit 2, bad usage); any other OSError (a full disk, I/O) exits 1.
_USAGE_ERRNOS = {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
                 errno.ENAMETOOLONG}


def _os_error_sentence(err: OSError) -> str:
    what = err.strerror or str(err)
    if err.filename is None:
        return f"a file operation failed: {what}"
    paths = f"{err.filename}" + (f" → {err.filename2}" if err.filename2 else "")
    hint = {errno.EEXIST: "; a file stands where a folder is needed: pass a folder path",
            errno.ENOTDIR: "; part of that path is a file, not a folder",
            errno.EROFS: "; choose a writable location", errno.EACCES: "; choose a location you may write to",
            errno.ENOSPC: "; free some space and run again"}.get(err.errno, "")
    return f"cannot use {paths}: {what}{hint}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
