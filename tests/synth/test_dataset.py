"""generate_dataset and `skyseg synth`: layout, worker independence, Ultralytics compatibility, exit codes."""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from skyseg.cli.main import main
from skyseg.synth.dataset import SynthConfig, generate_dataset
from skyseg.runtime.quality.mask_metrics import mask_iou
from skyseg.synth.polygons import rasterize

N = 6
SIZE = (160, 128)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "data.yaml"}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("w1")
    generate_dataset(SynthConfig(out_dir=root, n=N, seed=5, size=SIZE, workers=1, val_fraction=0.34))
    return root


def test_layout_and_labels(one_worker: Path) -> None:
    data = yaml.safe_load((one_worker / "data.yaml").read_text())
    assert data["names"] == {0: "sky"}
    assert Path(data["path"]).is_absolute() and Path(data["path"]) == one_worker.resolve()
    images = sorted((one_worker / "images").rglob("*.png"))
    assert len(images) == N
    assert len(list((one_worker / "images" / "val").glob("*.png"))) == 2
    for img_path in images:
        split, stem = img_path.parent.name, img_path.stem
        mask = cv2.imread(str(one_worker / "masks" / split / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (SIZE[1], SIZE[0])
        polys = []
        for line in (one_worker / "labels" / split / f"{stem}.txt").read_text().splitlines():
            parts = line.split()
            assert parts[0] == "0" and len(parts) % 2 == 1 and len(parts) >= 7
            xy = np.array(parts[1:], float).reshape(-1, 2)
            assert xy.min() >= 0.0 and xy.max() <= 1.0
            polys.append(xy * SIZE)
        assert mask_iou(rasterize(polys, mask.shape), mask) >= 0.99


def test_workers_do_not_change_bytes(one_worker: Path, tmp_path: Path) -> None:
    generate_dataset(SynthConfig(out_dir=tmp_path, n=N, seed=5, size=SIZE, workers=2, val_fraction=0.34))
    assert _digest(tmp_path) == _digest(one_worker)


def test_data_yaml_loads_in_ultralytics(one_worker: Path) -> None:
    import skyseg.models  # noqa: F401  (configures Ultralytics offline before it is imported)
    from ultralytics.data.utils import check_det_dataset

    from ultralytics.data.utils import verify_image_label

    data = check_det_dataset(str(one_worker / "data.yaml"))
    assert data["nc"] == 1 and data["names"] == {0: "sky"}
    assert Path(data["train"]) == one_worker / "images" / "train"
    # Ultralytics' own per-file check (the one its dataloader runs): found, not corrupt, no warning.
    for img in sorted((one_worker / "images").rglob("*.png")):
        lbl = one_worker / "labels" / img.parent.name / f"{img.stem}.txt"
        out = verify_image_label((str(img), str(lbl), "", False, 1, 0, 0, False))
        _, lb, shape, segments, _, nm, nf, _, nc, msg = out
        assert (nm, nf, nc, msg) == (0, 1, 0, "")
        assert shape == (SIZE[1], SIZE[0]) and len(segments) == len(lb) >= 1


def test_cli_writes_dataset_and_reports_rate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ds"
    assert main(["synth", str(out), "--n", "2", "--seed", "1", "--size", "96", "64", "--bit-depth", "16"]) == 0
    assert "images/s" in capsys.readouterr().out
    img = cv2.imread(str(next((out / "images").rglob("*.png"))), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (64, 96, 3)
    # A second run into the same folder is refused (exit 2) unless --overwrite.
    assert main(["synth", str(out), "--n", "2", "--size", "96", "64"]) == 2
    (out / "images" / "train" / "keep.png").write_bytes(b"user file")
    assert main(["synth", str(out), "--n", "1", "--size", "96", "64", "--overwrite", "--val-fraction", "0"]) == 0
    # The old 16-bit dataset is gone (no stale frames), files that are not ours are kept.
    assert sorted(p.name for p in (out / "images").rglob("*.png")) == ["keep.png", "sky_000000.png"]


@pytest.mark.parametrize("argv, message", [
    (["--n", "0"], "--n must be at least 1, got 0."),
    (["--n", "2", "--bit-depth", "16", "--format", "jpg"], "16-bit frames need --format png"),
    (["--n", "2", "--val-fraction", "1.5"], "--val-fraction must be in [0, 1), got 1.5."),
])
def test_cli_rejects_bad_flags(tmp_path: Path, caplog: pytest.LogCaptureFixture, argv: list[str], message: str) -> None:
    assert main(["synth", str(tmp_path / "x"), *argv]) == 2
    assert message in caplog.text


def test_generated_dataset_passes_the_checker(one_worker: Path) -> None:
    from skyseg.synth.dataset_check import CheckConfig, check_dataset

    report = check_dataset(CheckConfig(one_worker / "data.yaml"))
    assert report.ok and report.images == N and report.labels == N


def test_failed_run_leaves_no_data_yaml_or_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skyseg.synth.dataset as dataset

    real = dataset.render_scene

    def flaky(seed: int, *args: object):
        if seed == dataset.image_seed(5, 2):
            (tmp_path / "images" / "train" / ".sky_000002.png.tmp1").write_bytes(b"half")
            raise RuntimeError("renderer failed")
        return real(seed, *args)

    monkeypatch.setattr(dataset, "render_scene", flaky)
    with pytest.raises(RuntimeError, match="renderer failed"):
        generate_dataset(SynthConfig(out_dir=tmp_path, n=4, seed=5, size=SIZE))
    assert not (tmp_path / "data.yaml").exists()
    assert not list(tmp_path.rglob(".*.tmp*"))
    assert (tmp_path / "images" / "train" / "sky_000000.png").is_file()
