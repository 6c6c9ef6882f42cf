"""Timing helpers shared by the benchmarks (run as scripts, so this is imported as ``_timing``)."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence


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


def start_child(command: list[str], env: dict[str, str] | None) -> subprocess.Popen[str]:
    """A checkout's child process (see :func:`alternate_passes`), once it has said ``ready``: its
    set-up (imports, keys, the work it will time) done before any pass is asked for."""
    process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready", command
    return process


def pass_spread(runs: Sequence[Mapping[str, float]]) -> str:
    """Each timing of the passes as ``name median [min–max]``, in the order a pass gives them."""
    return "  ".join(
        f"{key} {statistics.median(r[key] for r in runs):.1f}"
        f" [{min(r[key] for r in runs):.1f}–{max(r[key] for r in runs):.1f}]"
        for key in runs[0]
    )
