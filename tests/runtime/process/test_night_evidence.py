"""The prior gives sky back: a rim band every frame misses is recovered from the night's median stack, and a pixel
that is not sky in most of the night's frames is never kept as sky (constructed night with a known answer)."""
from __future__ import annotations

import numpy as np

from skyseg.runtime.process.horizon_prior import HorizonPrior
from skyseg.runtime.process.night_evidence import NightEvidence
from skyseg.runtime.result import SegResult

H = W = 240
R, BAND = 100, 6  # image circle radius; the model misses the outer BAND px of it in every frame


def _result(mask: np.ndarray, index: int) -> SegResult:
    empty = np.zeros((0,), np.float32)
    return SegResult(np.zeros((0, 4)), empty, np.zeros((0,), np.int64), mask.shape, index=index, _sky=mask)


def _night(n: int = 12, lamp_frames: tuple[int, ...] = (3, 7), seed: int = 1):
    """Frames of a fixed camera: vignetted sky in a circle, a dark tree at the horizon, black outside; a lamp on the
    tree lit in `lamp_frames` (the model then calls it sky). Returns (frames, raw masks, truth)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    rr = np.hypot(xx - W / 2, yy - H / 2)
    circle = rr < R
    tree = circle & (yy > H / 2 + 55) & (np.abs(xx - W / 2) < 40)
    truth = circle & ~tree
    lamp = tree & (yy < H / 2 + 70) & (np.abs(xx - W / 2) < 8)
    frames, raws = [], []
    for i in range(n):
        sky = 150.0 - 90.0 * (rr / R) ** 2  # 150 at the zenith, 60 at the rim: darker than the rest, above black
        img = np.where(truth, sky, np.where(tree, 10.0, 4.0)) + rng.normal(0, 3, (H, W))
        raw = (rr < R - BAND) & ~tree
        if i in lamp_frames:
            img[lamp] = 240.0
            raw = raw | lamp
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        raws.append(raw)
    return frames, raws, truth, lamp


def test_a_rim_band_every_frame_misses_is_recovered_and_nothing_else_is_added() -> None:
    frames, raws, truth, lamp = _night()
    prior = HorizonPrior(learn_frames=4, min_agreement=0.0, refresh_every=1)
    votes_only = HorizonPrior(learn_frames=4, min_agreement=0.0)
    band = truth & ~raws[0]
    for i, (img, raw) in enumerate(zip(frames, raws)):
        out = prior.apply(_result(raw, i), display=img)
        plain = votes_only.apply(_result(raw, i))
        if i < 3:
            continue
        mask = out.sky_mask
        assert not (mask & ~truth).any(), f"frame {i}: {int((mask & ~truth).sum())} px of non-sky kept as sky"
        assert not (mask & lamp).any()
        recovered = np.count_nonzero(mask & band) / np.count_nonzero(band)
        assert recovered > 0.97, (i, recovered)
        assert not (plain.sky_mask & band).any()  # the votes alone never give the band back
        assert out.mask_source == "prior" and np.array_equal(out.raw_sky_mask, raw)


def test_no_contrast_no_recovery_and_frames_of_another_size_are_ignored() -> None:
    ev = NightEvidence()
    flat = np.full((H, W), 90, np.uint8)  # sky and outside alike: nothing to tell them apart
    for _ in range(5):
        assert ev.observe(flat)
    assert not ev.observe(np.zeros((H + 1, W), np.uint8))
    majority = np.zeros((H, W), bool)
    majority[60:180, 60:180] = True
    assert ev.recover(majority) is None
    assert ev.recover(np.zeros((H, W), bool)) is None


def test_the_stack_is_a_median_over_the_whole_night_within_its_frame_budget() -> None:
    ev = NightEvidence()
    for i in range(200):
        level = 200 if i % 10 == 0 else 50  # a lamp-like flash in one frame in ten
        ev.observe(np.full((20, 30, 3), level, np.uint8))
    assert 16 <= ev.frames <= 31
    assert int(ev.stack().max()) == 50
