"""The one stopwatch of the benches and GPU checks: one call (`timed`), the median of repeated calls (`median_ms`),
and calls taken in turn round by round (`round_robin_ms`), so that load drifting over a run hits every one alike."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Dict, List, Tuple, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T], clock: Callable[[], float] = time.perf_counter) -> Tuple[T, float]:
    """`fn()`'s value and the milliseconds it took."""
    start = clock()
    value = fn()
    return value, (clock() - start) * 1e3


def round_robin_ms(fns: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 0) -> Dict[str, List[float]]:
    """Per-round times in ms of each named call: every call once per round, in turn; `warmup` rounds untimed."""
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for i in range(warmup + rounds):
        for name, fn in fns.items():
            _, ms = timed(fn)
            if i >= warmup:
                times[name].append(ms)
    return times


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
