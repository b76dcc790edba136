"""`skyseg evaluate`: ground truth from masks or polygons, IoU arithmetic, the bundled model end to end, errors."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from skyseg.cli.main import main
from skyseg.runtime.errors import InputError
from skyseg.runtime.quality.evaluate import dataset_frames, evaluate_dataset, read_truth


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory) -> Path:
    """Four generated all-sky frames with exact masks and their polygons."""
    from skyseg.synth.dataset import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("evalset") / "ds"
    generate_dataset(SynthConfig(out_dir=root, n=4, seed=5, kind="allsky", size=(192, 192), workers=1))
    return root


class _ShiftedTruth:
    """A stand-in segmenter whose 'prediction' is the ground truth shifted down by `dy` rows."""

    def __init__(self, root: Path, dy: int) -> None:
        self.root, self.dy = root, dy

    def segment_frame(self, frame):
        image = Path(frame.path)
        truth = cv2.imread(str(self.root / "masks" / image.parent.name / f"{image.stem}.png"), 0)
        return SimpleNamespace(sky_mask=np.roll(truth, self.dy, axis=0))


def test_polygons_and_masks_give_the_same_truth(tiny_synth):
    for image, mask_path in dataset_frames(tiny_synth):
        label = tiny_synth / "labels" / image.parent.name / f"{image.stem}.txt"
        mask = read_truth(mask_path, (192, 192))
        assert mask_path.suffix == ".png" and mask.any()
        from_polygons = read_truth(label, (192, 192))
        assert np.count_nonzero(mask ^ from_polygons) / np.count_nonzero(mask | from_polygons) < 0.01


def test_iou_arithmetic_against_an_independent_count(tiny_synth):
    score = evaluate_dataset(_ShiftedTruth(tiny_synth, 3), tiny_synth)
    assert len(score.frames) == 4
    inter = union = 0
    for _image, mask_path in dataset_frames(tiny_synth):
        truth = cv2.imread(str(mask_path), 0) > 127
        pred = np.roll(truth, 3, axis=0)
        inter, union = inter + np.sum(truth & pred), union + np.sum(truth | pred)
    assert score.pooled_iou == pytest.approx(inter / union, abs=1e-12)
    assert 0.8 < score.mean_iou < 1.0 and score.worst(1)[0].iou == min(f.iou for f in score.frames)
    assert evaluate_dataset(_ShiftedTruth(tiny_synth, 0), tiny_synth).mean_iou == 1.0


def test_bundled_model_end_to_end_with_json_and_gate(tiny_synth, tmp_path, capsys, caplog):
    out = tmp_path / "e.json"
    assert main(["evaluate", str(tiny_synth), "--threads", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    ds = doc["datasets"][0]
    assert ds["frames"] == 4 and len(ds["per_frame"]) == 4 and 0.5 < ds["mean_iou"] <= 1.0
    assert f"| {tiny_synth} | 4 |" in capsys.readouterr().out
    assert main(["evaluate", str(tiny_synth), "--threads", "1", "--min-iou", "1.0"]) == 3
    assert "is below --min-iou 1.0" in caplog.text


def test_missing_truth_and_wrong_layout_are_clear_errors(tiny_synth, tmp_path):
    with pytest.raises(InputError, match="no images/ folder"):
        dataset_frames(tmp_path)
    (tmp_path / "images" / "val").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "val" / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=r"a.png has no ground truth: neither .*masks/val/a.png nor .*a.txt exists"):
        dataset_frames(tmp_path)
    (tmp_path / "masks" / "val").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "masks" / "val" / "a.png"), np.zeros((9, 8), np.uint8))
    with pytest.raises(InputError, match="is 8x9 but its image is 8x8"):
        read_truth(tmp_path / "masks" / "val" / "a.png", (8, 8))
    with pytest.raises(InputError, match="no split 'test'"):
        dataset_frames(tiny_synth, "test")


def test_false_and_missed_sky_shares_on_a_hand_built_case() -> None:
    """A 10×10 frame: truth = the top 6 rows; prediction = rows 2..9 → 40 false-sky pixels (rows 6..9),
    20 missed (rows 0..1): shares 0.4 and 0.2 of the 100 pixels, IoU 40 / 100."""
    from skyseg.runtime.quality.mask_metrics import error_shares, mask_iou

    truth = np.zeros((10, 10), np.uint8)
    truth[:6] = 255
    pred = np.zeros((10, 10), bool)
    pred[2:] = True
    assert error_shares(pred, truth) == (0.4, 0.2)
    assert mask_iou(pred, truth) == pytest.approx(0.4)
    assert error_shares(truth, truth) == (0.0, 0.0)
    with pytest.raises(ValueError, match="mask shapes differ"):
        error_shares(pred, truth[:5])


def test_evaluate_reports_the_shares_per_frame(tiny_synth):
    score = evaluate_dataset(_ShiftedTruth(tiny_synth, 3), tiny_synth)
    doc = score.to_json()
    for (_image, mask_path), frame in zip(dataset_frames(tiny_synth), score.frames):
        truth = cv2.imread(str(mask_path), 0) > 127
        pred = np.roll(truth, 3, axis=0)
        assert frame.false_sky == pytest.approx(np.mean(pred & ~truth))
        assert frame.missed_sky == pytest.approx(np.mean(~pred & truth))
        assert doc["per_frame_shares"][frame.name]["false_sky"] == pytest.approx(frame.false_sky, abs=1e-6)
    assert doc["max_false_sky"] == max(f.false_sky for f in score.frames) > 0


def test_error_overlay_colours_each_kind_of_pixel() -> None:
    from skyseg.runtime.quality.error_sheet import FALSE_SKY, MISSED_SKY, RIGHT_SKY, error_overlay

    rgb = np.full((2, 2, 3), 100, np.uint8)
    predicted = np.array([[True, True], [False, False]])
    truth = np.array([[True, False], [True, False]])
    out = error_overlay(rgb, predicted, truth).astype(int)
    assert np.array_equal(out[1, 1], [100, 100, 100])  # right ground: untouched
    for (y, x), color in (((0, 0), RIGHT_SKY), ((0, 1), FALSE_SKY), ((1, 0), MISSED_SKY)):
        assert np.argmax(out[y, x]) == np.argmax(color), (y, x, out[y, x])
    assert out[0, 1, 0] > 200 and out[0, 1, 1] < 60  # false sky is clearly red


def test_evaluate_writes_an_error_sheet(tiny_synth, tmp_path):
    sheet = tmp_path / "sheet.png"
    assert main(["evaluate", str(tiny_synth), "--threads", "1", "--sheet", str(sheet)]) == 0
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape == (2 * 360, 3 * 360, 3)  # 4 tiles of 360 px in rows of 3


def test_frames_are_grouped_by_camera_and_the_headline_is_the_camera_mean(tiny_synth, tmp_path):
    """cameras.tsv groups frames; each camera weighs the same in camera_mean_iou, however many frames it has."""
    import shutil

    from skyseg.runtime.quality.evaluate import markdown

    root = tmp_path / "cams"
    shutil.copytree(tiny_synth, root)
    names = [image.name for image, _ in dataset_frames(root)]
    (root / "cameras.tsv").write_text("file\tcamera\n" + "".join(f"{n}\t{'big' if i < 3 else 'small'}\n"
                                                                  for i, n in enumerate(names)))
    shifts = {names[0]: 0, names[1]: 0, names[2]: 0, names[3]: 12}

    class _PerFrameShift(_ShiftedTruth):
        def segment_frame(self, frame):
            self.dy = shifts[Path(frame.path).name]
            return super().segment_frame(frame)

    score = evaluate_dataset(_PerFrameShift(root, 0), root)
    groups = score.by_camera()
    assert list(groups) == ["big", "small"] and [len(v) for v in groups.values()] == [3, 1]
    small = groups["small"][0].iou
    assert small < 0.95
    assert score.camera_mean_iou == pytest.approx((1.0 + small) / 2, abs=1e-12)
    assert score.mean_iou == pytest.approx((3.0 + small) / 4, abs=1e-12)
    data = score.to_json()
    assert data["cameras"] == 2 and data["per_camera"]["big"]["frames"] == 3
    assert "camera-mean IoU" in markdown([score], "m") and "| small | 1 |" in markdown([score], "m")
    (root / "cameras.tsv").write_text("file\tcamera\nonly-one-cell\n")
    with pytest.raises(InputError, match="cameras.tsv:2"):
        evaluate_dataset(_ShiftedTruth(root, 0), root)


@pytest.mark.parametrize("content, match", [
    (b"0 0.1 0.1 nan 0.5 0.9 0.9\n", "NaN, infinite or out-of-frame"),
    (b"0 0.1 0.1 inf 0.5 0.9 0.9\n", "NaN, infinite or out-of-frame"),
    (b"0 0.1 0.1 0.5 0.5 7.0 0.9\n", "NaN, infinite or out-of-frame"),
    (b"0 0.1 0.1 0.5 0.5\n", "at least three points"),
    (b"\xff\xfe0 0.1\x00\n", "not UTF-8"),
])
def test_bad_label_values_are_one_sentence_not_a_silent_score(tmp_path, content, match):
    label = tmp_path / "x.txt"
    label.write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_truth(label, (50, 60))
