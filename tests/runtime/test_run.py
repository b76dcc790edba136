"""The run loop and `skyseg run`: outputs, error rows, no-torch import check, SIGTERM, clear failures."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.pipeline import RunConfig, run
from skyseg.runtime.sinks.table import COLUMNS


PY = sys.executable


def _night(folder: Path, n: int, realsky_dir: Path | None = None, size=(96, 72)) -> list[Path]:
    """A folder of n small frames (real sky when available, else gradients), named like a camera's."""
    folder.mkdir(parents=True, exist_ok=True)
    base = None
    if realsky_dir is not None:
        from astropy.io import fits

        from skyseg.runtime.process.preprocess import to_rgb8

        base = to_rgb8(np.squeeze(fits.getdata(realsky_dir / "iceact_starry.fits")))
    paths = []
    for i in range(n):
        if base is not None:
            img = cv2.resize(np.roll(base, 7 * i, axis=1), size, interpolation=cv2.INTER_AREA)
        else:
            img = np.tile(np.linspace(0, 255, size[0], dtype=np.uint8)[None, :, None], (size[1], 1, 3))
        p = folder / f"image-{i:04d}.png"
        cv2.imwrite(str(p), img)
        paths.append(p)
    return paths


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "skyseg.cli.main", *args], capture_output=True, text=True, timeout=timeout)


