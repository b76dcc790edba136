"""Fixtures shared by the runtime tests."""
from __future__ import annotations

import os
import signal
import subprocess
import time
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


@pytest.fixture()
def sigkill_after() -> Callable[[subprocess.Popen, Path, str, int], None]:
    """`sigkill_after(proc, folder, pattern, count)`: wait (at most 120 s) until `count` files in `folder` match
    `pattern`, then SIGKILL the process and reap it; fails with its stderr when it ends before that."""
    def kill(proc: subprocess.Popen, folder: Path, pattern: str, count: int) -> None:
        deadline = time.monotonic() + 120
        while len(list(folder.glob(pattern))) < count:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, f"the run wrote no {pattern} in {folder} in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return kill
