"""runtime/checkpoint.py: a PyTorch checkpoint told by suffix and first bytes, its training size read without torch and
without running anything from the file."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from skyseg.runtime.checkpoint import is_torch_checkpoint, read_checkpoint, train_imgsz
from skyseg.runtime.errors import InputError

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "weights"


def test_the_bundled_checkpoint_is_one_and_was_trained_at_320() -> None:
    assert is_torch_checkpoint(WEIGHTS / "skyseg-n.pt")
    assert not is_torch_checkpoint(WEIGHTS / "skyseg-n.onnx")
    assert train_imgsz(WEIGHTS / "skyseg-n.pt") == 320
    ckpt = read_checkpoint(WEIGHTS / "skyseg-n.pt")
    assert ckpt["train_args"]["task"] == "segment" and ckpt["train_args"]["imgsz"] == 320


def test_the_name_alone_does_not_make_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    (tmp_path / "model.onnx.pt").write_bytes((WEIGHTS / "skyseg-n.onnx").read_bytes()[:4096])
    (tmp_path / "weights.bin").write_bytes((WEIGHTS / "skyseg-n.pt").read_bytes())
    assert not any(is_torch_checkpoint(tmp_path / n) for n in ("notes.pt", "model.onnx.pt", "weights.bin", "none.pt"))


def test_legacy_pickle_format_and_a_size_pair(tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    with open(path, "wb") as f:  # torch.save's legacy layout: magic number, protocol, system info, object
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True},
                    {"epoch": 3, "train_args": {"imgsz": [384, 640]}}):
            pickle.dump(obj, f, protocol=2)
    assert is_torch_checkpoint(path) and train_imgsz(path) == 640


def test_a_zip_without_data_pkl_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    assert is_torch_checkpoint(path)
    with pytest.raises(InputError, match="without data.pkl"):
        train_imgsz(path)


class _Payload:
    """Unpickling this with the standard unpickler would create a file (os.system would be as easy)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_reading_a_hostile_checkpoint_runs_none_of_its_code(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "best.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("best/data.pkl", pickle.dumps({"train_args": {"imgsz": 320}, "hook": _Payload(str(target))},
                                                 protocol=2))
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "proof"))))  # the standard unpickler does run it
    assert (tmp_path / "proof").exists()
    assert train_imgsz(path) == 320 and not target.exists()
