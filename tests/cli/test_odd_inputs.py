"""Odd inputs end in a row or one sentence with the documented exit code, never a traceback or a hang (real
subprocesses of `skyseg run` and `skyseg inspect` on real files)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skyseg.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _rows(table: Path) -> list[dict[str, str]]:
    with open(table, newline="") as f:
        return list(csv.DictReader(f))


def _fits(path: Path, pixels: np.ndarray, **header: str) -> Path:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(pixels)
    for key, value in header.items():
        hdu.header[key.replace("_", "-")] = value
    hdu.writeto(path)
    return path


def _night(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gradient = np.tile(np.linspace(10, 200, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    cv2.imwrite(str(folder / "c_good.png"), gradient)
    return folder


def test_frames_that_cannot_be_letterboxed_are_error_rows(tmp_path: Path, realsky_dir: Path) -> None:
    folder = _night(tmp_path / "night")
    _fits(folder / "a_line.fits", np.random.default_rng(1).integers(0, 4000, (1, 640)).astype(np.uint16))
    cv2.imwrite(str(folder / "b_strip.png"), np.full((2, 20000, 3), 90, np.uint8))
    real = next(p for p in sorted(realsky_dir.iterdir()) if p.suffix.lower() in (".jpg", ".png"))
    (folder / f"d_real{real.suffix}").write_bytes(real.read_bytes())  # after the odd ones: still processed
    done = _cli("run", str(folder), "--save-dir", str(tmp_path / "out"), "--headless", "--threads", "1")
    assert done.returncode == 5, done.stderr[-3000:]  # README "Exit codes": finished, some frames failed
    assert "Traceback" not in done.stderr
    rows = {Path(r["path"]).name: r for r in _rows(tmp_path / "out" / "results.csv")}
    assert set(rows) == {"a_line.fits", "b_strip.png", "c_good.png", f"d_real{real.suffix}"}
    for odd in ("a_line.fits", "b_strip.png"):
        assert "would shrink to 0 pixels" in rows[odd]["error"] and rows[odd]["sky_fraction"] == ""
    assert rows["c_good.png"]["error"] == "" and rows[f"d_real{real.suffix}"]["error"] == ""
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 2


def test_all_unreadable_input_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"junk" * 16)
    done = _cli("run", str(folder), "--save-dir", str(tmp_path / "out"), "--headless", "--threads", "1")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "none of the 2 input frame(s) could be read" in done.stderr and "Traceback" not in done.stderr


def test_fits_date_obs_at_the_clock_zero_keeps_a_time(tmp_path: Path, realsky_dir: Path) -> None:
    real = next(p for p in sorted(realsky_dir.iterdir()) if p.suffix.lower() in (".fits", ".fit"))
    from astropy.io import fits

    with fits.open(real) as hdus:
        pixels = next(h.data for h in hdus if h.data is not None and h.data.ndim >= 2)
    folder = tmp_path / "fits"
    folder.mkdir()
    frame = _fits(folder / "unset_clock.fits", pixels, DATE_OBS="1970-01-01T00:00:00")
    os.utime(frame, (1_780_000_000, 1_780_000_000))
    _fits(folder / "old_date.fits", pixels, DATE_OBS="1970-01-01T00:00:07")
    done = _cli("run", str(folder), "--save-dir", str(tmp_path / "out"), "--headless", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("camera clock that was never set") == 1
    rows = {Path(r["path"]).name: r for r in _rows(tmp_path / "out" / "results.csv")}
    mtime = datetime.fromtimestamp(1_780_000_000, timezone.utc).isoformat(timespec="milliseconds")
    assert rows["unset_clock.fits"]["time"] == mtime
    assert rows["old_date.fits"]["time"] == "1970-01-01T00:00:07.000+00:00"


@pytest.mark.parametrize("table", ["fifo", "dir"])
def test_a_table_that_is_no_regular_file_is_refused(tmp_path: Path, table: str) -> None:
    path = tmp_path / "results.csv"
    os.mkfifo(path) if table == "fifo" else path.mkdir()
    folder = _night(tmp_path / "night")
    done = _cli("run", str(folder), "--table", str(path), "--headless", "--threads", "1", timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("E ")]
    assert len(errors) == 1 and f"{path} is a {'FIFO' if table == 'fifo' else 'directory'}" in errors[0]


def _external_model(folder: Path, location: str) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones(4, np.float32), "w")
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("raw_data")
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", io[:1], io[1:], [weight])
    path = folder / "ext.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize(("case", "needle"), [("directory", "is a directory, not a model file"),
                                              ("missing", "does not exist"),
                                              ("outside", "outside the model's folder"),
                                              ("absent data", "which does not exist")])
def test_inspect_refuses_with_one_sentence(tmp_path: Path, case: str, needle: str) -> None:
    pytest.importorskip("onnx")
    if case == "directory":
        target = tmp_path / "dir.onnx"
        target.mkdir()
    elif case == "missing":
        target = tmp_path / "nothing.onnx"
    else:
        (tmp_path / "secret.bin").write_bytes(b"\x00" * 16)
        models = tmp_path / "models"
        models.mkdir()
        target = _external_model(models, "../secret.bin" if case == "outside" else "weights.bin")
    done = _cli("inspect", str(target), timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("E ")]
    assert len(errors) == 1 and needle in errors[0]
