"""`--model best.pt` for run/serve/bench: the checkpoint's verified ONNX export, made once and cached by its hash.

The runtime never imports PyTorch. When a model argument is a PyTorch checkpoint (`runtime/checkpoint.py` checks
the suffix and the first bytes) and the train side is installed, `skyseg export` runs in a child process at the
checkpoint's trained size, verified as every export is, and the ONNX is kept as `<stem>-<sha256[:16]>.onnx` in the
first writable of: `.skyseg-onnx/` beside the weights, `SAVE_DIR/models/` (when a save dir is given),
`$XDG_CACHE_HOME/skyseg/` (default `~/.cache/skyseg/`). A later run with the same weights finds it in any of them.
Without the train side (a runtime-only install, a Jetson), one sentence says how to export on the training machine.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from skyseg.runtime.checkpoint import is_torch_checkpoint, train_imgsz
from skyseg.runtime.errors import InputError, MissingDependencyError, SkysegError
from skyseg.runtime.file_digest import file_sha256

log = logging.getLogger(__name__)

TRAIN_SIDE = ("torch", "ultralytics", "onnx")  # what `skyseg export` imports
BESIDE = ".skyseg-onnx"  # the cache folder beside the weights (hidden: a models folder stays a list of models)


def train_side_installed() -> bool:
    """True when PyTorch, Ultralytics and onnx can be imported here (looked up, not imported)."""
    for name in TRAIN_SIDE:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def cache_folders(weights: Path, save_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where an export of `weights` may be cached, most preferred first."""
    folders = [weights.resolve().parent / BESIDE]
    if save_dir:
        folders.append(Path(save_dir) / "models")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folders.append(Path(base) / "skyseg")
    return folders


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if folder.name == BESIDE and not (folder / ".gitignore").exists():
        try:  # a cache inside a git checkout stays out of `git status`
            (folder / ".gitignore").write_text("# exports cached by skyseg (runtime/checkpoint_export.py)\n*\n")
        except OSError:
            return False
    return os.access(folder, os.W_OK | os.X_OK)


def _export(weights: Path, target: Path) -> None:
    size = train_imgsz(weights)
    log.info("%s is a PyTorch checkpoint: exporting it once to %s (trained at %s; verified; about half a minute)",
             weights.name, target, size or "an unrecorded size")
    cmd = [sys.executable, "-m", "skyseg.cli.main", "export", str(weights), "-o", str(target)]
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0 or not target.is_file():
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise SkysegError(f"exporting {weights} to ONNX failed ({last.strip()}); run `skyseg export {weights} -o "
                          f"{weights.with_suffix('.onnx').name}` to see the whole report")
    for line in done.stdout.splitlines():
        if line.startswith(("exported ", "I/O:", "verification:")):
            log.info("export: %s", line)
    log.info("%s exported and verified in %.1f s; later runs reuse %s", weights.name, time.perf_counter() - start,
             target)


def resolve_model(model: str | os.PathLike[str], save_dir: str | os.PathLike[str] | None = None) -> str:
    """`model` itself, unless it is a PyTorch checkpoint: then the path of its cached (or freshly made) ONNX."""
    weights = Path(model)
    if not is_torch_checkpoint(weights):
        return str(model)
    name = f"{weights.stem}-{file_sha256(weights)[:16]}.onnx"
    folders = cache_folders(weights, save_dir)
    for folder in folders:
        if (folder / name).is_file():
            log.info("%s: using its ONNX export %s (same weights hash)", weights.name, folder / name)
            return str(folder / name)
    if not train_side_installed():
        raise MissingDependencyError(
            f"{weights} is a PyTorch checkpoint and this installation has no PyTorch/Ultralytics to convert it: run "
            f"`skyseg export {weights.name} -o {weights.stem}.onnx` on the training machine and pass --model "
            f"{weights.stem}.onnx")
    folder = next((f for f in folders if _writable(f)), None)
    if folder is None:
        raise InputError(f"no writable folder to keep the ONNX export of {weights} (tried "
                         f"{', '.join(str(f) for f in folders)}); run `skyseg export {weights} -o MODEL.onnx` and "
                         "pass --model MODEL.onnx")
    _export(weights, folder / name)
    return str(folder / name)
