"""Timing helpers shared by the benchmarks (run as scripts, so this is imported as ``_timing``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def once_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of a one-off operation (a key load, a schema compilation), in milliseconds.

    The best, not the median: on a shared machine other work only ever adds time.
    """
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1000 * best
