"""The models the page may pick: the bundled one, the one given at start, a `--models-dir` folder's .onnx/.engine
files and .pt checkpoints (server-side files, exported to ONNX once when chosen), and .onnx files uploaded through
the page (kept under SAVE_DIR/models). The browser names a model by its key, never by a path."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from skyseg.runtime.backends.base import ENGINE_SUFFIXES
from skyseg.runtime.checkpoint import CHECKPOINT_SUFFIXES
from skyseg.runtime.errors import SkysegError

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".onnx", *ENGINE_SUFFIXES)


@dataclass(frozen=True)
class ModelEntry:
    key: str  # origin:file name
    origin: str  # bundled | start | folder | uploaded
    path: Path

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "name": self.path.name, "origin": self.origin}


class ModelCatalog:
    """Lists models fresh on each call (a file dropped into the folder shows up without a restart)."""

    def __init__(self, start_model: str, models_dir: str | None, upload_dir: Path) -> None:
        self.start_model = Path(start_model)
        self.models_dir = Path(models_dir) if models_dir else None
        self.upload_dir = upload_dir

    def _bundled(self) -> Path | None:
        from skyseg.runtime.bundled_model import bundled_model_path

        try:
            return bundled_model_path()
        except SkysegError:
            return None

    def entries(self) -> list[ModelEntry]:
        out: list[ModelEntry] = []
        bundled = self._bundled()
        if bundled is not None:
            out.append(ModelEntry(f"bundled:{bundled.name}", "bundled", bundled))
        if bundled is None or self.start_model.resolve() != bundled.resolve():
            out.append(ModelEntry(f"start:{self.start_model.name}", "start", self.start_model))
        for origin, folder in (("folder", self.models_dir), ("uploaded", self.upload_dir)):
            if folder is None or not folder.is_dir():
                continue
            suffixes = MODEL_SUFFIXES + CHECKPOINT_SUFFIXES if origin == "folder" else MODEL_SUFFIXES  # never uploads
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith("."):
                    out.append(ModelEntry(f"{origin}:{path.name}", origin, path))
        return out

    def find(self, key: str) -> ModelEntry | None:
        return next((e for e in self.entries() if e.key == key), None)

    def start_key(self) -> str:
        """The key of the model given at start (the bundled one's key when it is that file)."""
        bundled = self._bundled()
        if bundled is not None and bundled.resolve() == self.start_model.resolve():
            return f"bundled:{bundled.name}"
        return f"start:{self.start_model.name}"
