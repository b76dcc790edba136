"""Fixtures shared by the runtime tests."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest


@pytest.fixture()
def gradient_night(tmp_path: Path) -> Callable[[int, int], Path]:
    """A folder of `frames` small PNGs (a left-to-right gradient, the top `step * i` rows dark in frame i, so every
    frame's mask differs): `gradient_night(frames, step)` -> the folder."""
    def make(frames: int, step: int) -> Path:
        folder = tmp_path / "night"
        folder.mkdir()
        for i in range(frames):
            img = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (72, 1, 3))
            img[: step * i] = 30
            cv2.imwrite(str(folder / f"f{i:02d}.png"), img)
        return folder
    return make
