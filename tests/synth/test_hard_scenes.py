"""allsky-hard scenes: lamp-lit structures, rims crossing the frame edge, meteors, glare, text, real-sky composites.

Each new element must keep the ground truth exact: structures are obstacles attached to the horizon, light and
transients never change the mask, and composites replace sky pixels only.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.synth import render_scene
from skyseg.synth.composite import SkyTexture, composite_sky, largest_disc
from skyseg.synth.polygons import rasterize
from skyseg.synth.transients import add_glare, add_meteors, stamp_text
from skyseg.synth.urban import add_lit_structures

SIZE = (320, 240)


def _polar(w: int, h: int, cx: float, cy: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot(xx - cx, yy - cy)


def test_hard_scenes_are_deterministic_and_polygons_match() -> None:
    for seed in range(6):
        a = render_scene(seed, "allsky-hard", SIZE)
        b = render_scene(seed, "allsky-hard", SIZE)
        assert a.image.tobytes() == b.image.tobytes() and a.mask.tobytes() == b.mask.tobytes()
        assert a.conditions == b.conditions
        assert mask_iou(rasterize(a.polygons, a.mask.shape), a.mask) >= 0.99
    assert render_scene(7, "allsky-hard", SIZE).image.tobytes() != render_scene(8, "allsky-hard", SIZE).image.tobytes()


@pytest.mark.parametrize("seed", range(8))
def test_lit_structures_are_attached_obstacles_inside_the_circle(seed: int) -> None:
    w, h = 400, 300
    cx, cy, radius = 200.0, 150.0, 170.0
    r_sky = radius * 0.95
    r = _polar(w, h, cx, cy)
    inside = r < radius
    obstacle = np.zeros((h, w), bool)
    fg = np.zeros((h, w), np.float32)
    tint = np.ones((h, w, 3), np.float32)
    rng = np.random.default_rng(seed)
    notes = add_lit_structures(rng, obstacle, fg, tint, inside, cx, cy, r_sky)
    assert notes["lit_buildings"] + notes["lit_trees"] >= 1
    assert obstacle.any()
    assert not (obstacle & ~inside).any(), "a structure was drawn outside the image circle"
    tinted = (tint != 1.0).any(axis=2)
    assert not (tinted & ~obstacle).any(), "lamp colour on a pixel that is not foreground"
    assert not ((fg != 0) & ~obstacle).any(), "foreground brightness written on a sky pixel"
    # Every structure touches the horizon circle, so the sky around it has no hole.
    count, labels = cv2.connectedComponents(obstacle.astype(np.uint8), connectivity=8)
    for k in range(1, count):
        assert r[labels == k].max() >= r_sky - 1, f"structure {k} floats in the sky"


def test_some_structures_are_brighter_than_the_sky() -> None:
    w, h, cx, cy = 400, 300, 200.0, 150.0
    inside = _polar(w, h, cx, cy) < 170
    brightest = []
    for seed in range(10):
        obstacle, fg = np.zeros((h, w), bool), np.zeros((h, w), np.float32)
        add_lit_structures(np.random.default_rng(seed), obstacle, fg, np.ones((h, w, 3), np.float32), inside,
                           cx, cy, 160.0)
        brightest.append(float(fg[obstacle].max()))
    assert max(brightest) > 2.0  # lit windows / lamp-lit facades: several times the horizon sky level
    assert min(brightest) > 0.0


def test_rims_cross_the_frame_edge_and_no_sky_outside_the_circle() -> None:
    cropped = 0
    for seed in range(16):
        scene = render_scene(seed, "allsky-hard", (320, 180))
        notes = scene.conditions["layout"]
        cx, cy = notes["circle_center"]
        r = _polar(320, 180, cx, cy)
        assert not ((scene.mask > 0) & (r >= notes["circle_radius_px"])).any()
        sky = scene.mask > 0
        if sky[0].any() or sky[-1].any() or sky[:, 0].any() or sky[:, -1].any():
            cropped += 1
    assert cropped >= 3, "the circle should often be cropped by a 16:9 sensor"


def _scenes_with(note: str, count: int = 3) -> list:
    found = []
    for seed in range(200):
        scene = render_scene(seed, "allsky-hard", SIZE)
        if scene.conditions["layout"].get(note):
            found.append(scene)
            if len(found) == count:
                return found
    raise AssertionError(f"no allsky-hard scene with {note} in 200 seeds")


def test_sky_to_rim_scenes_are_sky_exactly_inside_the_image_circle() -> None:
    for scene in _scenes_with("sky_to_rim"):
        layout = scene.conditions["layout"]
        r = _polar(*SIZE, *layout["circle_center"])
        inside = r < layout["circle_radius_px"] - 1.5
        beyond = r > layout["circle_radius_px"] + 1.5
        assert (scene.mask[inside] == 255).all() and (scene.mask[beyond] == 0).all()


def test_bright_outside_is_as_bright_as_the_sky_and_never_sky() -> None:
    for scene in _scenes_with("bright_outside"):
        layout = scene.conditions["layout"]
        gray = scene.image.astype(np.float32).reshape(*scene.mask.shape, -1).mean(axis=2)
        r = _polar(*SIZE, *layout["circle_center"])
        outside = r > layout["circle_radius_px"] + 1.5
        assert (scene.mask[outside] == 0).all()
        near = outside & (r < layout["circle_radius_px"] * 1.1)  # next to the rim: brightest stray light
        assert np.median(gray[near]) >= 0.5 * np.median(gray[scene.mask > 0])


def test_meteors_and_glare_add_light_without_touching_the_mask_or_the_ground() -> None:
    h, w = 200, 300
    sky = np.zeros((h, w), bool)
    sky[:120] = True
    rad = np.ones((h, w, 3), np.float32)
    rng = np.random.default_rng(3)
    assert add_meteors(rng, rad, sky, 1.0, 2) == 2
    assert np.all(rad[~sky] == 1.0), "a meteor was drawn over the ground"
    assert rad[sky].max() > 3.0
    mono = np.ones((h, w, 1), np.float32)
    add_glare(np.random.default_rng(4), mono, 150.0, 120.0, 1.0)
    assert mono[100:140, 130:170].mean() > 1.5 and mono.min() >= 1.0  # glare crosses the horizon line


def test_text_overlay_stays_in_a_corner() -> None:
    img = np.zeros((360, 640, 3), np.uint8)
    text = stamp_text(np.random.default_rng(11), img)
    assert text
    ys, xs = np.nonzero(img.max(axis=2))
    assert ys.size > 0
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert box < 0.25 * img.shape[0] * img.shape[1]
    assert ys.min() < 60 or ys.max() > 300  # at the top or the bottom edge


def test_largest_disc_of_a_known_disc() -> None:
    mask = np.zeros((300, 400), np.uint8)
    cv2.circle(mask, (230, 140), 90, 255, -1)
    cx, cy, r = largest_disc(mask, margin=0.0)
    assert abs(cx - 230) <= 1 and abs(cy - 140) <= 1 and abs(r - 90) <= 1.5


def test_composite_replaces_sky_pixels_only_with_the_texture() -> None:
    scene = render_scene(5, "allsky-hard", SIZE)
    tex_img = np.zeros((500, 500, 3), np.uint8)
    tex_img[:, :, 1] = 200  # a green texture: nothing generated is this colour
    tex = SkyTexture("green", tex_img, 250.0, 250.0, 240.0)
    out = composite_sky(np.random.default_rng(0), scene.image, scene.mask, tex, mono=False)
    sky = scene.mask > 0
    assert np.array_equal(out[~sky], scene.image[~sky])
    assert (out[sky][:, 0] == 0).all() and (out[sky][:, 1] > 0).all()
    again = composite_sky(np.random.default_rng(0), scene.image, scene.mask, tex, mono=False)
    assert np.array_equal(out, again)


def test_composite_samples_only_inside_the_sure_sky_disc() -> None:
    scene = render_scene(9, "allsky-hard", SIZE)
    # A texture whose disc is grey 100 and whose outside is 0: any sample outside the disc would show up as dark.
    tex_img = np.zeros((600, 800, 3), np.uint8)
    cv2.circle(tex_img, (500, 280), 200, (100, 100, 100), -1)
    tex = SkyTexture("disc", tex_img, 500.0, 280.0, 196.0)
    for seed in range(5):
        out = composite_sky(np.random.default_rng(seed), scene.image, scene.mask, tex, mono=True)
        sky = out[scene.mask > 0][:, 0].astype(int)
        assert sky.min() > 0.3 * math.floor(sky.mean())


def test_the_bundled_models_texture_list_loads_and_its_discs_fit() -> None:
    from pathlib import Path

    from skyseg.synth.composite import load_textures

    spec = Path(__file__).resolve().parents[2] / "models" / "weights" / "training" / "realsky_textures.json"
    textures = load_textures(spec)
    assert len(textures) == 3
    for tex in textures:
        h, w = tex.image.shape[:2]
        assert tex.radius <= tex.cx <= w - tex.radius and tex.radius <= tex.cy <= h - tex.radius, tex.name
