"""`--clouds` through the one run loop: table columns, cloud maps inside the sky masks, a restart continuing the
table, MQTT topics and discovery, and nothing at all without the flag."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import cv2
import pytest

from skyseg.cli.main import main

FRAMES = ("magic_20180817_0055.fits", "cta_cloudy.fits.gz", "indiallsky_20210930_224955.jpg")


@pytest.fixture(scope="module")
def night(realsky_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("night") / "frames"
    folder.mkdir()
    for name in FRAMES:
        shutil.copy(realsky_dir / name, folder / name)
    return folder


def _run(night: Path, out: Path, *flags: str) -> list[dict]:
    assert main(["run", str(night), "--save-dir", str(out), "--headless", "--backend", "ort", "--threads", "1",
                 *flags]) == 0
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_clouds_fill_the_table_and_write_maps_inside_the_sky(night, tmp_path):
    rows = _run(night, tmp_path / "out", "--clouds")
    assert {"cloud_fraction", "clear_fraction"} <= set(rows[0])
    by_name = {Path(r["path"]).name: r for r in rows}
    assert float(by_name["cta_cloudy.fits.gz"]["cloud_fraction"]) > 0.8  # overcast
    assert float(by_name["magic_20180817_0055.fits"]["cloud_fraction"]) < 0.05  # clear
    for r in rows:
        assert float(r["cloud_fraction"]) + float(r["clear_fraction"]) == pytest.approx(1.0, abs=1e-5)
    for name in FRAMES:
        stem = name.split(".")[0]
        cloud = cv2.imread(str(tmp_path / "out" / "clouds" / f"{stem}_clouds.png"), cv2.IMREAD_GRAYSCALE)
        sky = cv2.imread(str(tmp_path / "out" / "masks" / f"{stem}_mask.png"), cv2.IMREAD_GRAYSCALE)
        assert cloud.shape == sky.shape and not ((cloud > 0) & (sky == 0)).any()
        share = (cloud > 0).sum() / max(1, (sky > 0).sum())
        assert share == pytest.approx(float(by_name[name]["cloud_fraction"]), abs=1e-4)


def test_a_restart_continues_the_cloud_table(night, tmp_path):
    out = tmp_path / "out"
    _run(night, out, "--clouds")
    rows = _run(night, out, "--clouds")  # the service restarted: the night's table goes on
    assert len(rows) == 2 * len(FRAMES) and all(r["cloud_fraction"] != "" for r in rows)


def test_without_the_flag_nothing_changes(night, tmp_path):
    rows = _run(night, tmp_path / "out")
    assert "cloud_fraction" not in rows[0] and not (tmp_path / "out" / "clouds").exists()


def test_mqtt_publishes_cloud_fraction_with_discovery(night, tmp_path, broker):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scale"))
    from broker import Subscriber

    sub = Subscriber(broker.port, "#")
    try:
        _run(night, tmp_path / "out", "--clouds", "--output",
             f"mqtt://127.0.0.1:{broker.port}/sky?discovery=homeassistant")
        assert sub.wait_for(lambda m: json.loads(m.get("sky/state", "{}")).get("frame") == len(FRAMES) - 1)
        latest = sub.latest()
    finally:
        sub.close()
    state = json.loads(latest["sky/state"])
    assert float(latest["sky/cloud_fraction"]) == state["cloud_fraction"]
    assert float(latest["sky/clear_fraction"]) == pytest.approx(1.0 - state["cloud_fraction"], abs=1e-5)
    config = json.loads(next(p for t, p in latest.items() if t.endswith("/cloud_fraction/config")))
    assert config["state_topic"] == "sky/cloud_fraction" and config["state_class"] == "measurement"
