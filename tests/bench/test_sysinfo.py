"""Machine conditions recorded with every benchmark."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from skyseg.bench.sysinfo import CpuLoadMeter, cpu_model, library_versions, peak_rss_mib


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n",
         "Intel(R) Xeon(R) CPU @ 2.20GHz"),
        ("processor\t: 0\nBogoMIPS\t: 62.50\nCPU part\t: 0xd42\n\nModel\t: NVIDIA Jetson Orin Nano Developer Kit\n",
         "NVIDIA Jetson Orin Nano Developer Kit"),
        ("processor\t: 0\nHardware\t: BCM2835\n", "BCM2835"),
    ],
)
def test_cpu_model_parsing(tmp_path: Path, text: str, expected: str) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(text)
    assert cpu_model(info) == expected


def test_cpu_load_meter_counts_own_work() -> None:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with CpuLoadMeter() as meter:
        end = time.perf_counter() + 0.3
        x = 0
        while time.perf_counter() < end:  # one core busy in this process (as far as other load lets it)
            x += 1
    expected = (time.process_time() - cpu0) / (time.perf_counter() - wall0)  # our own share, measured directly
    load = meter.result
    assert load is not None and load.method == "/proc/stat"
    assert load.own_cores == pytest.approx(expected, abs=0.1) and load.own_cores < 1.5
    assert load.other_cores >= 0.0 and 0.0 <= load.other_fraction <= 1.0


def test_versions_and_rss() -> None:
    versions = library_versions()
    assert versions["numpy"].count(".") >= 1 and "python" in versions
    assert "not-a-real-package" not in library_versions(("not-a-real-package",))
    assert peak_rss_mib() > 10
