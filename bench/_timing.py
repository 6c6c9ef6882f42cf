"""Timing helpers shared by the benchmarks (run as scripts, so this is imported as ``_timing``)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping


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


def alternate_passes(
    children: Mapping[str, subprocess.Popen[str]], count: int
) -> dict[str, list[dict[str, float]]]:
    """``count`` passes of each checkout's child process, one of each in turn, which goes first
    alternating, so that a busy moment of a shared machine falls on all of them alike; then their end.

    A child runs one pass per ``pass`` line it reads and answers with one line: a JSON object of its
    timings. Its standard input closed, it ends."""
    passes: dict[str, list[dict[str, float]]] = {name: [] for name in children}
    order = list(children.items())
    for number in range(count):
        for name, process in order[number % len(order) :] + order[: number % len(order)]:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("pass\n")
            process.stdin.flush()
            passes[name].append(json.loads(process.stdout.readline()))
    for process in children.values():
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    return passes
