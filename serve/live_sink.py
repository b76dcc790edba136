"""`LiveSink`: the one sink `skyseg serve` adds to the run's sinks; it hands each record to the page's state."""
from __future__ import annotations

from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.serve.live_state import LiveState


class LiveSink(Sink):
    """Stores a reference to each record in `LiveState` (no encoding here: that happens when a browser asks)."""

    def __init__(self, state: LiveState) -> None:
        self.state = state

    def write(self, record: FrameRecord) -> None:
        self.state.add_live(record)

    def close(self) -> None:
        """Nothing to finalise: the files are written by the run's own sinks."""
