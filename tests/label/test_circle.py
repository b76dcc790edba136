"""The image-circle fit on hand-built frames whose circle is known exactly."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from skyseg.label.circle import fit_circle_points, fit_image_circle
from skyseg.runtime.errors import InputError


def _disc_frame(h: int, w: int, cx: float, cy: float, r: float, seed: int = 0) -> np.ndarray:
    """Grey 8-bit frame: a lit disc (level ~150, noisy) of pixel centres within r of (cx, cy) on a dark ~10 ground."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    frame = np.where(inside, 150.0, 10.0) + rng.normal(0, 4, (h, w))
    return np.clip(frame, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("h", "w", "cx", "cy", "r"), [
    (300, 400, 201.3, 148.7, 120.4),  # whole circle inside the frame
    (480, 640, 330.0, 250.5, 228.0),
    (240, 480, 240.2, 121.6, 170.0),  # cropped by the sensor at top and bottom (points on the border are ignored)
])
def test_fit_finds_the_known_circle(h: int, w: int, cx: float, cy: float, r: float) -> None:
    circle = fit_image_circle(_disc_frame(h, w, cx, cy, r), threshold=80)
    assert abs(circle.cx - cx) <= 1.0 and abs(circle.cy - cy) <= 1.0
    assert abs(circle.r - r) <= 1.0


def test_fit_ignores_a_mast_cutting_into_the_rim() -> None:
    frame = _disc_frame(400, 400, 200.0, 200.0, 150.0)
    cv2.rectangle(frame, (190, 40), (230, 120), 10, thickness=-1)  # a dark housing over the top of the circle
    circle = fit_image_circle(frame, threshold=80)
    assert abs(circle.cx - 200.0) <= 1.0 and abs(circle.cy - 200.0) <= 1.0 and abs(circle.r - 150.0) <= 1.0


def test_disk_marks_pixel_centres_within_the_radius_less_the_margin() -> None:
    circle = fit_image_circle(_disc_frame(200, 200, 100.0, 100.0, 60.0), threshold=80)
    assert abs(circle.disk((200, 200)).sum() - np.pi * 60.0 ** 2) < 2 * np.pi * 60.0  # within one ring of pixels
    assert circle.disk((200, 200), margin=10).sum() < circle.disk((200, 200)).sum()


def test_points_on_a_circle_give_it_back_exactly() -> None:
    t = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    cx, cy, r = fit_circle_points(np.column_stack([12.5 + 7.0 * np.cos(t), -3.0 + 7.0 * np.sin(t)]))
    assert (cx, cy, r) == pytest.approx((12.5, -3.0, 7.0), abs=1e-9)


def test_a_frame_without_lit_pixels_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no pixel of the stack is brighter than the circle threshold"):
        fit_image_circle(np.zeros((50, 50), np.uint8), threshold=80)
