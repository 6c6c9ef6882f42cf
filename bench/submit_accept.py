#!/usr/bin/env python3
"""The intake's submit outside the XML preparation, and the store's accept: CPU per dossier.

    python bench/submit_accept.py [--docs 200] [--passes 9] [--backend sqlite|postgres] [--against PATH]

The hub is built as ``bench/e2e.py`` builds it (``build_hub``, the project's configuration, a SQLite
file under var/ or a PostgreSQL schema of its own), its delivery threads not started (so no claim at
accept: the saturated regime). Each target's preparation is stubbed to return what the real one
prepared once for that dossier (the same PreparedDelivery), so what is timed is the rest:

* ``submit``: ``new_envelope`` as the raw XML route builds it, then ``Intake.submit`` (parse,
  authenticate, text, facts, route, the stubbed prepare, the store's accept and its commit);
* ``accept``: ``SqlStore.accept`` of messages routed beforehand, one thread;
* ``accept4``: the same from 4 threads at once (the group commit shares transactions), the process's
  CPU over the batch per dossier;
* ``claimed``: ``accept``, each offered threads for all its deliveries (claim at accept, below
  saturation: the deliveries stored claimed, their first attempts written).

Time is CPU (``time.thread_time``; ``time.process_time`` for ``accept4``) in microseconds per dossier,
median of ``--passes`` passes after a warm-up. Each checkout runs in its own interpreter (``--against
PATH``: a ``git archive`` as ``bench/e2e.py --against`` takes it), one pass of each in turn. Every
checkout first stores the same dossiers once and writes the rows: they must be equal (hub-assigned ids
and times aside), or nothing is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Fixed:
    """A target's stages that answer what the real ones prepared for this dossier once."""

    def __init__(self, target: str, prepared: dict[str, Any]) -> None:
        self.target = target
        self.prepared = prepared

    def prepare(self, envelope: Any, tree: Any = None, *, handed_over: bool = False) -> Any:
        return self.prepared[envelope.dossier_code]


def _rows(engine: Any) -> list[Any]:
    """Every stored row of the accept's tables, hub-assigned values (ids, times) left out."""
    from sqlalchemy import text

    queries = {
        "messages": "SELECT kind, sender, sender_message_id, recipient, procedure_code, dossier_code,"
        " document_id, document_type, correlation_id, causation_id, content_type, payload_sha256,"
        " headers, created_at, fingerprint FROM messages ORDER BY sender_message_id",
        "payloads": "SELECT p.payload FROM message_payloads p JOIN messages m ON m.id = p.message_id"
        " ORDER BY m.sender_message_id",
        "keys": "SELECT sender, sender_message_id, fingerprint FROM idempotency_keys"
        " ORDER BY sender_message_id",
        "routes": "SELECT m.sender_message_id, r.status, r.rule, r.targets, r.reason FROM route_decisions r"
        " JOIN messages m ON m.id = r.message_id ORDER BY m.sender_message_id",
        "deliveries": "SELECT m.sender_message_id, d.target, d.operation, d.state, d.attempts,"
        " d.round_attempts, d.content_type, p.payload FROM deliveries d"
        " JOIN messages m ON m.id = d.message_id JOIN delivery_payloads p ON p.delivery_id = d.id"
        " ORDER BY m.sender_message_id, d.target",
    }
    with engine.connect() as conn:
        return [(name, [tuple(r) for r in conn.execute(text(q))]) for name, q in queries.items()]


