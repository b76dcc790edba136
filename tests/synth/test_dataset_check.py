"""Dataset validation: one exact message per bad-label case, fixes that are logged, CLI exit codes."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.cli.main import main
from skyseg.runtime.errors import InputError
from skyseg.synth.dataset_check import CheckConfig, check_dataset, label_path

GOOD = "0 0.1 0.1 0.9 0.1 0.5 0.8"
BAD_LINES = {
    "few_points": ("0 0.1 0.1 0.9 0.1", "polygon has 2 points; at least 3 are needed"),
    "odd": ("0 0.1 0.1 0.9 0.1 0.5", "odd number of coordinates (5); expected x y pairs"),
    "out_of_range": ("0 0.1 -0.2 1.3 0.1 0.5 0.8", "2 coordinates outside [0, 1] (e.g. -0.2)"),
    "unknown_class": ("3 0.1 0.1 0.9 0.1 0.5 0.8", "class id 3 is not in names [0]"),
    "garbage": ("sky 0.1 0.1", "not a label line (expected 'class x1 y1 x2 y2 ...' numbers): 'sky 0.1 0.1'"),
}


def _make(root: Path) -> Path:
    """A dataset with one good image, one image per bad-line case, and file-level problems."""
    img = np.full((16, 16, 3), 40, np.uint8)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    cv2.imwrite(str(root / "images/val/good.png"), img)
    (root / "labels/val/good.txt").write_text(GOOD + "\n")
    for name, (line, _) in BAD_LINES.items():
        cv2.imwrite(str(root / f"images/train/{name}.png"), img)
        (root / f"labels/train/{name}.txt").write_text(f"{GOOD}\n{line}\n")
    cv2.imwrite(str(root / "images/train/nolabel.png"), img)
    (root / "labels/train/orphan.txt").write_text(GOOD + "\n")
    (root / "images/train/broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "labels/train/broken.txt").write_text(GOOD + "\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: sky\n")
    return data


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    return _make(tmp_path / "ds")


def test_each_bad_case_has_its_message(dataset: Path) -> None:
    report = check_dataset(CheckConfig(dataset))
    root = dataset.parent
    got = {str(p) for p in report.problems}
    for name, (_, message) in BAD_LINES.items():
        assert f"{root}/labels/train/{name}.txt:2: {message}" in got
    assert f"{root}/images/train/nolabel.png: image has no label file (expected {root}/labels/train/nolabel.txt)" in got
    assert f"{root}/labels/train/orphan.txt: label file has no image (no matching file under images/)" in got
    assert f"{root}/images/train/broken.png: unreadable image (cv2 could not decode it)" in got
    assert len(report.problems) == len(BAD_LINES) + 3
    assert report.remaining == report.problems and not report.ok


def test_clip_fixes_only_out_of_range(dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    report = check_dataset(CheckConfig(dataset, fix="clip"))
    root = dataset.parent
    assert report.fixes == [f"{root}/labels/train/out_of_range.txt:2: clip coordinates to [0, 1]"]
    assert (root / "labels/train/out_of_range.txt").read_text().splitlines()[1] == "0 0.1 0 1 0.1 0.5 0.8"
    assert "clip coordinates to [0, 1]" in caplog.text
    assert len(report.remaining) == len(report.problems) - 1
    again = check_dataset(CheckConfig(dataset))
    assert not any("out_of_range" in str(p) for p in again.problems)


def test_drop_removes_bad_lines_and_dry_run_writes_nothing(dataset: Path) -> None:
    root = dataset.parent
    before = {p: p.read_bytes() for p in (root / "labels").rglob("*.txt")}
    dry = check_dataset(CheckConfig(dataset, fix="drop", dry_run=True))
    assert len(dry.fixes) == len(BAD_LINES) and all(": would drop the line (" in f for f in dry.fixes)
    assert {p: p.read_bytes() for p in (root / "labels").rglob("*.txt")} == before
    assert len(dry.remaining) == len(dry.problems)
    report = check_dataset(CheckConfig(dataset, fix="drop"))
    for name in BAD_LINES:
        assert (root / f"labels/train/{name}.txt").read_text() == GOOD + "\n"
    assert len(report.remaining) == 3  # file-level problems cannot be fixed by editing labels


def test_cli_exit_codes(dataset: Path, tmp_path: Path) -> None:
    assert main(["dataset", "check", str(dataset)]) == 1
    assert main(["dataset", "check", str(tmp_path / "missing.yaml")]) == 2
    clean = tmp_path / "clean"
    (clean / "images").mkdir(parents=True)
    (clean / "labels").mkdir()
    cv2.imwrite(str(clean / "images/a.png"), np.zeros((8, 8, 3), np.uint8))
    (clean / "labels/a.txt").write_text(GOOD + "\n")
    assert main(["dataset", "check", str(clean)]) == 0


def test_label_path_and_missing_names(tmp_path: Path) -> None:
    assert label_path(Path("/d/images/train/images/x.jpg")) == Path("/d/images/train/labels/x.txt")
    bad = tmp_path / "data.yaml"
    bad.write_text("train: images\nval: images\n")
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="has no 'names'"):
        check_dataset(CheckConfig(bad))
