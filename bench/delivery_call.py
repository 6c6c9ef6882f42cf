#!/usr/bin/env python3
"""One delivery attempt's CPU outside the database, over real loopback HTTP: CPU per call.

    python bench/delivery_call.py [--docs 100] [--passes 9] [--against PATH] [--profile out.pstats]

A land-transfer dossier goes to two targets: the land registry (``SoapAdapter.deliver``, SOAP with
its WSDL) and the national portal (``RestAdapter.deliver``, JSON with a session). Each checkout
builds both adapters as the hub does (``build_adapters``, HTTP transports with their pools) and
delivers claims holding the payloads the intake stages prepared (``bench/prepare.py``: translated and
signed with a development key) to the real simulators, each in a process of its own (as
``bench/e2e.py`` starts them; their CPU is not counted). Timed, as the calling thread's CPU
(``time.thread_time``), in µs per dossier:

* ``land`` and ``portal``: the adapter's ``deliver`` alone;
* ``send``: ``HttpTransport.send`` alone, of both requests the adapters sent (recorded in the first
  pass);
* ``process``: what a delivery thread does for both claims — ``DeliveryWorkers.process`` (breaker,
  adapter, the metrics' ``HubMetrics.attempted``, the outcome handed in) and ``_finished`` — with a
  store that is never called (the dispatcher's side is not this thread's).

Each checkout runs in an interpreter of its own (``--against PATH``: a ``git archive`` of a commit, as
``bench/e2e.py --against`` takes it), one pass of each in turn (which runs first alternates), so that
a busy moment of a shared machine falls on both alike; the median of the passes' ratios says how
they compare. Every checkout first delivers every dossier once and keeps the exact request bytes
and headers: they must equal this checkout's, byte for byte, or nothing is measured (the portal's
session differs between processes: it is masked before comparing).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = "000.00.00.H49"
TARGETS = {"land": "TiepNhanHoSo", "dvcqg": "DongBoHoSoMC"}


def _payloads(keydir: Path, docs: int) -> list[dict[str, bytes]]:
    """Every target's prepared payload of ``docs`` sample dossiers."""
    sys.path.insert(0, str(ROOT / "bench"))
    from prepare import _hub_work

    _targets, prepare, (documents, _keys) = _hub_work(keydir, docs)
    return [prepare(d) for d in documents]


def _claims(payloads: Sequence[dict[str, bytes]]) -> list[tuple[Any, Any]]:
    from lienthong.envelope import EnvelopeHeader, MessageKind
    from lienthong.store import Claim

    now = datetime.now(UTC) - timedelta(seconds=1)
    pairs = []
    for number, prepared in enumerate(payloads, start=1):
        header = EnvelopeHeader(
            message_id=uuid.UUID(int=number),
            kind=MessageKind.DOSSIER,
            sender=PROVINCE,
            recipient=None,
            sender_message_id=f"bench-{number}",
            correlation_id=uuid.UUID(int=10_000 + number),
            content_type="application/xml",
            received_at=now,
        )
        pair = tuple(
            Claim(
                delivery_id=2 * number + index,
                target=target,
                attempt=1,
                round_attempt=1,
                first_attempt_at=now,
                payload=prepared[target],
                content_type="application/json" if target == "dvcqg" else "application/xml",
                envelope=header,
                worker="bench",
                lease_until=now + timedelta(minutes=1),
                operation=operation,
            )
            for index, (target, operation) in enumerate(TARGETS.items())
        )
        pairs.append(pair)
    return pairs  # type: ignore[return-value]


#: One request as sent: URL, method, body, headers.
_Sent = tuple[str, str, bytes, dict[str, str]]


class _Recording:
    """The transport's send, wrapped: every request's URL, body and headers kept (the first pass)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.requests: list[_Sent] = []
        self.recording = True

    def send(self, request: Any) -> Any:
        if self.recording:
            self.requests.append((request.url, request.method, request.body, dict(request.headers)))
        return self.transport.send(request)

    def close(self) -> None:
        self.transport.close()


class _NoStore:
    """The workers' store: the delivery thread never calls it on the paths measured."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was called: {name}")


def _hub() -> tuple[dict[str, Any], Any, dict[str, _Recording]]:
    """This checkout's adapters for both targets as the hub builds them, over HTTP transports whose
    requests are recorded, and delivery workers with those targets (their dispatcher not started)."""
    from lienthong.adapter import build_adapters, discover_plugins, http_transport
    from lienthong.config.files import load_configuration
    from lienthong.config.models import WorkerSettings
    from lienthong.delivery.breaker import CircuitBreaker
    from lienthong.delivery.retry import RetryPolicy
    from lienthong.delivery.workers import DeliveryWorkers, Target
    from lienthong.observe.metrics import HubMetrics

    project = Path(os.environ.get("HUB_BENCH_PROJECT", str(ROOT)))
    config = load_configuration(project / "config")
    recorders = {
        name: _Recording(http_transport(config.adapters[name].operation_config(op)))
        for name, op in TARGETS.items()
    }
    adapters = build_adapters(config, discover_plugins(), transports=recorders, only=set(TARGETS))  # type: ignore[arg-type]
    targets = {
        name: Target(
            adapter=adapters[name],
            policy=RetryPolicy(config.adapters[name].retry),
            breaker=CircuitBreaker(config.adapters[name].circuit_breaker, name=name),
        )
        for name in TARGETS
    }
    workers = DeliveryWorkers(_NoStore(), targets, WorkerSettings(count=4), observer=HubMetrics())  # type: ignore[arg-type]
    workers._accepting = True  # outcomes are handed in as to a running dispatcher (not started here)
    return adapters, workers, recorders


