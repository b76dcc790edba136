"""The run's flags are defined once (cli/run_args.py): `skyseg serve` offers every one of them and turns them into
the same RunConfig `skyseg run` builds, inside its ServeConfig."""
from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from skyseg.cli.operate import run as run_cmd
from skyseg.cli.operate import serve as serve_cmd

FLAGS = ["--backend", "ort", "--conf", "0.4", "--iou", "0.5", "--max-det", "7", "--threads", "1", "--prior", "on",
         "--prior-frames", "3", "--min-free", "0", "--static-share", "0.8", "--gpu-prepost", "off", "--max-frames", "9",
         "--progress", "2", "--output", "mqtt://127.0.0.1/sky"]


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def test_serve_and_run_build_the_same_run_from_the_same_flags(tmp_path: Path) -> None:
    save = str(tmp_path / "out")
    ran = run_cmd.config_from_args(_parse(run_cmd, ["night/", *FLAGS, "--save-dir", save]))
    served = serve_cmd.config_from_args(_parse(serve_cmd, ["night/", *FLAGS, "--save-dir", save]))
    live = served.run
    assert (live.prior, live.prior_frames, live.min_free_mb, live.static_share) == ("on", 3, 0.0, 0.8)
    differ = {f.name for f in fields(ran) if getattr(ran, f.name) != getattr(live, f.name)}
    # the dashboard's run always writes the static mask and never opens a window; its save_dir is resolved
    assert differ - {"save_dir"} == {"static_mask", "headless"}, differ
    assert live.save_dir == str(Path(save).resolve()) and live.static_mask == str(Path(save).resolve() /
                                                                                 "static_mask.png")


def test_serve_help_offers_the_run_flags() -> None:
    out = subprocess.run([sys.executable, "-m", "skyseg.cli.main", "serve", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    run_help = subprocess.run([sys.executable, "-m", "skyseg.cli.main", "run", "--help"], capture_output=True,
                              text=True, timeout=60).stdout
    for flag in ("--prior", "--prior-frames", "--min-free", "--static-share", "--conf", "--gpu-prepost", "--output"):
        assert f"  {flag} " in out and f"  {flag} " in run_help, flag