def test_run_writes_masks_table_and_error_rows(core_models, tmp_path: Path, realsky_dir: Path) -> None:
    frames = _night(tmp_path / "night", 4, realsky_dir)
    (tmp_path / "night" / "image-0002b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    cfg = RunConfig(source=str(tmp_path / "night"), model=str(core_models.oracle_onnx(320)), backend="ort",
                    threads=1, masks=str(tmp_path / "masks"), table=str(tmp_path / "r.csv"),
                    static_mask=str(tmp_path / "static.png"), headless=True)
    summary = run(cfg)
    assert summary.frames == 4 and summary.errors == 1 and summary.stopped_by is None
    assert set(summary.stage_ms) == {"pre", "infer", "post"} and summary.stage_ms["infer"] > 0
    with (tmp_path / "r.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 5
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("image-0002b.png") and bad[0]["sky_fraction"] == ""
    good = [r for r in rows if not r["error"]]
    assert all(0.0 < float(r["sky_fraction"]) <= 1.0 and int(r["instances"]) >= 1 for r in good)
    masks = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert masks == [f"{p.stem}_mask.png" for p in frames]
    png = cv2.imread(str(tmp_path / "masks" / masks[0]), cv2.IMREAD_UNCHANGED)
    assert png.shape == (72, 96) and png.dtype == np.uint8
    frac = float(good[0]["sky_fraction"])
    assert abs((png == 255).mean() - frac) < 1e-6
    assert cv2.imread(str(tmp_path / "static.png"), cv2.IMREAD_UNCHANGED).shape == (72, 96)


def test_run_missing_source_is_input_error(core_models, tmp_path: Path) -> None:
    cfg = RunConfig(source=str(tmp_path / "nowhere"), model=str(core_models.oracle_onnx(320)), table=str(tmp_path / "t.csv"))
    with pytest.raises(InputError):
        run(cfg)
    assert not (tmp_path / "t.csv").exists()


def test_cli_run_imports_no_torch(core_models, tmp_path: Path, realsky_dir: Path) -> None:
    _night(tmp_path / "night", 2, realsky_dir)
    code = (
        "import sys\n"
        "from skyseg.cli.main import main\n"
        f"rc = main(['run', {str(tmp_path / 'night')!r}, '--model', {str(core_models.oracle_onnx(320))!r}, "
        f"'--table', {str(tmp_path / 't.jsonl')!r}, '--masks', {str(tmp_path / 'm')!r}, '--headless'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'ultralytics') "
        "or m.startswith(('skyseg.models', 'skyseg.export', 'skyseg.calib')))\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc or (3 if heavy else 0))\n"
    )
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY []" in proc.stdout
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 2


def test_cli_clear_errors(core_models, tmp_path: Path) -> None:
    model = str(core_models.oracle_onnx(320))
    proc = _cli("run", str(tmp_path / "missing_dir"), "--model", model)
    assert proc.returncode == 2 and "E skyseg:" in proc.stderr
    proc = _cli("run", str(tmp_path), "--model", str(tmp_path / "nope.onnx"))
    assert proc.returncode == 2 and f"model file {tmp_path / 'nope.onnx'} does not exist" in proc.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    _night(tmp_path / "night", 1)
    proc = _cli("run", str(tmp_path / "night"), "--model", str(bad))
    assert proc.returncode == 2 and "ONNX Runtime cannot load" in proc.stderr
    stock = str(core_models.stock_onnx(320))
    proc = _cli("run", str(tmp_path / "night"), "--model", stock, "--backend", "trt")
    assert proc.returncode == 2 and "the TensorRT backend runs engine files" in proc.stderr
    proc = _cli("run", str(tmp_path / "night"), "--model", model, "--output", "display://0", "--headless")
    assert proc.returncode == 2 and "contradicts --headless" in proc.stderr


def _wait_for(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_sigterm_leaves_complete_files_only(core_models, tmp_path: Path) -> None:
    _night(tmp_path / "night", 400)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [PY, "-m", "skyseg.cli.main", "run", str(tmp_path / "night"), "--model", str(core_models.oracle_onnx(320)),
         "--save-dir", str(out), "--table", str(out / "r.xlsx"), "--static-mask", "--threads", "1", "--headless"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: (out / "masks").is_dir() and len(os.listdir(out / "masks")) >= 5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM received" in err and "stopped by SIGTERM" in err
    import openpyxl

    rows = list(openpyxl.load_workbook(out / "r.xlsx", read_only=True)["results"].iter_rows(values_only=True))
    masks = sorted((out / "masks").iterdir())
    annotated = sorted((out / "annotated").iterdir())
    assert 5 <= len(masks) < 400
    assert len(rows) - 1 == len(masks) == len(annotated)
    assert (out / "static_mask.png").is_file()
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix in (".tmp", ".part")]
    assert leftovers == []
    for p in masks[-2:]:  # the last files written are whole images
        assert cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape == (72, 96)


def test_sigterm_closes_annotated_video(core_models, tmp_path: Path) -> None:
    pytest.importorskip("gi", reason="PyGObject (GStreamer bindings) not installed")
    from skyseg.runtime.gst_pipeline import load_gst

    try:
        Gst, _, _ = load_gst()
    except Exception as err:  # any failure means no usable GStreamer here
        pytest.skip(f"GStreamer unavailable: {err}")
    if Gst.ElementFactory.find("x264enc") is None:
        pytest.skip("x264enc (gstreamer1.0-plugins-ugly) not installed")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [PY, "-m", "skyseg.cli.main", "run", "test://ball?n=-1&w=160&h=120&fps=30", "--model",
         str(core_models.oracle_onnx(320)), "--save-dir", str(out), "--threads", "1", "--headless"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: (out / "masks").is_dir() and len(os.listdir(out / "masks")) >= 10)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    video = out / "annotated.mp4"
    assert video.is_file() and video.stat().st_size > 1000
    assert not list(out.glob(".*"))
    cap = cv2.VideoCapture(str(video))  # the MP4 is finalised: its index lets a reader count the frames
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert frames >= 10


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_run_stops_on_signal_while_waiting(core_models, tmp_path: Path, sig: signal.Signals) -> None:
    night = tmp_path / "night"
    night.mkdir()
    out = tmp_path / "r.csv"
    proc = subprocess.Popen(
        [PY, "-m", "skyseg.cli.main", "run", str(night), "--watch", "--model", str(core_models.oracle_onnx(320)),
         "--table", str(out), "--masks", str(tmp_path / "masks"), "--headless", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(1.5)
        _night(tmp_path / "incoming", 2)
        for p in sorted((tmp_path / "incoming").iterdir()):  # a camera writes frames; watch picks them up
            os.replace(p, night / p.name)
        _wait_for(lambda: (tmp_path / "masks").is_dir() and len(os.listdir(tmp_path / "masks")) == 2)
        time.sleep(0.5)  # the run is now waiting for a frame that never comes
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)  # no new frame will come: the wait itself must end
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (130 if sig == signal.SIGINT else 0), err
    rows = out.read_text().splitlines()
    assert rows[0].startswith("frame,") and len(rows) == 3


def test_default_model_is_the_bundled_one(tmp_path: Path) -> None:
    from skyseg.runtime.bundled_model import bundled_model_path, weights_dir

    folder = weights_dir()
    assert folder is not None and folder.name == "weights" and folder.parent.name == "models"
    code = ("import sys\nfrom skyseg.runtime.bundled_model import weights_dir\nweights_dir()\n"
            "sys.exit(3 if 'skyseg.models' in sys.modules else 0)\n")
    assert subprocess.run([PY, "-c", code], timeout=60).returncode == 0
    if (folder / "skyseg-n.onnx").is_file():
        assert bundled_model_path() == folder / "skyseg-n.onnx"
    else:
        _night(tmp_path / "night", 1)
        proc = _cli("run", str(tmp_path / "night"))
        assert proc.returncode == 2 and "the bundled model" in proc.stderr and "pass --model PATH" in proc.stderr
