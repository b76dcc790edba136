"""The benches' one stopwatch: a single call, and calls taken in turn round by round."""
from __future__ import annotations

import time

from skyseg.runtime.timing import round_robin_ms, timed


def test_timed_returns_the_value_and_the_time() -> None:
    value, ms = timed(lambda: (time.sleep(0.02), 7)[1])
    assert value == 7 and 15.0 <= ms < 1000.0


def test_round_robin_takes_each_call_in_turn_and_skips_the_warmup() -> None:
    order: list[str] = []
    times = round_robin_ms({"a": lambda: order.append("a"), "b": lambda: (order.append("b"), time.sleep(0.01))},
                           rounds=3, warmup=1)
    assert order == ["a", "b"] * 4
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert min(times["b"]) > max(times["a"]) and min(times["b"]) >= 8.0
