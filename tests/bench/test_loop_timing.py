"""`skyseg bench` at batch 1 times the run loop itself: the records it books are the ones `skyseg run` makes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from skyseg.bench.loop_timing import open_loop
from skyseg.bench.report import TOTAL
from skyseg.bench.throughput import BenchConfig
from skyseg.runtime.backends.base import open_backend
from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.frame import Frame
from skyseg.runtime.process.segmenter import Segmenter
from skyseg.runtime.sinks.base import Sink
from skyseg.runtime.sources.image_reader import read_frame_file

FRAME = Path(__file__).resolve().parents[2] / "datasets" / "realsky" / "images" / "val" / "magic_20180817_0055.fits"


class _Frames:
    """The bench feed's interface over frames already read: (pixels, decode ms, wait ms)."""

    def __init__(self, pixels: list[np.ndarray]) -> None:
        self.pixels = pixels

    def take(self, n: int):
        for px in self.pixels[:n]:
            yield px, 1.5, 0.0


class _Keep(Sink):
    def __init__(self, kept: list) -> None:
        self.kept = kept

    def write(self, record) -> None:
        self.kept.append(record)

    def close(self) -> None:
        """Nothing to finalise."""


def test_the_loop_books_every_stage_of_the_run_segmenters_records() -> None:
    frame = read_frame_file(FRAME, 0, "test")
    assert isinstance(frame, Frame), frame
    config = BenchConfig(model=str(bundled_model_path()), threads=1, frames=2, warmup=0)
    with open_backend(config.model, "ort", threads=1) as backend:
        pipeline, probe = open_loop(backend, config, _Frames([frame.pixels, frame.pixels]))
        kept = []
        with pipeline:
            probe.sampling = True
            pipeline.sinks.append(_Keep(kept))  # after the bench's own sink
            pipeline.run(probe.frames(2))
        expected = Segmenter(backend).record(frame)
    timing = probe.timing
    assert timing.frames == 2 and list(timing.samples) == ["decode", "preprocess", "inference", "postprocess",
                                                           "write", TOTAL]
    assert all(len(v) == 2 and min(v) > 0 for v in timing.samples.values())
    assert all(t >= i for t, i in zip(timing.samples[TOTAL], timing.samples["inference"]))
    assert len(kept) == 2 and np.array_equal(kept[0].result.sky_mask, expected.result.sky_mask)
    assert timing.instances == [len(expected.result)] * 2 and timing.frame_hw == frame.pixels.shape[:2]