class _Passes:
    """The timed passes over the dossiers, each under its own sender ids (``prefix``)."""

    def __init__(self, hub: Any, bodies: Sequence[tuple[bytes, dict[str, str]]], envelope: Any) -> None:
        self.intake, self.store = hub.intake, hub.store
        self.bodies = bodies
        self.envelope = envelope

    def submit(self, prefix: str) -> float:
        t0 = time.thread_time()
        for body in self.bodies:
            self.intake.submit(self.envelope(prefix, body))
        return (time.thread_time() - t0) / len(self.bodies)

    def _routed(self, prefix: str) -> list[Any]:
        return [self.intake.route(self.envelope(prefix, body)) for body in self.bodies]

    def accept(self, prefix: str) -> float:
        batch = self._routed(prefix)
        t0 = time.thread_time()
        for r in batch:
            self.store.accept(r.envelope, r.decision, r.prepared)
        return (time.thread_time() - t0) / len(batch)

    def claimed(self, prefix: str) -> float:
        """As :meth:`accept`, each accept offered threads for all its deliveries (claim at accept)."""
        from lienthong.store import ClaimOffer

        batch = self._routed(prefix)
        t0 = time.thread_time()
        for r in batch:
            targets = frozenset(p.target for p in r.prepared)
            offer = ClaimOffer("bench", timedelta(minutes=5), len(targets), targets)
            self.store.accept(r.envelope, r.decision, r.prepared, offer)
        return (time.thread_time() - t0) / len(batch)

    def accept4(self, prefix: str) -> float:
        batch = self._routed(prefix)
        start = threading.Barrier(5)

        def work(part: Sequence[Any]) -> None:
            start.wait()
            for r in part:
                self.store.accept(r.envelope, r.decision, r.prepared)

        threads = [threading.Thread(target=work, args=(batch[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        t0 = time.process_time()
        start.wait()
        for t in threads:
            t.join()
        return (time.process_time() - t0) / len(batch)


def child(backend: str, docs: int, result: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    os.environ.setdefault("DVCQG_ENDPOINT", "http://127.0.0.1:9/api")
    os.environ.setdefault("DVCQG_AUTH_URL", "http://127.0.0.1:9/api/login")
    from e2e import PROJECT, PROVINCE, bench_configuration, database, request_bodies

    from lienthong.compose import build_hub
    from lienthong.config.files import load_configuration
    from lienthong.envelope import MessageKind, new_envelope

    config = load_configuration(PROJECT / "config")
    run_id = f"accept_{os.getpid()}"
    with database(backend, run_id) as url:
        land = "http://127.0.0.1:9/land"  # never called: the delivery threads are not started
        configuration = bench_configuration(config, database_url=url, endpoint=land, workers=4)
        hub = build_hub(configuration)
        intake = hub.intake
        bodies = request_bodies("bench", docs)

        def envelope(prefix: str, body: tuple[bytes, dict[str, str]]) -> Any:
            payload, headers = body
            return new_envelope(
                kind=MessageKind.DOSSIER,
                sender=PROVINCE,
                sender_message_id=f"{prefix}-{headers['X-Hub-Dossier-Code']}",
                payload=payload,
                content_type="application/xml",
                procedure_code=headers["X-Hub-Procedure-Code"],
                dossier_code=headers["X-Hub-Dossier-Code"],
                headers={},
            )

        # What each target prepares for each dossier, once, with the real stages.
        prepared: dict[str, dict[str, Any]] = {}
        for body in bodies:
            routed = intake.route(envelope("prep", body))
            for p in routed.prepared:
                prepared.setdefault(p.target, {})[routed.envelope.dossier_code] = p
        intake.preparations = {t: _Fixed(t, by_code) for t, by_code in prepared.items()}  # type: ignore[assignment]

        for body in bodies:  # the rows both checkouts must store alike
            intake.submit(envelope("rows", body))
        result.write_bytes(pickle.dumps(_rows(hub.store.engine)))

        passes = _Passes(hub, bodies, envelope)
        timed = {"submit": passes.submit, "accept": passes.accept, "accept4": passes.accept4}
        timed["claimed"] = passes.claimed
        for name, run in timed.items():
            run(f"warm-{name}")
        print("ready", flush=True)
        for number, _line in enumerate(sys.stdin, start=1):
            out = {name: 1e6 * run(f"{name}-{number}") for name, run in timed.items()}
            print(json.dumps(out), flush=True)
        hub.store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--passes", type=int, default=9)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--against", type=Path, default=None, help="a checkout to compare with")
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "DOCS", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), Path(args.child[2]))
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from _timing import alternate_passes, pass_spread, start_child
    from e2e import _hub_env

    with tempfile.TemporaryDirectory(prefix="bench-submit-accept-") as tmp:
        checkouts: dict[str, dict[str, str] | None] = {"this": None}
        if args.against is not None:
            checkouts[str(args.against)] = _hub_env(args.against, Path(tmp))
        children: dict[str, subprocess.Popen[str]] = {}
        rows: dict[str, Any] = {}
        for number, (name, env) in enumerate(checkouts.items()):
            result = Path(tmp) / f"rows-{number}.pickle"
            command = [sys.executable, __file__, "--child", args.backend, str(args.docs), str(result)]
            children[name] = start_child(command, env)
            rows[name] = pickle.loads(result.read_bytes())
        if any(r != rows["this"] for r in rows.values()):
            print("the checkouts' stored rows differ", file=sys.stderr)
            return 1
        passes = alternate_passes(children, args.passes)
        print(f"{args.docs} land dossiers, {args.backend}, {args.passes} passes each, in turn; rows equal")
        print("µs of CPU per dossier, median pass [min–max]")
        for name, runs in passes.items():
            print(f"  {name}: {pass_spread(runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
