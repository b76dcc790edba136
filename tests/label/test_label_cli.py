"""`skyseg label` end to end: a mask from a folder of frames, and bad input as one sentence with exit 2."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.cli.main import main


def _night(folder: Path, n: int = 3, size: tuple[int, int] = (120, 160)) -> Path:
    """n 16-bit PNG frames of one fixed 'camera': a lit disc (r 50 at 80, 60) with a dark mast, and stars."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        rng = np.random.default_rng(i)
        frame = np.where((xx - 80) ** 2 + (yy - 60) ** 2 <= 50 ** 2, 20000.0, 500.0) + rng.normal(0, 200, (h, w))
        frame[10:60, 78:84] = 600.0  # the mast, 6 px wide
        stars = rng.integers(0, h * w, 30)
        frame.flat[stars] = 60000.0
        cv2.imwrite(str(folder / f"f{i:02d}.png"), np.clip(frame, 0, 65535).astype(np.uint16))
    return folder


def test_label_a_folder_with_polygons(tmp_path: Path) -> None:
    frames = _night(tmp_path / "night")
    polygons = tmp_path / "p.json"
    polygons.write_text(json.dumps({"threshold": "otsu", "blur": 3, "open": 0, "close": 0, "min_sky_area": 0,
                                    "max_hole_area": 0, "circle": {"threshold": 100, "margin": 0},
                                    "exclude": [[[0, 0], [159, 0], [159, 14], [0, 14]]]}))
    out = tmp_path / "out"
    assert main(["label", str(frames), "-o", str(out), "--polygons", str(polygons)]) == 0
    mask = cv2.imread(str(out / "mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (120, 160) and set(np.unique(mask)) == {0, 255}
    assert mask[60, 80] == 255 and mask[60, 5] == 0  # centre sky, outside the circle not
    assert (mask[20:55, 79:83] == 0).all()  # the mast is not sky (the threshold found it)
    assert (mask[:15] == 0).all()  # the exclude polygon
    record = json.loads((out / "label.json").read_text())
    assert len(record["frames"]) == 3 and abs(record["steps"]["circle"]["r"] - 50) <= 1.5
    assert cv2.imread(str(out / "overlay.png")).shape == (120, 160, 3)


def _bad_frame(folder: Path) -> list[str]:
    _night(folder, n=2)
    (folder / "f02.png").write_bytes(b"not a png at all")
    return [str(folder)]


def _mismatched(folder: Path) -> list[str]:
    _night(folder / "a", n=1)
    _night(folder / "b", n=1, size=(100, 160))
    return [str(folder / "a" / "f00.png"), str(folder / "b" / "f00.png")]


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: (d.mkdir(), [str(d)])[1], "no frames found at folder"),
    (lambda d: [str(d / "missing" / "*.fits")], "no frames found at path"),
    (_bad_frame, "cannot read frame"),
    (_mismatched, "f00.png is 160x100 but "),
    (lambda d: [], "no frames given"),
])
def test_bad_input_is_one_sentence_and_exit_2(make, message: str, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    frames = make(tmp_path / "in")
    with caplog.at_level(logging.ERROR):
        code = main(["label", *frames, "-o", str(tmp_path / "out")])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0]
    assert not (tmp_path / "out").exists()


def test_a_long_night_is_sampled_evenly() -> None:
    from skyseg.label.stack import stack_sample

    paths = [Path(f"f{i:03d}.png") for i in range(200)]
    picked = stack_sample(paths, limit=10)
    assert len(picked) == 10 and picked[0] == paths[0] and picked[-1] == paths[-1]
    assert stack_sample(paths[:5], limit=10) == paths[:5]


def test_polygons_for_another_camera_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frames = _night(tmp_path / "night", n=1)
    polygons = tmp_path / "p.json"
    polygons.write_text(json.dumps({"exclude": [[[0, 0], [5000, 0], [5000, 4000]]]}))
    with caplog.at_level(logging.ERROR):
        assert main(["label", str(frames), "-o", str(tmp_path / "out"), "--polygons", str(polygons)]) == 2
    assert "lies far outside the 160x120 frame" in caplog.records[-1].getMessage()
