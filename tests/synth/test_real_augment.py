"""Training variants of labelled real frames: geometry moves mask and pixels together, labels match the masks."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.synth.polygons import rasterize
from skyseg.synth.real_augment import (_crop, _housing_corners, _rotate, augment, labelled_frames, main,
                                       write_variants)

REALSKY = Path(__file__).resolve().parents[2] / "datasets" / "realsky"


def _marked_frame() -> tuple[np.ndarray, np.ndarray]:
    """An image whose red channel is 255 exactly where the mask is sky (so geometry can be checked pixel-wise)."""
    mask = np.zeros((240, 320), np.uint8)
    cv2.circle(mask, (160, 120), 100, 255, -1)
    cv2.rectangle(mask, (150, 20), (170, 120), 0, -1)  # a mast
    image = np.zeros((240, 320, 3), np.uint8)
    image[..., 0] = mask
    return image, mask


def test_rotation_and_crop_move_the_mask_with_the_pixels():
    image, mask = _marked_frame()
    rng = np.random.default_rng(3)
    for angle in (17.0, 90.0, 233.0):
        rot_img, rot_mask = _rotate(image, mask, angle, 1.07, flip=True)
        img, m = _crop(rng, rot_img, rot_mask, 16 / 9, 0.8)
        sky_px = img[..., 0] > 127
        agree = np.count_nonzero(sky_px == (m > 0)) / m.size
        assert agree > 0.99, (angle, agree)  # only bilinear edge pixels may differ
        assert set(np.unique(m)) <= {0, 255}
        assert abs(img.shape[1] / img.shape[0] - 16 / 9) < 0.02


def test_housing_corners_are_dark_and_not_sky():
    image, mask = _marked_frame()
    mask[:] = 255
    image[:] = 200
    rng = np.random.default_rng(0)
    for _ in range(5):
        _housing_corners(rng, image, mask)
    dark = mask == 0
    assert dark.any(), "no corner painted in five tries"
    assert image[dark].max() <= 40 and image[~dark].min() == 200


def test_variants_of_real_frames_have_labels_that_rasterise_to_their_masks(tmp_path):
    frames = labelled_frames([REALSKY])
    assert {f.camera for f in frames} == {"cta", "iceact", "indiallsky_a", "indiallsky_b", "magic"}
    data = write_variants(frames[:3], tmp_path, per_frame=2, seed=5, long_side=320)
    assert data.is_file()
    images = sorted((tmp_path / "images/train").glob("*.jpg"))
    assert len(images) == 6
    for image in images:
        mask = cv2.imread(str(tmp_path / "masks/train" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
        pic = cv2.imread(str(image))
        assert max(mask.shape) == 320 and mask.shape == pic.shape[:2]
        assert 0.05 < np.count_nonzero(mask) / mask.size < 1.0
        h, w = mask.shape
        polys = []
        for line in (tmp_path / "labels/train" / f"{image.stem}.txt").read_text().splitlines():
            xy = np.asarray(line.split()[1:], np.float64).reshape(-1, 2) * (w, h)
            polys.append(xy)
        drawn = rasterize(polys, (h, w)) > 0
        iou = np.count_nonzero(drawn & (mask > 0)) / np.count_nonzero(drawn | (mask > 0))
        assert iou > 0.98, (image.name, iou)


def test_same_seed_same_variant_other_seed_other_variant():
    frames = labelled_frames([REALSKY])
    from skyseg.synth.real_augment import load_labelled

    image, mask = load_labelled(frames[0])
    a = augment(np.random.default_rng([1, 0, 0]), image, mask, 256)
    b = augment(np.random.default_rng([1, 0, 0]), image, mask, 256)
    c = augment(np.random.default_rng([2, 0, 0]), image, mask, 256)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])


def test_excluding_every_camera_is_one_sentence_and_exit_2(tmp_path, caplog):
    rc = main([str(REALSKY), "-o", str(tmp_path / "out"),
               "--exclude-cameras", "cta,iceact,indiallsky_a,indiallsky_b,magic"])
    assert rc == 2
    assert "no labelled real frames" in caplog.text
    with pytest.raises(InputError, match="per-frame"):
        write_variants(labelled_frames([REALSKY])[:1], tmp_path / "x", per_frame=0, seed=0)


def test_every_camera_gets_about_the_same_number_of_variants():
    from skyseg.synth.real_augment import variants_per_frame

    frames = labelled_frames([REALSKY])  # magic 3 frames, iceact 2, indiallsky_a 2, cta 1, indiallsky_b 1
    counts = variants_per_frame(frames, 12)
    per_camera: dict[str, int] = {}
    for f, n in zip(frames, counts):
        per_camera[f.camera] = per_camera.get(f.camera, 0) + n
    assert per_camera == {"cta": 12, "iceact": 12, "indiallsky_a": 12, "indiallsky_b": 12, "magic": 12}
