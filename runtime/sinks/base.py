"""What sinks consume, and their shared interface.

A sink is configured in `__init__`, gets one `write(record)` per frame (a result or an error record) and a
`close()` at the end of the run, which must leave complete files. Sinks never reach back into the backend.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.result import SegResult


@dataclass
class FrameRecord:
    """One processed input: the frame and its result, or the error record that replaced it."""

    frame: Frame | None = None
    result: SegResult | None = None
    error: FrameError | None = None
    rgb8: np.ndarray | None = None  # the frame as displayed (8-bit RGB, stretched when deep)
    fps: float | None = None  # the run's live throughput, for overlays
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def index(self) -> int:
        if self.frame is not None:
            return self.frame.index
        return self.error.index if self.error is not None else -1

    @property
    def path(self) -> str | None:
        if self.frame is not None:
            return self.frame.path
        return self.error.path if self.error is not None else None

    def stem(self) -> str:
        """A file-name stem for per-frame outputs: the input file's stem, else `frame_000123`."""
        path = self.path
        if path:
            name = Path(path).name
            for suffix in (".gz", ".fits", ".fit", ".fts"):
                if name.lower().endswith(suffix):
                    name = name[: -len(suffix)]
            return Path(name).stem if "." in name else name
        return f"frame_{self.index:06d}"


class Sink(ABC):
    """Consumes FrameRecords; `close()` finalises its files (idempotent)."""

    @abstractmethod
    def write(self, record: FrameRecord) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def outputs(self) -> list[Path]:
        """Files this sink has completed so far (for the run summary)."""
        return []
