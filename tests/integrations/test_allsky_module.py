"""integrations/allsky/allsky_skyseg.py against the allsky module contract, with a stand-in `allsky_shared`,
on real frames: the numbers reach the environment and the extra-data file, masks are written, failures are text."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.process.preprocess import to_display8
from skyseg.runtime.sources.image_reader import read_frame_file

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "integrations" / "allsky" / "allsky_skyseg.py"


@pytest.fixture()
def allsky(tmp_path, monkeypatch):
    """(module, stand-in) loaded as allsky loads a module: by path, `import allsky_shared` resolved from sys.modules."""
    spec = importlib.util.spec_from_file_location("allsky_shared", Path(__file__).with_name("allsky_shared_standin.py"))
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)
    monkeypatch.setitem(sys.modules, "allsky_shared", shared)
    monkeypatch.setenv("ALLSKY_EXTRA", str(tmp_path / "extra"))
    for name in ("AS_SKYSEG_SKY", "AS_SKYSEG_CLOUD", "AS_SKYSEG_CLEAR", "AS_SKYSEG_MS"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("allsky_skyseg", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, shared
    if "backend" in module._STATE:
        module._STATE.pop("backend").__exit__(None, None, None)


def _bgr(realsky_dir: Path, name: str) -> np.ndarray:
    img8 = to_display8(read_frame_file(realsky_dir / name, 0, "x").pixels)
    return cv2.cvtColor(img8, cv2.COLOR_GRAY2BGR) if img8.ndim == 2 else cv2.cvtColor(img8, cv2.COLOR_RGB2BGR)


def test_metadata_follows_the_module_contract(allsky):
    module, _ = allsky
    meta = module.metaData
    assert MODULE.name == meta["module"] + ".py" and meta["module"].startswith("allsky_")
    assert callable(getattr(module, meta["module"][len("allsky_"):]))  # the function allsky calls
    assert {"name", "description", "module", "events", "arguments", "argumentdetails"} <= set(meta)
    assert set(meta["argumentdetails"]) == set(meta["arguments"]) and set(meta["events"]) <= {"day", "night"}


@pytest.mark.parametrize("name, cloudy", [("magic_20180817_0055.fits", False), ("cta_cloudy.fits.gz", True)])
def test_a_night_frame_gives_sky_and_cloud_numbers(allsky, realsky_dir, tmp_path, monkeypatch, name, cloudy):
    module, shared = allsky
    shared.image = _bgr(realsky_dir, name)
    monkeypatch.setenv("CURRENT_IMAGE", "/home/pi/allsky/tmp/image-20240101010101.jpg")
    params = {"model": "", "clouds": "true", "maskfolder": str(tmp_path / "masks"), "threads": 1}
    text = module.skyseg(params, "postcapture")
    sky, cloud, clear = (float(os.environ[k]) for k in ("AS_SKYSEG_SKY", "AS_SKYSEG_CLOUD", "AS_SKYSEG_CLEAR"))
    assert 30 < sky < 90 and cloud + clear == pytest.approx(100.0, abs=0.2)
    assert (cloud > 80) if cloudy else (cloud < 10)
    extra = json.loads((tmp_path / "extra" / "skyseg.json").read_text())
    assert extra["AS_SKYSEG_CLOUD"] == cloud and extra["AS_SKYSEG_SKY"] == sky
    sky_png = cv2.imread(str(tmp_path / "masks" / "image-20240101010101_sky.png"), cv2.IMREAD_GRAYSCALE)
    cloud_png = cv2.imread(str(tmp_path / "masks" / "image-20240101010101_clouds.png"), cv2.IMREAD_GRAYSCALE)
    assert sky_png.shape == shared.image.shape[:2] and not ((cloud_png > 0) & (sky_png == 0)).any()
    assert "sky" in text and "cloud" in text


def test_clouds_off_and_checkbox_strings(allsky, realsky_dir):
    module, shared = allsky
    shared.image = _bgr(realsky_dir, "magic_20180817_0055.fits")
    module.skyseg({"model": "", "clouds": "false", "maskfolder": "", "threads": "1"}, "postcapture")
    assert "AS_SKYSEG_SKY" in os.environ and "AS_SKYSEG_CLOUD" not in os.environ


def test_failures_are_logged_text_not_exceptions(allsky, tmp_path):
    module, shared = allsky
    shared.image = None
    assert module.skyseg({"model": "", "clouds": True, "maskfolder": "", "threads": 1}, "postcapture") == \
        "skyseg: no image"
    shared.image = np.zeros((64, 64, 3), np.uint8)
    text = module.skyseg({"model": str(tmp_path / "missing.onnx"), "clouds": True, "maskfolder": "", "threads": 1},
                         "postcapture")
    assert text.startswith("skyseg failed") and shared.messages[-1][0] == 0
