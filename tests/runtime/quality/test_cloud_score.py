"""`skyseg evaluate --clouds`: the logistic fit, leave-one-camera-out that never sees the scored camera, and the
command end to end on the labelled realsky frames."""
from __future__ import annotations

import json

import numpy as np
import pytest

from skyseg.cli.main import main
from skyseg.runtime.quality import cloud_score
from skyseg.runtime.quality.cloud_fit import fit_model


def test_fit_separates_and_weighs_cameras_equally():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(float)
    model = fit_model(x, y, ["a"] * 300 + ["b"] * 100)
    assert model.weights[0] > 0 > model.weights[1]
    with pytest.raises(ValueError, match="need cloud and clear cells"):
        fit_model(x, np.zeros(400), ["a"] * 400)


@pytest.fixture(scope="module")
def realsky_frames(realsky_dir):
    from skyseg.runtime.backends.base import open_backend
    from skyseg.runtime.bundled_model import bundled_model_path
    from skyseg.runtime.process.segmenter import Segmenter

    with open_backend(str(bundled_model_path()), backend="ort", threads=1) as backend:
        return cloud_score.load_labelled(Segmenter(backend), [realsky_dir.parent.parent])


def test_leave_one_camera_out_never_fits_on_the_scored_camera(realsky_frames, monkeypatch):
    seen = []
    real_fit = cloud_score.fit_model

    def recording_fit(x, y, cameras):
        seen.append(set(cameras))
        return real_fit(x, y, cameras)

    monkeypatch.setattr(cloud_score, "fit_model", recording_fit)
    scores, models = cloud_score.leave_one_camera_out(realsky_frames)
    cameras = sorted({f.camera for f in realsky_frames})
    assert sorted(models) == cameras and len(seen) == len(cameras)
    for cam, trained_on in zip(cameras, seen):
        assert cam not in trained_on and trained_on  # every other camera, never this one
    assert {f.camera for f in scores.frames} == set(cameras)


def test_scores_on_real_labels(realsky_frames):
    shipped = cloud_score.score_all(realsky_frames, cloud_score.DEFAULT_MODEL)
    table = shipped.camera_table()
    assert table["magic"]["region_accuracy"] == 1.0 and table["cta"]["region_accuracy"] == 1.0  # clear / overcast
    by_name = {f.name: f for f in shipped.frames}
    assert by_name["cta_cloudy.fits.gz"].fraction_true == 1.0 and by_name["cta_cloudy.fits.gz"].fraction_error < 0.05
    assert by_name["magic_20180817_0055.fits"].fraction_true == 0.0
    assert all(0 < f.scored <= 33 for f in shipped.frames)


def test_evaluate_clouds_command(realsky_dir, tmp_path, capsys):
    out = tmp_path / "clouds.json"
    assert main(["evaluate", "--clouds", str(realsky_dir.parent.parent), "--backend", "ort", "--threads", "1",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "region accuracy (LOCO)" in text and "| camera mean |" in text and "cloud step" in text
    data = json.loads(out.read_text())
    assert set(data["leave_one_camera_out"]["per_camera"]) == {"cta", "iceact", "indiallsky_a", "indiallsky_b", "magic"}
    assert len(data["cloud_ms"]) == len(data["segment_ms"]) == 9


def test_dataset_without_labels_is_refused(tmp_path, caplog):
    (tmp_path / "images" / "val").mkdir(parents=True)
    assert main(["evaluate", "--clouds", str(tmp_path), "--backend", "ort"]) != 0
    assert "has no clouds/ folder" in caplog.text
