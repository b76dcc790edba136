"""Overlay contact sheets: the bundled model's masks on the real frames, and the synthetic-vs-real sheet."""
from __future__ import annotations

import cv2
import numpy as np

from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.quality.overlay_sheet import main as overlay_main


def test_overlay_sheet_pairs_each_real_frame_with_its_mask(realsky_dir, realsky_count, tmp_path):
    out = tmp_path / "ov.png"
    assert overlay_main([str(realsky_dir), "-o", str(out), "--tile", "64", "--threads", "1",
                         "--model", str(bundled_model_path())]) == 0
    sheet = cv2.imread(str(out))[..., ::-1]
    frames = realsky_count
    assert sheet.shape == (64 * -(-2 * frames // 4), 64 * 4, 3)
    left, right = sheet[:64, :64].astype(int), sheet[:64, 64:128].astype(int)
    tinted = (right[..., 2] - right[..., 0]) - (left[..., 2] - left[..., 0]) > 30  # the blue sky overlay
    assert tinted.mean() > 0.2


def test_overlay_sheet_reports_an_empty_folder(tmp_path, caplog):
    assert overlay_main([str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    assert "no images found" in caplog.text and not (tmp_path / "x.png").exists()


def test_synthetic_vs_real_contact_sheet(realsky_dir, tmp_path):
    from skyseg.synth.contact_sheet import main as sheet_main

    assert sheet_main([str(realsky_dir), str(tmp_path / "s.png"), "--n", "2", "--masks", str(tmp_path / "m.png")]) == 0
    sheet = cv2.imread(str(tmp_path / "s.png"))
    assert sheet.shape[1] == 6 * 220 and sheet.shape[0] == 2 * 220 and np.ptp(sheet) > 100
    assert cv2.imread(str(tmp_path / "m.png")).shape == (2 * 220, 6 * 220, 3)
