"""Shared helpers for the benchmark scripts (each prints ratios measured in one run)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """Best (largest) rate over several runs: the least disturbed by a noisy machine."""
    return max(fn() for _ in range(runs))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