def child(payloads_file: Path, result: Path, profile: str | None) -> None:
    """This checkout's part: the requests of every claim pickled to ``result``, then one timed pass
    for each line read from stdin, until stdin closes: a line of JSON, µs of CPU per dossier."""
    from lienthong.delivery.transports.base import TransportRequest
    from lienthong.store import Delivered

    adapters, workers, recorders = _hub()
    pairs = _claims(pickle.loads(payloads_file.read_bytes()))
    land, portal = adapters["land"], adapters["dvcqg"]

    def process(claim: Any) -> None:
        with workers._lock:
            workers._held[claim.delivery_id] = claim
            workers._busy[claim.delivery_id] = claim
        workers.process(claim)
        workers._finished(claim)

    for pair in pairs:  # the first pass: every request kept, every outcome a delivery
        for claim in pair:
            process(claim)
    failed = [outcome for _, outcome in workers._outcomes if not isinstance(outcome, Delivered)]
    assert not failed, failed
    result.write_bytes(pickle.dumps({name: r.requests for name, r in recorders.items()}))
    for recorder in recorders.values():
        recorder.recording = False
    workers._outcomes.clear()
    sends = [
        (recorders[name].transport, TransportRequest(url=url, body=body, headers=headers, method=method))
        for pair in zip(*(_calls(recorders[name].requests) for name in TARGETS), strict=True)
        for name, (url, method, body, headers) in zip(TARGETS, pair, strict=True)
    ]
    profiler = cProfile.Profile(time.thread_time) if profile else None
    print("ready", flush=True)
    for _line in sys.stdin:
        if profiler is not None:
            profiler.enable()
        t0 = time.thread_time()
        for claim, _ in pairs:
            land.deliver(claim)
        t1 = time.thread_time()
        for _, claim in pairs:
            portal.deliver(claim)
        t2 = time.thread_time()
        for pair in pairs:
            for claim in pair:
                process(claim)
        t3 = time.thread_time()
        for transport, request in sends:
            transport.send(request)
        t4 = time.thread_time()
        if profiler is not None:
            profiler.disable()
        assert len(workers._outcomes) == 2 * len(pairs)
        workers._outcomes.clear()
        ticks = {"land": t1 - t0, "portal": t2 - t1, "process": t3 - t2, "send": t4 - t3}
        print(json.dumps({key: 1e6 * cpu / len(pairs) for key, cpu in ticks.items()}), flush=True)
    if profiler is not None:
        profiler.dump_stats(str(profile))


def _calls(requests: list[_Sent]) -> list[_Sent]:
    """The deliveries' requests, without the portal's login."""
    return [r for r in requests if not r[0].endswith("/login")]


def _masked(requests: dict[str, list[_Sent]]) -> Any:
    """The requests with the portal's session (a login per process) replaced by a mark."""
    out = {}
    for name, sent in requests.items():
        rows = []
        for url, method, body, headers in sent:
            masked = body
            if name == "dvcqg" and body.startswith(b'{"session":"'):
                end = body.index(b'"', len(b'{"session":"'))
                masked = b'{"session":"*' + body[end:]
            rows.append((url, method, masked, headers))
        out[name] = rows
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--passes", type=int, default=9)
    parser.add_argument("--against", type=Path, default=None, help="a checkout to compare with")
    parser.add_argument("--profile", default=None, help="cProfile (thread CPU) of this checkout's passes")
    parser.add_argument("--child", nargs=3, metavar=("PAYLOADS", "RESULT", "PROFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.child[2] or None)
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from _timing import alternate_passes, pass_spread, start_child
    from e2e import _hub_env, portal_environment, simulator_process

    os.environ["DVCQG_USERNAME"] = "bench-" + secrets.token_hex(4)
    os.environ["DVCQG_PASSWORD"] = secrets.token_urlsafe(16)
    with (
        tempfile.TemporaryDirectory(prefix="bench-delivery-call-") as tmp,
        simulator_process() as land,
        simulator_process("dvcqg") as portal,
    ):
        portal_environment(portal)
        os.environ["LAND_ENDPOINT"] = land[1]
        payloads_file = Path(tmp) / "payloads.pickle"
        payloads_file.write_bytes(pickle.dumps(_payloads(Path(tmp) / "keys", args.docs)))
        checkouts: dict[str, dict[str, str] | None] = {"this": None}
        if args.against is not None:
            checkouts[str(args.against)] = _hub_env(args.against, Path(tmp))
        children: dict[str, subprocess.Popen[str]] = {}
        wires: dict[str, Any] = {}
        for number, (name, env) in enumerate(checkouts.items()):
            result = Path(tmp) / f"wire-{number}.pickle"
            profile = args.profile if name == "this" and args.profile else ""
            command = [sys.executable, __file__, "--child", str(payloads_file), str(result), profile]
            children[name] = start_child(command, env)
            wires[name] = _masked(pickle.loads(result.read_bytes()))
        if any(wire != wires["this"] for wire in wires.values()):
            print("the checkouts' requests differ", file=sys.stderr)
            for process in children.values():
                process.kill()
            return 1
        passes = alternate_passes(children, args.passes)
        print(f"{args.docs} signed land dossiers to land and the portal, {args.passes} passes each, in turn")
        print("µs of the calling thread's CPU per dossier: median pass [min–max]; the requests are identical")
        for name, runs in passes.items():
            print(f"  {name}: {pass_spread(runs)}")
        if args.against is not None:  # each pass against the other checkout's pass next to it
            this, other = passes["this"], passes[str(args.against)]
            parts = "  ".join(
                f"{key} {statistics.median(t[key] / o[key] for t, o in zip(this, other, strict=True)):.3f}"
                for key in this[0]
            )
            print(f"  this / {args.against}, median of the passes' ratios: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
