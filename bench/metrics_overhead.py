#!/usr/bin/env python3
"""What the metrics cost on the path of a message: CPU microseconds per counted event.

    python bench/metrics_overhead.py [--calls 200000] [--rounds 5] [--json out.json]

Measured in this process with ``time.thread_time`` (CPU, not wall time: other processes on the machine
do not inflate it), best of ``--rounds``:

* ``request`` — the HTTP middleware around one request: an ASGI app that answers at once, called
  through ``MetricsMiddleware`` and without it; the difference is what counting and timing one
  request costs (route label, status, counter and histogram);
* ``accepted`` — the intake's ``on_accepted`` callback with the counter, minus without;
* ``attempt`` — ``HubMetrics.attempted`` for one delivered attempt (outcome counter, call and
  acceptance-to-delivery histograms).

Nothing here asserts a time; docs/metrics.md quotes a run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path

from lienthong.envelope import EnvelopeHeader, MessageKind, utcnow
from lienthong.observe.metrics import HubMetrics, MetricsMiddleware
from lienthong.store import Claim, Delivered


def best_us(fn: Callable[[], None], calls: int, rounds: int) -> float:
    """Best CPU microseconds per call over ``rounds`` runs of ``calls`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.thread_time() - start) / calls * 1e6)
    return best


def request_cost(calls: int, rounds: int) -> dict[str, float]:
    route = type("Route", (), {"path": "/api/v1/messages"})()

    async def app(scope: dict[str, object], receive: object, send: Callable[..., object]) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 202, "headers": []})  # type: ignore[misc]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[misc]

    async def send(_message: object) -> None:
        return None

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    wrapped = MetricsMiddleware(app, HubMetrics())  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": "/api/v1/messages"}
    # Nothing awaited here suspends, so each coroutine runs to its end on one send(None): no event
    # loop's own cost in either measurement.
    without = best_us(lambda: _run(app(dict(scope), receive, send)), calls, rounds)
    with_metrics = best_us(lambda: _run(wrapped(dict(scope), receive, send)), calls, rounds)  # type: ignore[arg-type]
    return {"without_us": without, "with_us": with_metrics, "cost_us": with_metrics - without}


def _run(coro: Coroutine[object, object, None]) -> None:
    with contextlib.suppress(StopIteration):
        coro.send(None)


def accepted_cost(calls: int, rounds: int) -> dict[str, float]:
    def nothing() -> None:
        return None

    counted = HubMetrics().accepted.inc
    without = best_us(nothing, calls, rounds)
    with_metrics = best_us(counted, calls, rounds)
    return {"without_us": without, "with_us": with_metrics, "cost_us": with_metrics - without}


def attempt_cost(calls: int, rounds: int) -> dict[str, float]:
    metrics = HubMetrics()
    now = utcnow()
    header = EnvelopeHeader(
        message_id=uuid.uuid4(),
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        recipient=None,
        sender_message_id="bench-1",
        correlation_id=uuid.uuid4(),
        content_type="application/xml",
        received_at=now - timedelta(seconds=1),
    )
    claim = Claim(
        delivery_id=1,
        target="land",
        attempt=1,
        round_attempt=1,
        first_attempt_at=now,
        payload=b"<x/>",
        content_type="application/xml",
        envelope=header,
        worker="bench",
        lease_until=now,
    )
    outcome = Delivered()
    cost = best_us(lambda: metrics.attempted(claim, outcome, 0.01), calls, rounds)
    return {"cost_us": cost}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {
        "request": request_cost(args.calls, args.rounds),
        "accepted": accepted_cost(args.calls, args.rounds),
        "attempt": attempt_cost(args.calls // 4, args.rounds),
    }
    print(f"{'event':10} {'without µs':>11} {'with µs':>9} {'cost µs':>9}")
    for name, r in results.items():
        without = f"{r['without_us']:.2f}" if "without_us" in r else "-"
        with_metrics = f"{r['with_us']:.2f}" if "with_us" in r else "-"
        print(f"{name:10} {without:>11} {with_metrics:>9} {r['cost_us']:>9.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
