"""A tiny CPU training run through `skyseg train`; its checkpoint reloads in a fresh process and predicts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.cli.main import main as skyseg_main

SIZE = 96


def _write_dataset(root: Path) -> Path:
    """Bright sky over a dark, uneven ground; one YOLO-seg polygon (the sky) per image."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(count):
            img = np.full((SIZE, SIZE, 3), 12, np.uint8)
            left, right = (int(v) for v in rng.integers(35, 65, size=2))
            sky = np.array([[0, 0], [SIZE - 1, 0], [SIZE - 1, right], [0, left]], np.int32)
            cv2.fillPoly(img, [sky], (190, 170, 150))
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), img)
            poly = " ".join(f"{x / (SIZE - 1):.5f} {y / (SIZE - 1):.5f}" for x, y in sky)
            (root / "labels" / split / f"{i}.txt").write_text(f"0 {poly}\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: sky\n")
    return data


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    data = _write_dataset(root / "ds")
    rc = skyseg_main(["train", "--data", str(data), "--epochs", "1", "--imgsz", "64", "--batch", "4",
                      "--workers", "0", "--project", str(root / "runs"), "--name", "tiny", "--no-plots"])
    assert rc == 0
    best = root / "runs" / "tiny" / "weights" / "best.pt"
    assert best.is_file()
    return best


@pytest.mark.slow
def test_checkpoint_reloads_in_fresh_process_and_predicts(checkpoint: Path):
    script = (
        "import json, sys, numpy as np\n"
        "import skyseg.models\n"
        "m = skyseg.models.load_model(sys.argv[1])\n"
        "r = m.predict(np.zeros((96, 96, 3), np.uint8), imgsz=64, device='cpu', verbose=False)[0]\n"
        "import torch\n"
        "pickled = type(torch.load(sys.argv[1], map_location='cpu', weights_only=False)['model'])\n"
        "print(json.dumps({'layer2': type(m.model.model[2]).__name__, 'layer10': type(m.model.model[10]).__name__,\n"
        "                  'names': m.names, 'boxes': list(r.boxes.data.shape), 'task': m.task,\n"
        "                  'pickled': f'{pickled.__module__}.{pickled.__name__}'}))\n"
    )
    env = {k: v for k, v in os.environ.items()}
    out = subprocess.run([sys.executable, "-c", script, str(checkpoint)], capture_output=True, text=True,
                         timeout=300, env=env, cwd=checkpoint.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["layer2"] == "C3k2OREPA" and result["layer10"] == "VSSBlock"
    assert result["names"] == {"0": "sky"} and result["task"] == "segment"
    assert result["boxes"][1] == 6  # xyxy, conf, cls
    # the trainer builds skyseg's model class, so plain Ultralytics code that fuses the checkpoint reparameterizes it
    assert result["pickled"] == "skyseg.models.segmentation_model.SkySegmentationModel"


def test_train_rejects_missing_dataset(tmp_path, caplog):
    assert skyseg_main(["train", "--data", str(tmp_path / "none.yaml"), "--epochs", "1"]) == 2
    assert "dataset YAML" in caplog.text and "does not exist" in caplog.text


def test_amp_check_is_replaced_only_during_training():
    from ultralytics.engine import trainer as trainer_module

    from skyseg.models.training.train import _amp_check_without_download

    original = trainer_module.check_amp
    with _amp_check_without_download():
        assert trainer_module.check_amp is not original and trainer_module.check_amp(None) is True
    assert trainer_module.check_amp is original


def test_cpu_training_gets_every_core_and_its_workers_back():
    """Ultralytics sets torch to cpu_count − 1 threads and 0 workers on CPU; skyseg's callback undoes both."""
    from types import SimpleNamespace

    import torch

    from skyseg.models.training.train import TrainConfig, _cpu_resources

    before = torch.get_num_threads()
    trainer = SimpleNamespace(device=torch.device("cpu"), args=SimpleNamespace(workers=0))
    try:
        torch.set_num_threads(1)
        _cpu_resources(TrainConfig(data=Path("d.yaml"), workers=3))(trainer)
        assert torch.get_num_threads() == os.cpu_count() and trainer.args.workers == 3
        _cpu_resources(TrainConfig(data=Path("d.yaml"), threads=1, workers=2))(trainer)
        assert torch.get_num_threads() == 1 and trainer.args.workers == 2
        gpu = SimpleNamespace(device=torch.device("cuda", 0), args=SimpleNamespace(workers=8))
        _cpu_resources(TrainConfig(data=Path("d.yaml"), workers=2))(gpu)
        assert gpu.args.workers == 8  # GPU training is left to Ultralytics
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_fine_tune_from_a_checkpoint_with_the_fine_tuning_knobs(checkpoint: Path, tmp_path: Path):
    """`--model best.pt` loads every tensor (Ultralytics reads `cv2[i][0].conv` of the RepVGG head) and the
    fine-tuning flags reach Ultralytics."""
    import yaml

    data = checkpoint.parents[3] / "ds" / "data.yaml"
    rc = skyseg_main(["train", "--data", str(data), "--model", str(checkpoint), "--epochs", "1", "--imgsz", "64",
                      "--batch", "4", "--workers", "0", "--project", str(tmp_path), "--name", "ft", "--no-plots",
                      "--optimizer", "AdamW", "--lr0", "0.0005", "--warmup-epochs", "0", "--close-mosaic", "1"])
    assert rc == 0 and (tmp_path / "ft" / "weights" / "best.pt").is_file()
    args = yaml.safe_load((tmp_path / "ft" / "args.yaml").read_text())
    assert (args["optimizer"], args["lr0"], args["warmup_epochs"], args["close_mosaic"]) == ("AdamW", 0.0005, 0.0, 1)
