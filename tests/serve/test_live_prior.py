"""The live pipeline behind `skyseg serve` runs `skyseg run`'s per-installation horizon prior on a folder source:
the table says which frames were still learning and which carry the prior's mask, exactly as `run` writes it."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2

from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.pipeline import RunConfig
from skyseg.serve.config import ServeConfig
from skyseg.serve.live_pipeline import LivePipeline


def test_a_folder_source_learns_the_horizon_prior(tmp_path: Path) -> None:
    from skyseg.synth import render_scene

    folder = tmp_path / "night"
    folder.mkdir()
    for i in range(11):  # one fixed camera: the same scene, new noise each frame
        image = render_scene(4242, kind="allsky", size=(320, 240)).image
        noisy = cv2.add(image, (i * 3) % 7)
        cv2.imwrite(str(folder / f"f{i:03d}.png"), cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR))
    live = LivePipeline(ServeConfig(RunConfig(source=str(folder), model=str(bundled_model_path()), threads=1,
                                              save_dir=str(tmp_path / "out"))))
    live.start()
    live._thread.join(120)
    live.stop()
    assert live.status == "finished", live.error
    with (tmp_path / "out" / "results.csv").open(newline="") as fh:
        sources = [row["mask"] for row in csv.DictReader(fh)]
    assert sources[:7] == ["learning"] * 7 and len(sources) == 11
    assert set(sources[8:]) <= {"model", "prior"} and "learning" not in sources[8:]
