"""A hard kill between write and rename leaves a hidden temp file; the next run's per-frame sinks remove those of
dead writers and never one a live process is still writing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from skyseg.runtime.atomic_file import remove_dead_temps, temp_beside
from skyseg.runtime.sinks.masks import MaskSink

KILLED_WRITER = """
import os, signal, sys
from skyseg.runtime.atomic_file import temp_beside
fd, tmp = temp_beside(sys.argv[1])
os.write(fd, b"half a png")
print(tmp, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_leftover(target: Path) -> Path:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftover = Path(proc.stdout.strip())
    assert leftover.is_file() and leftover.parent == target.parent
    return leftover


def test_only_dead_writers_temps_are_removed(tmp_path: Path) -> None:
    (tmp_path / "2026-03-01").mkdir()
    dead = _killed_leftover(tmp_path / "2026-03-01" / "f1_mask.png")
    other = _killed_leftover(tmp_path / "f1.jpg")  # another sink's file: not this suffix
    fd, live = temp_beside(tmp_path / "f2_mask.png")  # this process is alive and still writing it
    os.close(fd)
    assert remove_dead_temps(tmp_path, "_mask.png") == 1
    assert not dead.exists() and other.exists() and live.exists()
    assert remove_dead_temps(tmp_path / "missing", "_mask.png") == 0


def test_a_mask_sink_opened_on_a_killed_runs_folder_removes_its_leftovers(tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    leftover = _killed_leftover(masks / "frame_000002_mask.png")
    MaskSink(masks)
    assert list(masks.iterdir()) == []
    assert not leftover.exists()
