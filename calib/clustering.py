"""k-means in numpy and the pick of calibration frames: near each cluster's centre first, then spread out.

Every cluster gets at least one frame (rare conditions — moonrise, a lit dome — are covered), the remaining
slots go to clusters in proportion to their size, and inside a cluster frames are added farthest-point first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(centres [k, D], labels [N]) by k-means++ seeding and Lloyd iterations; empty clusters are re-seeded."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        centres.append(x[rng.choice(n, p=d2 / total)] if total > 0 else x[rng.integers(n)])
    c = np.asarray(centres, dtype=np.float64)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        new = d2.argmin(axis=1)
        for j in range(k):
            members = x[new == j]
            if len(members):
                c[j] = members.mean(axis=0)
            else:  # re-seed at the point worst served by its centre
                far = int(d2[np.arange(n), new].argmax())
                c[j], new[far] = x[far], j
        if np.array_equal(new, labels):
            break
        labels = new
    return c, labels


@dataclass(frozen=True)
class Pick:
    """One chosen frame: its row, cluster, and why it was chosen."""

    row: int
    cluster: int
    reason: str
    distance_to_centre: float


def allocate(sizes: list[int], n: int) -> list[int]:
    """Slots per cluster: ≥ 1 each (when n allows), the rest proportional to size, never above the size."""
    k = len(sizes)
    if n >= sum(sizes):
        return list(sizes)
    slots = [0] * k
    order = np.argsort(sizes)[::-1]
    for j in order[: min(n, k)]:
        slots[j] = 1
    left = n - sum(slots)
    while left > 0:
        room = np.array([sizes[j] - slots[j] for j in range(k)], dtype=np.float64)
        want = np.array(sizes, dtype=np.float64) / sum(sizes) * n - np.array(slots)
        want[room <= 0] = -np.inf
        j = int(np.argmax(want))
        slots[j] += 1
        left -= 1
    return slots


def pick_spread(x: np.ndarray, n: int, k: int, seed: int = 0) -> tuple[list[Pick], np.ndarray, np.ndarray]:
    """Choose n rows of x covering its clusters; returns (picks, centres, labels)."""
    centres, labels = kmeans(x, k, seed)
    sizes = [int((labels == j).sum()) for j in range(len(centres))]
    picks: list[Pick] = []
    for j, slots in enumerate(allocate(sizes, n)):
        rows = np.flatnonzero(labels == j)
        if slots == 0 or len(rows) == 0:
            continue
        dist = np.linalg.norm(x[rows] - centres[j], axis=1)
        first = int(np.argmin(dist))
        chosen = [first]
        picks.append(Pick(int(rows[first]), j, f"nearest to the centre of cluster {j} ({sizes[j]} frames)",
                          float(dist[first])))
        gap = np.linalg.norm(x[rows] - x[rows[first]], axis=1)
        for _ in range(slots - 1):
            gap[chosen] = -1.0
            nxt = int(np.argmax(gap))
            picks.append(Pick(int(rows[nxt]), j, f"spread: farthest in cluster {j} from frames already chosen "
                              f"(feature distance {gap[nxt]:.2f})", float(dist[nxt])))
            chosen.append(nxt)
            gap = np.minimum(gap, np.linalg.norm(x[rows] - x[rows[nxt]], axis=1))
    picks.sort(key=lambda p: p.row)
    return picks, centres, labels
