"""Calibration-set selection, storage and the preprocessing identity with the runtime."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import skyseg.runtime.process.preprocess as runtime_preprocess
from skyseg.calib import calib_set
from skyseg.calib.calib_set import CalibrationSet, iter_tensors
from skyseg.calib.clustering import allocate, kmeans, pick_spread
from skyseg.calib.selection import SelectConfig, select_calibration_set
from skyseg.cli.main import main
from skyseg.runtime.errors import InputError
from skyseg.runtime.sources.uri import open_source


@pytest.fixture(scope="module")
def real_set(realsky_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "set"
    assert main(["calib", "select", str(realsky_dir), "-o", str(out), "--n", "4", "--seed", "1"]) == 0
    return out


def test_select_writes_frames_and_reasons(real_set: Path, realsky_count: int) -> None:
    manifest = json.loads((real_set / "manifest.json").read_text())
    assert manifest["readable"] == realsky_count and manifest["unreadable"] == []
    frames = manifest["frames"]
    assert len(frames) == 4 and len({f["source_path"] for f in frames}) == 4
    for f in frames:
        assert (real_set / f["file"]).is_file()
        assert f["reason"].startswith(("nearest to the centre of cluster", "spread: farthest"))
        assert set(f["stats"]) >= {"p50", "saturated", "noise", "corner_ratio", "chroma"}
    assert sum(c["chosen"] for c in manifest["clusters"]) == 4
    assert all(c["chosen"] >= 1 for c in manifest["clusters"])  # every cluster is represented


def test_calibration_uses_the_runtime_preprocess(real_set: Path) -> None:
    # the same function object, not a copy
    assert calib_set.preprocess is runtime_preprocess.preprocess
    manifest = json.loads((real_set / "manifest.json").read_text())
    by_path = {f["source_path"]: f["file"] for f in manifest["frames"]}
    entries = {e.path.name: e for e in CalibrationSet.load(real_set).entries}
    checked = 0
    with open_source(str(Path(next(iter(by_path))).parent)) as src:
        for frame in src:
            if frame.path not in by_path:
                continue
            if ".fits" in frame.path:
                assert frame.pixels.dtype != np.uint8  # 16-bit / float FITS: the stretch matters
            want, want_info = runtime_preprocess.preprocess(frame.pixels, (256, 320))
            (_, got, got_info), = iter_tensors([entries[by_path[frame.path]]], (256, 320))
            assert got.dtype == np.float32 and np.array_equal(got, want)  # bit-identical
            assert got_info == want_info
            checked += 1
    assert checked == 4


def test_unreadable_source_says_what_was_found(tmp_path: Path) -> None:
    src = tmp_path / "night"
    src.mkdir()
    for i in range(3):
        (src / f"frame{i}.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match=r"0 readable images among 3 inputs in .*night; 3 failed to decode: frame0"):
        select_calibration_set(SelectConfig(str(src), tmp_path / "out", n=2))


def test_empty_and_corrupt_calibration_sets_are_errors(tmp_path: Path, synth_calib: Path) -> None:
    with pytest.raises(InputError, match="no manifest.json"):
        CalibrationSet.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "skyseg-calib/1", "frames": []}))
    with pytest.raises(InputError, match="lists no frames"):
        CalibrationSet.load(tmp_path)
    entries = CalibrationSet.load(synth_calib).entries[:2]
    broken = tmp_path / "broken.png"
    broken.write_bytes(entries[0].path.read_bytes()[:40])
    bad = [calib_set.CalibEntry(broken, {"file": "broken.png"})]
    with pytest.raises(InputError, match="cannot decode calibration frame .*broken.png"):
        list(iter_tensors(bad, (64, 64)))


def test_output_folder_with_foreign_files_is_refused(tmp_path: Path, realsky_dir: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not empty"):
        select_calibration_set(SelectConfig(str(realsky_dir), out, n=1))
    assert (out / "holiday.jpg").exists()


def test_synth_set_has_masks_and_strata(synth_calib: Path) -> None:
    cs = CalibrationSet.load(synth_calib)
    assert len(cs) == 10
    e = cs.entries[0]
    assert e.mask_path is not None and e.mask_path.is_file()
    assert set(e.strata) == {"kind", "moon", "clouds", "light_pollution", "twilight"}
    cal, hold = cs.split(0.2, seed=0)
    assert len(hold) == 2 and len(cal) == 8 and not {x.path for x in cal} & {x.path for x in hold}
    assert [x.path for x in cs.split(0.2, seed=0)[1]] == [x.path for x in hold]  # seeded


def test_kmeans_separates_blobs_and_spread_covers_rare_cluster() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(0, 0.1, (60, 2))
    mid = rng.normal(0, 0.1, (30, 2)) + [5, 0]
    rare = rng.normal(0, 0.1, (2, 2)) + [0, 5]
    x = np.concatenate([big, mid, rare])
    centres, labels = kmeans(x, 3, seed=0)
    assert len(set(labels[:60])) == 1 and len(set(labels[60:90])) == 1 and len(set(labels[90:])) == 1
    assert len(set(labels)) == 3
    picks, _, _ = pick_spread(x, 6, 3, seed=0)
    rows = {p.row for p in picks}
    assert len(rows) == 6 and rows & {90, 91}  # the 2-frame condition is not drowned by the 60-frame one
    assert allocate([60, 30, 2], 6) == [3, 2, 1]
    assert allocate([5, 1], 10) == [5, 1]
