"""One folder expansion (uri.list_images) for every command: a folder, a glob, a YOLO-seg dataset root and nested
night folders, on the repository's real frames and on a dataset made by `skyseg synth`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from skyseg.calib.selection import SelectConfig, select_calibration_set
from skyseg.runtime.sources.uri import list_images, open_source

DATASETS = Path(__file__).resolve().parents[3] / "datasets"


def test_a_dataset_root_gives_its_images_not_its_masks(realsky_dir: Path, realsky_count: int) -> None:
    root = DATASETS / "realsky"
    assert (root / "masks" / "val").is_dir()  # masks are PNGs: they must not be taken for frames
    assert list_images(root) == list_images(realsky_dir) and len(list_images(root)) == realsky_count
    assert all(p.parent == realsky_dir for p in list_images(root))


def test_realpool_dataset_root_as_a_source(realpool_dir: Path) -> None:
    frames = list_images(DATASETS / "realpool")
    assert len(frames) == len(list_images(realpool_dir)) == 36
    with open_source(str(DATASETS / "realpool")) as src:
        first = next(iter(src))
    assert Path(first.path) == frames[0] and first.pixels.size > 0


def test_nested_night_folders_and_a_folder_with_frames_of_its_own(tmp_path: Path, realsky_dir: Path) -> None:
    nights = tmp_path / "nights"
    for night, name in (("2024-01-02", "iceact_starry.fits"), ("2024-01-10", "iceact_cloudy.fits")):
        (nights / night).mkdir(parents=True)
        shutil.copy(realsky_dir / name, nights / night / name)
    (nights / ".thumbs").mkdir()
    shutil.copy(realsky_dir / "indiallsky_20210421_043940.jpg", nights / ".thumbs" / "t.jpg")
    assert [p.relative_to(nights).as_posix() for p in list_images(nights)] == [
        "2024-01-02/iceact_starry.fits", "2024-01-10/iceact_cloudy.fits"]
    shutil.copy(realsky_dir / "magic_20180816_2101.fits", nights / "top.fits")  # frames of its own: only those
    assert [p.name for p in list_images(nights)] == ["top.fits"]
    assert len(list_images(str(nights / "*" / "*.fits"))) == 2  # a glob is the user's own choice


def test_calib_select_on_a_synth_dataset_root(tmp_path: Path) -> None:
    from skyseg.synth.dataset import SynthConfig, generate_dataset

    root = tmp_path / "synth"
    generate_dataset(SynthConfig(out_dir=root, n=6, size=(160, 120), val_fraction=0.34))
    assert len(list_images(root)) == 6 and {p.parent.name for p in list_images(root)} == {"train", "val"}
    manifest = select_calibration_set(SelectConfig(str(root), tmp_path / "calib", n=4, seed=0))
    assert manifest.is_file() and len(list((tmp_path / "calib").glob("*.png"))) == 4


def test_an_empty_dataset_root_still_says_no_images(tmp_path: Path) -> None:
    (tmp_path / "images" / "val").mkdir(parents=True)
    from skyseg.runtime.errors import InputError

    with pytest.raises(InputError, match="no images found"):
        with open_source(str(tmp_path)):
            pass
