"""`--model best.pt`: exported once (child process, trained size, verified), cached by hash, reused by run and the
dashboard; without the train side one sentence and exit 2. One real export of the bundled checkpoint (~30 s)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from skyseg.cli.main import main as cli_main
from skyseg.runtime.checkpoint_export import BESIDE, resolve_model
from skyseg.runtime.file_digest import file_sha256

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "models" / "weights" / "skyseg-n.pt"
FRAME = REPO / "datasets" / "realsky" / "images" / "val" / "magic_20180817_0341.fits"
# A runtime-only install, made real in a fresh interpreter: the train side cannot be imported at all.
NO_TRAIN_SIDE = """
import sys
class NoTrainSide:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'torchvision', 'ultralytics', 'onnx'):
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
        return None
sys.meta_path.insert(0, NoTrainSide())
from skyseg.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """best.pt (the bundled checkpoint under a user's name) and its export, with the user cache in a temp folder."""
    root = tmp_path_factory.mktemp("pt")
    weights = root / "weights" / "best.pt"
    weights.parent.mkdir()
    shutil.copy(CHECKPOINT, weights)
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(root / "user-cache")
    try:
        start = time.perf_counter()
        onnx = Path(resolve_model(str(weights)))
        yield weights, onnx, time.perf_counter() - start
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = old


@pytest.mark.slow  # the module's one real export
def test_exported_once_at_the_trained_size_beside_the_weights(exported) -> None:
    weights, onnx, _ = exported
    digest = file_sha256(weights)
    assert onnx == weights.parent / BESIDE / f"best-{digest[:16]}.onnx"
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert session.get_inputs()[0].shape == [1, 3, 320, 320]  # skyseg export's default: the trained size
    assert meta["skyseg_source_sha256"] == digest and meta["skyseg_train_imgsz"] == "320"
    assert "*" in (onnx.parent / ".gitignore").read_text()  # a cache inside a checkout stays out of git status


@pytest.mark.slow  # the module's one real export
def test_the_second_resolve_reuses_the_export(exported) -> None:
    weights, onnx, first_s = exported
    mtime = onnx.stat().st_mtime_ns
    start = time.perf_counter()
    assert Path(resolve_model(str(weights))) == onnx
    assert time.perf_counter() - start < min(2.0, first_s / 5) and onnx.stat().st_mtime_ns == mtime


@pytest.mark.slow  # the module's one real export
def test_an_export_kept_under_the_save_dir_is_found_for_the_same_weights(exported, tmp_path: Path) -> None:
    weights, onnx, _ = exported
    elsewhere = tmp_path / "copy" / "best.pt"
    elsewhere.parent.mkdir()
    shutil.copy(weights, elsewhere)
    (tmp_path / "save" / "models").mkdir(parents=True)
    shutil.copy(onnx, tmp_path / "save" / "models" / onnx.name)
    assert Path(resolve_model(str(elsewhere), tmp_path / "save")) == tmp_path / "save" / "models" / onnx.name
    assert resolve_model(str(onnx)) == str(onnx) and resolve_model(str(FRAME)) == str(FRAME)  # not checkpoints


@pytest.mark.slow  # the module's one real export
def test_skyseg_run_with_best_pt_on_a_real_frame(exported, tmp_path: Path) -> None:
    weights, _, _ = exported
    assert cli_main(["run", str(FRAME), "--model", str(weights), "--save-dir", str(tmp_path / "out"),
                     "--backend", "ort", "--headless", "--masks"]) == 0
    mask = tmp_path / "out" / "masks" / "magic_20180817_0341_mask.png"
    import cv2

    sky = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    assert sky.shape == (1040, 1392) and 0.2 < float(np.mean(sky == 255)) < 0.9


def test_without_the_train_side_one_sentence_and_exit_2(tmp_path: Path) -> None:
    weights = tmp_path / "best.pt"
    shutil.copy(CHECKPOINT, weights)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", NO_TRAIN_SIDE, "run", str(FRAME), "--model", str(weights),
                           "--save-dir", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("E ")]
    assert len(errors) == 1 and "is a PyTorch checkpoint and this installation has no PyTorch/Ultralytics" in errors[0]
    assert "`skyseg export best.pt -o best.onnx` on the training machine" in errors[0]
    assert not (tmp_path / BESIDE).exists() and "Traceback" not in done.stderr


@pytest.mark.slow  # the module's one real export
def test_the_dashboard_lists_server_side_checkpoints_and_opens_their_export(exported, tmp_path: Path) -> None:
    from skyseg.runtime.pipeline import RunConfig
    from skyseg.serve.model_catalog import ModelCatalog
    from skyseg.serve.live_model import open_checked

    weights, onnx, _ = exported
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shutil.copy(weights, uploads / "w.pt")  # a pickle in the upload folder is never offered
    catalog = ModelCatalog(str(onnx), str(weights.parent), uploads)
    keys = [e.key for e in catalog.entries()]
    assert "folder:best.pt" in keys and not any(k.startswith("uploaded:") for k in keys)
    assert not any(BESIDE in k for k in keys)
    backend = open_checked(catalog.find("folder:best.pt").path, RunConfig(source="", model="", backend="ort"))
    try:
        assert tuple(backend.input_hw) == (320, 320)
    finally:
        backend.__exit__(None, None, None)
