"""`skyseg archive`'s ledger is its night tables: masks named by the source-relative path (two nights' frame_1.jpg
never collide), nights from each frame's own time (EXIF, FITS DATE-OBS) and the site's local noon, and a real
SIGKILL of the driver that leaves a row for every mask written, no Ray process behind, and a rerun that segments
exactly the frames without rows."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.bundled_model import bundled_model_path

MODEL = bundled_model_path()



def _sky(seed: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    img = np.tile(np.linspace(0, 255, size[0], dtype=np.uint8)[None, :, None], (size[1], 1, 3))
    return np.roll(img, 11 * seed, axis=1)


def _jpeg_taken(path: Path, seed: int, taken: str) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal, the camera's local wall clock
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_sky(seed)).save(path, exif=exif)


def _night_rows(out: Path) -> dict[str, list[dict[str, str]]]:
    tables = {}
    for table in sorted((out / "nights").glob("*.csv")):
        text = table.read_text()
        tables[table.stem] = list(csv.DictReader(text[: text.rfind("\n") + 1].splitlines()))
    return tables


def test_names_and_nights_come_from_the_frame(tmp_path: Path, local_ray) -> None:
    pytest.importorskip("PIL", reason="EXIF is read with Pillow")
    from astropy.io import fits

    from skyseg.scale.archive import run_archive

    root = tmp_path / "archive"
    _jpeg_taken(root / "2026-03-01" / "frame_1.jpg", 1, "2026:03:01 23:30:00")
    _jpeg_taken(root / "2026-03-01" / "frame_2.jpg", 2, "2026:03:02 01:30:00")  # after local midnight: same night
    _jpeg_taken(root / "2026-03-02" / "frame_1.jpg", 3, "2026:03:02 23:30:00")
    cv2.imwrite(str(root / "2026-03-02" / "frame_1.png"), _sky(5))  # the same stem: a mask of its own
    stamp = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc).timestamp()  # no EXIF: its mtime, 00:00 in Sydney
    os.utime(root / "2026-03-02" / "frame_1.png", (stamp, stamp))
    hdu = fits.PrimaryHDU(_sky(4)[..., 0].astype(np.uint16) * 200)
    hdu.header["DATE-OBS"] = "2026-03-01T14:00:00"  # UTC: 01:00 on 2 March in Sydney
    hdu.writeto(root / "copied_today.fits")  # its mtime is now: the night must come from DATE-OBS

    counts = run_archive(root, tmp_path / "out", str(MODEL), tz="Australia/Sydney")
    assert counts == {"frames": 5, "skipped": 0, "errors": 0}
    masks = {p.relative_to(tmp_path / "out" / "masks").as_posix() for p in (tmp_path / "out" / "masks").rglob("*.png")}
    assert masks == {"2026-03-01/frame_1_mask.png", "2026-03-01/frame_2_mask.png", "2026-03-02/frame_1_jpg_mask.png",
                     "2026-03-02/frame_1_png_mask.png", "copied_today_mask.png"}
    a = cv2.imread(str(tmp_path / "out/masks/2026-03-01/frame_1_mask.png"), 0)
    b = cv2.imread(str(tmp_path / "out/masks/2026-03-02/frame_1_jpg_mask.png"), 0)
    assert a is not None and b is not None and not np.array_equal(a, b)  # two frames, two masks
    nights = {night: sorted(Path(r["path"]).relative_to(root).as_posix() for r in rows)
              for night, rows in _night_rows(tmp_path / "out").items()}
    assert nights == {"2026-03-01": ["2026-03-01/frame_1.jpg", "2026-03-01/frame_2.jpg", "copied_today.fits"],
                      "2026-03-02": ["2026-03-02/frame_1.jpg", "2026-03-02/frame_1.png"]}
    rows = [r for rows in _night_rows(tmp_path / "out").values() for r in rows]
    assert all((tmp_path / "out" / "masks" / r["mask"]).is_file() and r["model"] and r["conf"] for r in rows)
    at = {Path(r["path"]).name: r["time"] for r in rows}
    assert at["copied_today.fits"].startswith("2026-03-01T14:00:00")

    again = run_archive(root, tmp_path / "out", str(MODEL), longitude=151.2)  # the same nights: all done
    assert again == {"frames": 0, "skipped": 5, "errors": 0}


def _archive(night: Path, out: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "skyseg.cli.main", "archive", str(night), "--save-dir", str(out), "--model",
           str(MODEL), "--batch-size", "2", "--tz", "UTC"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_archive_keeps_a_row_for_every_mask_and_leaves_no_ray_behind(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is in the 'scale' extra that install.sh installs")
    import psutil

    night = tmp_path / "night"
    night.mkdir()
    frames = 40
    for i in range(frames):
        cv2.imwrite(str(night / f"f{i:03d}.png"), _sky(i))
    out = tmp_path / "out"
    driver = _archive(night, out)
    tree: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 240
    while len(list((out / "masks").glob("*.png"))) < 6 if (out / "masks").is_dir() else True:
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the archive wrote no masks in 240 s"
        for child in psutil.Process(driver.pid).children(recursive=True):
            tree.setdefault(child.pid, child)
        time.sleep(0.1)
    for child in psutil.Process(driver.pid).children(recursive=True):
        tree.setdefault(child.pid, child)
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate(timeout=30)
    assert len(tree) >= 2  # Ray's processes (and the guard) were running

    masks = {p.name for p in (out / "masks").glob("*.png")}
    rows = [r for rows in _night_rows(out).values() for r in rows]
    assert masks <= {r["mask"] for r in rows}  # every mask written has its row
    assert len(rows) < frames

    deadline = time.monotonic() + 30
    left = list(tree.values())
    while left and time.monotonic() < deadline:
        left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.2)
    assert not left, [(p.pid, p.name()) for p in left]  # Ray ended with its driver

    masks = {p.name for p in (out / "masks").glob("*.png")}  # what the actors wrote until they were ended
    rows = [r for rows in _night_rows(out).values() for r in rows]
    assert masks <= {r["mask"] for r in rows}
    done = {r["path"] for r in rows if not r["error"] and (out / "masks" / r["mask"]).is_file()}
    rerun = _archive(night, out)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr[-3000:]
    assert f"archive: {frames - len(done)} segmented, {len(done)} skipped" in stdout
    rows = [r for rows in _night_rows(out).values() for r in rows]
    assert sorted(Path(r["path"]).name for r in rows) == [f"f{i:03d}.png" for i in range(frames)]  # one row each
    assert {r["mask"] for r in rows} == {p.name for p in (out / "masks").glob("*.png")}
