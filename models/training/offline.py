"""Keep Ultralytics fully offline: no online check, no pip auto-install, no telemetry, no font download.

Must run before the first `import ultralytics` (Ultralytics reads these at import time). `skyseg.models`
calls it on import; anything else that imports Ultralytics imports `skyseg.models` first.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

_DEFAULT_CONFIG_DIR = Path.home() / ".cache" / "skyseg" / "ultralytics"


def configure_ultralytics_offline() -> Path:
    """Set Ultralytics' environment switches and seed its font cache; returns the Ultralytics config dir."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # skips the online check; also disables events/telemetry
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")  # never pip-install anything
    os.environ.setdefault("ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    config_dir = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(_DEFAULT_CONFIG_DIR)))
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    _seed_font(font_dir / "Arial.ttf")
    _seed_font(font_dir / "Arial.Unicode.ttf")
    return config_dir


def _seed_font(target: Path) -> None:
    """Ultralytics downloads Arial.ttf for plotting unless one is present; place matplotlib's DejaVuSans there."""
    if target.exists():
        return
    try:
        import matplotlib  # Ultralytics depends on matplotlib, which ships DejaVuSans
    except ImportError:
        return
    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if source.exists():
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
