"""render_scene: determinism, exact ground truth, 16-bit depth, argument errors."""
from __future__ import annotations

import numpy as np
import pytest

from skyseg.runtime.process.stretch import stretch_to_uint8
from skyseg.synth import render_scene
from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.synth.polygons import rasterize

SIZE = (256, 192)


@pytest.mark.parametrize("kind", ["allsky", "camera", "mixed"])
def test_same_seed_gives_identical_bytes(kind: str) -> None:
    a = render_scene(123, kind, SIZE)
    b = render_scene(123, kind, SIZE)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes()
    assert a.conditions == b.conditions
    c = render_scene(124, kind, SIZE)
    assert c.image.tobytes() != a.image.tobytes()


@pytest.mark.parametrize("kind", ["allsky", "camera"])
def test_polygons_reproduce_mask(kind: str) -> None:
    for seed in range(12):
        scene = render_scene(seed, kind, SIZE)
        assert scene.kind == kind
        assert scene.image.shape == (SIZE[1], SIZE[0], 3) and scene.image.dtype == np.uint8
        assert scene.mask.dtype == np.uint8 and set(np.unique(scene.mask)) <= {0, 255}
        iou = mask_iou(rasterize(scene.polygons, scene.mask.shape), scene.mask)
        assert iou >= 0.99, f"seed {seed}: polygon IoU {iou:.4f}"
        assert 0.02 < scene.conditions["sky_fraction"] < 1.0


def test_sixteen_bit_uses_more_than_eight_bits() -> None:
    scene = render_scene(7, "allsky", SIZE, bit_depth=16)
    img = scene.image
    assert img.dtype == np.uint16 and img.shape == (SIZE[1], SIZE[0], 3)
    assert int(img.max()) - int(img.min()) > 255
    assert np.mean(img % 256 != 0) > 0.9
    assert len(np.unique(img)) > 256
    # The runtime's stretch turns it into a usable 8-bit view: sky brighter than the dark frame around it.
    view = stretch_to_uint8(img)[..., 0]
    assert view[scene.mask > 0].mean() > view[scene.mask == 0].mean() + 10


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        render_scene(0, "moon", SIZE)
    with pytest.raises(ValueError, match="bit_depth must be 8 or 16"):
        render_scene(0, "allsky", SIZE, bit_depth=12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_full_size_frames_keep_exact_ground_truth(seed: int) -> None:
    scene = render_scene(seed, "mixed", (640, 480))
    assert scene.image.shape == (480, 640, 3)
    assert mask_iou(rasterize(scene.polygons, scene.mask.shape), scene.mask) >= 0.99
    assert scene.conditions["instances"] == len(scene.polygons) >= 1
    for key in ("moon", "clouds", "brightness", "noise", "light_pollution", "mono", "bit_depth"):
        assert key in scene.conditions


def test_regions_merge_into_one_instance_without_changing_the_mask() -> None:
    """Three separate regions become one polygon whose fill equals the union up to the 1-px bridges."""
    from skyseg.synth.polygons import merge_regions

    mask = np.zeros((120, 200), np.uint8)
    mask[10:50, 10:60] = 255
    mask[70:110, 30:90] = 255
    mask[20:100, 140:190] = 255
    regions = [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
               for x0, y0, x1, y1 in [(10, 10, 59, 49), (30, 70, 89, 109), (140, 20, 189, 99)]]
    merged = merge_regions(regions)
    assert len(merged) == 1 and len(merged[0]) == 4 * 3 + 2 * 2  # every vertex kept, +2 per bridge
    filled = rasterize(merged, mask.shape)
    assert np.count_nonzero(filled & ~mask) < 120  # only the bridge lines are extra
    assert np.all(filled[mask > 0] == 255)
    assert merge_regions([]) == [] and len(merge_regions(regions[:1])) == 1
