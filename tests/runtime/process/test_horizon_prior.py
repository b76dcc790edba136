"""The per-installation horizon prior: never sky where the night says not-sky, fixes momentary mistakes, and is
on by default only for fixed-camera sources; the table and the masks folder say which mask was written."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.pipeline import RunConfig, make_prior, run
from skyseg.runtime.process.horizon_prior import HorizonPrior
from skyseg.runtime.result import SegResult


def _result(mask: np.ndarray, index: int = 0) -> SegResult:
    empty = np.zeros((0,), np.float32)
    return SegResult(np.zeros((0, 4)), empty, np.zeros((0,), np.int64), mask.shape, index=index, _sky=mask)


def _horizon(h: int = 60, w: int = 80) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * h) ** 2


def test_combined_mask_is_never_sky_where_most_frames_say_not_sky() -> None:
    rng = np.random.default_rng(0)
    h, w = 40, 50
    base = rng.random((h, w))  # per-pixel probability of being sky: many pixels flicker
    prior = HorizonPrior(learn_frames=3, min_agreement=0.0)  # every frame combined, however noisy
    masks = []
    for i in range(40):
        raw = rng.random((h, w)) < base
        masks.append(raw)
        out = prior.apply(_result(raw, i))
        majority = np.sum(masks, axis=0) * 2 > len(masks)  # computed here, independently of the class
        assert np.array_equal(out.raw_sky_mask, raw)
        assert out.mask_source == ("learning" if i < 2 else "prior")
        if out.mask_source == "prior":  # while learning, the model's own mask is written unchanged
            assert not (out.sky_mask & ~majority).any(), f"frame {i}: sky outside the night's majority"
        else:
            assert out.sky_mask is raw


def test_a_lamp_switched_on_is_not_sky_and_a_meteor_hole_is_filled() -> None:
    truth = _horizon()
    prior = HorizonPrior(learn_frames=8)
    for i in range(25):  # the hole is filled where ≥ 95 % of the night's frames (this one counted) are sky
        prior.apply(_result(truth.copy(), i))
    lamp = truth.copy()
    lamp[50:58, 5:15] = True  # glare on the ground read as sky
    lamp[20:26, 30:50] = False  # a meteor read as a horizon: a hole in the sky
    out = prior.apply(_result(lamp, 25))
    assert out.mask_source == "prior"
    assert np.array_equal(out.sky_mask, truth)
    assert out.raw_sky_fraction > 0 and not np.array_equal(out.raw_sky_mask, out.sky_mask)


def test_learning_frames_and_other_sizes_keep_the_raw_mask() -> None:
    prior = HorizonPrior(learn_frames=5)
    truth = _horizon()
    for i in range(4):
        out = prior.apply(_result(truth, i))
        assert out.mask_source == "learning" and out.sky_mask is truth
    other = np.ones((30, 40), bool)
    out = prior.apply(_result(other, 4))
    assert out.mask_source == "model" and np.array_equal(out.sky_mask, other)
    assert prior.frames == 4


def test_frames_of_another_camera_keep_their_own_mask() -> None:
    prior = HorizonPrior(learn_frames=4)
    here = _horizon()
    for i in range(6):
        prior.apply(_result(here, i))
    elsewhere = np.zeros_like(here)
    elsewhere[:25] = True  # a camera that sees the sky in the top third only
    out = prior.apply(_result(elsewhere, 6))
    assert out.mask_source == "model" and np.array_equal(out.sky_mask, elsewhere) and prior.disagreed == 1
    assert prior.apply(_result(here, 7)).mask_source == "prior"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="learn_frames"):
        HorizonPrior(learn_frames=0)
    with pytest.raises(ValueError, match="stable_share"):
        HorizonPrior(stable_share=0.4)


def test_prior_is_on_by_default_only_for_fixed_camera_sources() -> None:
    cfg = RunConfig(source="x", model="m")
    assert make_prior(cfg, "images") is not None and make_prior(cfg, "watch") is not None
    assert make_prior(cfg, "file") is None and make_prior(cfg, "rtsp") is None
    assert make_prior(RunConfig(source="x", model="m", prior="off"), "images") is None
    assert make_prior(RunConfig(source="x", model="m", prior="on"), "rtsp") is not None


def test_run_on_a_folder_writes_combined_and_raw_masks_and_says_so(tmp_path: Path, realsky_dir: Path) -> None:
    from astropy.io import fits

    from skyseg.runtime.process.preprocess import to_rgb8

    base = to_rgb8(np.squeeze(fits.getdata(realsky_dir / "iceact_starry.fits")))
    night = tmp_path / "night"
    night.mkdir()
    for i in range(6):
        img = cv2.resize(base, (160, 120), interpolation=cv2.INTER_AREA)
        if i == 5:
            cv2.rectangle(img, (0, 100), (60, 119), (255, 255, 255), -1)  # a lamp-lit patch at the edge
        cv2.imwrite(str(night / f"image-{i:04d}.png"), img)
    cfg = RunConfig(source=str(night), model=str(bundled_model_path()), backend="ort", threads=1, headless=True,
                    masks=str(tmp_path / "masks"), table=str(tmp_path / "r.csv"), prior_frames=3)
    run(cfg)
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [r["mask"] for r in rows] == ["learning", "learning", "prior", "prior", "prior", "prior"]
    for r in rows:
        assert 0.0 < float(r["raw_sky_fraction"]) <= 1.0
    combined = cv2.imread(str(tmp_path / "masks" / "image-0005_mask.png"), cv2.IMREAD_GRAYSCALE)
    raw = cv2.imread(str(tmp_path / "masks_raw" / "image-0005_mask.png"), cv2.IMREAD_GRAYSCALE)
    assert combined is not None and raw is not None and combined.shape == raw.shape == (120, 160)
    # The combined mask never adds sky that the night's majority (of the model's own masks) does not have.
    raws = []
    for i in range(6):
        name = f"image-{i:04d}_mask.png"
        kept = tmp_path / "masks_raw" / name
        raws.append(cv2.imread(str(kept if kept.exists() else tmp_path / "masks" / name), cv2.IMREAD_GRAYSCALE) > 0)
    majority = np.sum(raws, axis=0) * 2 > len(raws)
    # Beyond the votes, only the night's own evidence may add sky: a thin band next to the majority sky, taken from
    # the median of the frames, so never the patch lit in one frame only.
    added = (combined > 0) & ~majority
    lamp = np.zeros_like(added)
    lamp[100:120, 0:61] = True
    assert not (added & lamp & ~majority).any()
    assert np.count_nonzero(added) <= 0.05 * np.count_nonzero(majority)
    off = tmp_path / "off.csv"
    run(RunConfig(source=str(night), model=str(bundled_model_path()), backend="ort", threads=1, headless=True,
                  table=str(off), prior="off"))
    assert {r["mask"] for r in csv.DictReader(open(off))} == {"model"}
