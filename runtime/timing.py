"""Median wall (or CPU) time of a repeated call, for the benches and GPU checks."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], repeats: int, *, sync: Callable[[], None] | None = None, warmup: int = 1,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Median of `repeats` timed calls of `fn` in ms, after `warmup` untimed calls (kernel compiles, allocations).

    `sync` (e.g. a CUDA stream's synchronize) runs after the warm-up and inside every timed interval, so
    asynchronous GPU work is counted; `clock=time.process_time` measures this process's CPU time instead.
    """
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        if sync is not None:
            sync()
        times.append((clock() - start) * 1e3)
    return float(statistics.median(times))
