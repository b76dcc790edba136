"""Test-wide setup: Ultralytics offline in an isolated config dir, the repository's real frames, and the guard that
fails a test skipped for a missing data file (tests/data_guard.py)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # load matplotlib's FreeType before GStreamer's (segfault otherwise)
import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="skyseg-yolo-cfg-"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ["ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS"] = "1"
# `--backend auto` races ONNX Runtime against OpenVINO on first use (runtime/backends/auto.py): the suite stays on
# ONNX Runtime, deterministic whatever the host timings; tests/runtime/backends/test_auto.py turns the race on.
os.environ.setdefault("SKYSEG_AUTO_MEASURE", "0")


# The real frames live in the repository (datasets/*/README.md give their sources and licences): a fresh clone
# tests real-frame behaviour with nothing beside it.
REALSKY = REPO / "datasets" / "realsky" / "images" / "val"  # nine real all-sky frames; masks in ../../masks/val
REALPOOL = REPO / "datasets" / "realpool" / "images" / "val"  # 36 more real frames of 15 more cameras
MQTT_HELPERS = Path(__file__).resolve().parent / "scale"  # broker.py: a real Mosquitto broker and a paho subscriber
sys.path.insert(0, str(MQTT_HELPERS))
sys.path.insert(0, str(REPO / "tests"))  # data_guard.py, also loadable as a plugin: pytest -p data_guard

from data_guard import pytest_runtest_makereport  # noqa: E402,F401  a skip for missing data fails the test


def _real_frames(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing from this checkout: the real frames are part of the repository")
    return folder


@pytest.fixture(scope="session")
def realsky_dir() -> Path:
    return _real_frames(REALSKY)


@pytest.fixture(scope="session")
def realpool_dir() -> Path:
    return _real_frames(REALPOOL)


@pytest.fixture(scope="session")
def realsky_count(realsky_dir: Path) -> int:
    """How many frames the real-sky folder holds (it grows: tests must not pin the number)."""
    suffixes = (".fits", ".fit", ".fts", ".fits.gz", ".jpg", ".jpeg", ".png", ".tif", ".tiff")
    return sum(p.name.lower().endswith(suffixes) for p in realsky_dir.iterdir())


@pytest.fixture()
def broker(tmp_path: Path):
    """A real Mosquitto broker on a free loopback port (tests/scale/broker.py), stopped after the test; for the MQTT
    tests of every folder (run, serve, archive)."""
    pytest.importorskip("paho.mqtt.client", reason="the MQTT sink needs paho-mqtt: pip install -e '.[scale]'")
    from broker import MOSQUITTO, Broker

    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (Debian package `mosquitto`, in install.sh's APT_PACKAGES)")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def core_models():
    """tests/core_models.py: small ONNX models for the runtime and CLI tests (`oracle_onnx(size)`: image-dependent
    masks; `stock_onnx(size)`: the stock graph with random weights), built once per size and cached."""
    import core_models as models  # tests/ is on sys.path (above)

    return models
