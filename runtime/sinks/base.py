"""What sinks consume, and their shared interface.

A sink is configured in `__init__`, gets one `write(record)` per frame (a result or an error record) and a
`close()` at the end of the run, which must leave complete files. Sinks never reach back into the backend.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from skyseg.runtime.frame import FrameRecord

__all__ = ["FrameRecord", "Sink"]  # FrameRecord lives beside Frame; sinks import it from here too


class Sink(ABC):
    """Consumes FrameRecords; `close()` finalises its files (idempotent)."""

    @abstractmethod
    def write(self, record: FrameRecord) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def outputs(self) -> list[Path]:
        """Files this sink has completed so far (for the run summary)."""
        return []
