"""`ServeConfig`: everything `skyseg serve` needs, the bind-address rule (loopback, or a token), the outputs rule."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from pathlib import Path

from skyseg.runtime.errors import InputError
from skyseg.runtime.run.config import RunConfig

DEFAULT_PORT = 8765
DEFAULT_SAVE_DIR = "skyseg-serve"
SERVE_PROGRESS_S = 30.0  # a service logs its progress line less often than `skyseg run`
MB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """The live run (a RunConfig: source, model, thresholds, outputs, prior, disk guard) and the web side.

    The run's outputs go under its save_dir (default ./skyseg-serve) as `skyseg run --save-dir DIR --static-mask
    --headless` writes them; uploads under DIR/uploads/."""

    run: RunConfig
    models_dir: str | None = None  # .onnx / .engine files the page may switch to
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    loop: bool = False  # repeat files, folders and synthetic streams (demos, tests)
    max_fps: float | None = None  # pace the source (a folder replayed like a camera), None = as fast as it goes
    max_upload_mb: float = 64.0
    max_model_mb: float = 512.0  # .onnx uploads (weights are larger than frames)
    max_upload_frames: int = 300  # frames taken from an uploaded video
    history: int = 20000  # rows of the night kept in memory for the page, the chart and the downloads
    push_hz: float = 2.0  # most live updates per second sent to each browser (each costs the browser a repaint)

    def __post_init__(self) -> None:
        save = Path(self.run.save_dir or DEFAULT_SAVE_DIR).resolve()
        live = replace(self.run, save_dir=str(save), masks=None, table=None, headless=True,
                       static_mask=self.run.static_mask or str(save / "static_mask.png"))
        object.__setattr__(self, "run", live)  # frozen: the normalised run is set once, here

    @property
    def save_dir(self) -> Path:
        return Path(str(self.run.save_dir))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: addresses no other machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """InputError unless the address is loopback or a token protects the page and the API."""
    if token is not None and len(token) < 8:
        raise InputError("--token must be at least 8 characters long; use a random string "
                         "(e.g. `openssl rand -hex 16`)")
    if not is_loopback(host) and not token:
        raise InputError(f"binding to {host} would expose the dashboard to the network, so it needs --token SECRET "
                         "(or bind to 127.0.0.1 and use an SSH tunnel)")


def check_outputs(outputs: tuple[str, ...]) -> None:
    """InputError for an `--output` serve cannot take: display:// (the page is the display) or a bad mqtt:// URI."""
    from skyseg.runtime.sinks.output_uri import parse_output

    for uri in outputs:
        if parse_output(uri).kind == "display":  # parse_output: a bad URI's one sentence, before the model loads
            raise InputError(f"--output {uri}: skyseg serve shows the frames in the browser; use `skyseg run` for a "
                             "window")
