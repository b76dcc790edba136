"""Test-wide setup: Ultralytics offline in an isolated config dir, and the shared data locations."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401  load matplotlib's FreeType before GStreamer's (segfault otherwise)
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="skyseg-yolo-cfg-"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ["ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS"] = "1"


def _realsky_dir() -> Path:
    for candidate in (REPO / "shared" / "data" / "realsky", REPO.parent / "shared" / "data" / "realsky"):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "data" / "realsky"


REALSKY = _realsky_dir()


@pytest.fixture(scope="session")
def realsky_dir() -> Path:
    if not REALSKY.is_dir():
        pytest.skip(f"real all-sky frames not found at {REALSKY}")
    return REALSKY


@pytest.fixture(scope="session")
def realsky_count(realsky_dir: Path) -> int:
    """How many frames the shared real-sky folder holds (it grows: tests must not pin the number)."""
    suffixes = (".fits", ".fit", ".fts", ".fits.gz", ".jpg", ".jpeg", ".png", ".tif", ".tiff")
    return sum(p.name.lower().endswith(suffixes) for p in realsky_dir.iterdir())
