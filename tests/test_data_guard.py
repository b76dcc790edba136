"""The guard in tests/data_guard.py: a skip for a missing data file fails the run; hardware/package skips stay skips."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from data_guard import missing_data_reason

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("reason", [
    "real all-sky frames not found at ../shared/data/realsky",  # what 28 tests said on a fresh clone
    "no .fits frame in /work/main/datasets/realsky/images/val",
    "calibration frames missing: datasets/realpool/images/val",
    "reference mask iceact_cloudy.png does not exist",
])
def test_data_reasons_are_caught(reason: str) -> None:
    assert missing_data_reason(reason)


@pytest.mark.parametrize("reason", [  # skip reasons of this suite that must stay skips
    "mosquitto is not installed (Debian package `mosquitto`, in install.sh's APT_PACKAGES)",
    "x264enc (gstreamer1.0-plugins-ugly) not installed",
    "gst-launch-1.0 not installed (apt gstreamer1.0-tools)",
    "GStreamer tests need PyGObject (pip install 'pygobject<3.50')",
    "cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers the same path",
    "this machine is a Jetson (nvidia-l4t-core installed)",
    "no CUDA GPU here (nvidia-smi found none)",
])
def test_hardware_and_package_reasons_stay_skips(reason: str) -> None:
    assert not missing_data_reason(reason)


def test_a_run_with_a_missing_data_skip_fails(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_data():\n    pytest.skip('real all-sky frames not found at ../shared/data/realsky')\n"
        "@pytest.mark.skipif(True, reason='no .fits frame in /nowhere/realsky')\n"
        "def test_marked():\n    pass\n"
        "def test_tensorrt():\n    pytest.skip('the tensorrt Python package is not installed')\n"
        "def test_fine():\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "data_guard", "-p", "no:cacheprovider",
                           str(tmp_path / "test_sample.py")], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert "1 failed" in summary and "1 passed" in summary and "1 skipped" in summary and "1 error" in summary
    assert "skipped for missing data (Skipped: real all-sky frames not found" in done.stdout
