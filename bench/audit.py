#!/usr/bin/env python3
"""The auditor's log at scale: search by dossier code, ``hub audit verify``, and the sealer's cost.

    python bench/audit.py [--entries 1000000] [--backends sqlite,postgres] [--append 3000] [--json out.json]

For each backend a fresh database (a SQLite file under var/bench/, or a PostgreSQL schema of its own on
HUB_BENCH_PG_URL, default postgres@127.0.0.1:5432/test), migrated, then:

1. **fill**: ``--entries`` log entries written straight into ``audit_entries`` (three per dossier — the
   message received, its route, its delivery attempt — with the same bodies the sealer builds), and a
   signed tree head every 100,000 entries, as a hub that has run for a long time and whose source rows
   have aged out (metadata retention) would hold;
2. **search**: 300 lookups of random dossier codes through ``AuditLog.entries_for`` (what the console
   and ``hub audit export`` call), wall time per lookup, p50/p99/max;
3. **verify**: ``verify_log`` over everything (entries, leaf hashes, roots against every signed head,
   the head chain and signatures), wall and CPU time;
4. **append**: ``--append`` messages written as the hub writes them (message, payload, route decision,
   delivery, finished attempt) on top of the full log, then sealed by ``AuditLog.seal`` as the
   background sealer does; the CPU time of the sealing thread divided by the messages (3 entries each).
   The request path itself does nothing more for the log than before (sealing is in the background),
   except maintaining two indexes the sealer reads by (route_decisions.decided_at, attempts.finished_at);
5. **ticks**: what a tick costs when nothing is new but the ``--append`` messages lie in its window, as
   they do at every tick under sustained load (100 messages a second is 30,000 in five minutes): the
   ordinary tick (looking back ``TICK_GRACE``) and the full scan (the whole ``SEAL_GRACE``), CPU of
   the sealing thread and wall time (the database's own work included);
6. **steady**: ticks at ``--steady`` dossiers a second, one a (simulated) second, each sealing its
   second's rows and looking back over the window of rows sealed before, the full scan once a minute:
   the sealing thread's CPU per message, everything a tick does included.

Nothing here asserts a time; numbers go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from lienthong.audit import entries as build
from lienthong.audit.log import FULL_SCAN_INTERVAL, SEAL_GRACE, AuditLog, entry_row
from lienthong.audit.seal import make_head
from lienthong.audit.verify import verify_log
from lienthong.config.models import KeyReference
from lienthong.store.migrate import upgrade
from lienthong.store.schema import (
    attempts,
    audit_entries,
    deliveries,
    message_payloads,
    messages,
    route_decisions,
)
from lienthong.store.sql import create_store_engine
from lienthong.trust.keys import Keystore, SigningKey, create_dev_ca

ROOT = Path(__file__).resolve().parent.parent
PG_BASE_URL = os.environ.get("HUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROVINCE = "000.00.00.H49"
HEAD_EVERY = 100_000
#: Ids of the aged-out source rows the synthetic entries name, clear of the rows the append step writes.
AGED = 10**12


def _code(n: int) -> str:
    return f"000.00.00.H49-{261130 + n // 100000:06d}-{n % 100000:05d}"


class _Row:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _synthetic(n: int, at: datetime) -> Iterator[build.Entry]:
    """Three entries of dossier ``n`` with the bodies the sealer builds from real rows."""
    mid = uuid.UUID(int=n + 1)
    code = _code(n)
    digest = hashlib.sha256(code.encode()).hexdigest()
    yield build.message_in(
        _Row(
            id=mid,
            kind="dossier",
            sender=PROVINCE,
            sender_message_id=f"motcua-{code}",
            recipient="000.00.00.G13",
            procedure_code="1.004227",
            dossier_code=code,
            document_id=None,
            document_type=None,
            correlation_id=mid,
            causation_id=None,
            content_type="application/xml",
            payload_sha256=digest,
            headers={"signature": "valid", "caller": "Một cửa điện tử"},
            received_at=at,
        ),
        4096,
    )
    yield build.route(
        _Row(
            id=AGED + n,
            message_id=mid,
            dossier_code=code,
            document_id=None,
            sender=PROVINCE,
            decided_at=at,
            status="routed",
            rule="land-transfer",
            targets=["land"],
            reason="rule land-transfer",
        )
    )
    yield build.attempt(
        _Row(
            id=AGED + n,
            message_id=mid,
            dossier_code=code,
            document_id=None,
            sender=PROVINCE,
            delivery_id=n + 1,
            target="land",
            operation="TiepNhanHoSo",
            number=1,
            worker="bench:1",
            started_at=at,
            finished_at=at,
            outcome="delivered",
            error=None,
            request=b"<x/>" * 256,
            response=b"<ok/>",
            response_status=200,
        )
    )


def fill(engine: Engine, total: int, key: SigningKey) -> float:
    audit_log = AuditLog(engine)
    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    index = 0
    batch: list[dict[str, Any]] = []
    n = 0
    while index < total:
        for entry in _synthetic(n, base + timedelta(seconds=n)):
            if index >= total:
                break
            batch.append(entry_row(entry, index))
            index += 1
            if index % HEAD_EVERY == 0 or index == total:
                _flush(engine, batch)
                make_head(audit_log, key)
        n += 1
        if len(batch) >= 10_000:
            _flush(engine, batch)
    _flush(engine, batch)
    return time.perf_counter() - started


def _flush(engine: Engine, batch: list[dict[str, Any]]) -> None:
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(audit_entries), batch)
        batch.clear()


def search(engine: Engine, total: int, lookups: int = 300) -> dict[str, float]:
    audit_log = AuditLog(engine)
    dossiers = max(1, total // 3)
    rng = random.Random(7)
    times = []
    for _ in range(lookups):
        code = _code(rng.randrange(dossiers))
        t0 = time.perf_counter()
        found = audit_log.entries_for(dossier_code=code)
        times.append((time.perf_counter() - t0) * 1000)
        assert found, code
    times.sort()
    return {
        "search_p50_ms": statistics.median(times),
        "search_p99_ms": times[int(len(times) * 0.99) - 1],
        "search_max_ms": times[-1],
    }


def verify(engine: Engine) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    report = verify_log(AuditLog(engine))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report.ok, report.problems[:3]
    return {"verify_s": wall, "verify_cpu_s": cpu, "verified_entries": report.size, "heads": report.heads}


def _write_messages(engine: Engine, times: list[datetime]) -> None:
    """One delivered message per time, as the hub writes it: message, payload, route decision,
    delivery and finished attempt, all stamped with that time."""
    with engine.begin() as conn:
        for now in times:
            mid = uuid.uuid4()
            code = f"BENCH-{mid.hex[:12]}"
            payload = secrets.token_bytes(4096)
            conn.execute(
                insert(messages).values(
                    id=mid,
                    kind="dossier",
                    sender=PROVINCE,
                    sender_message_id=f"b-{mid}",
                    recipient=None,
                    procedure_code="1.004227",
                    dossier_code=code,
                    document_id=None,
                    document_type=None,
                    correlation_id=mid,
                    causation_id=None,
                    content_type="application/xml",
                    payload_sha256=hashlib.sha256(payload).hexdigest(),
                    headers={},
                    created_at=None,
                    received_at=now,
                    fingerprint="0" * 64,
                )
            )
            conn.execute(insert(message_payloads).values(message_id=mid, payload=payload))
            conn.execute(
                insert(route_decisions).values(
                    message_id=mid, decided_at=now, status="routed", rule="land", targets=["land"], reason="r"
                )
            )
            delivery = conn.execute(
                insert(deliveries).values(
                    message_id=mid,
                    target="land",
                    operation=None,
                    state="delivered",
                    attempts=1,
                    round_attempts=1,
                    content_type="application/xml",
                    created_at=now,
                    updated_at=now,
                    delivered_at=now,
                )
            ).inserted_primary_key
            assert delivery is not None
            conn.execute(
                insert(attempts).values(
                    delivery_id=delivery[0],
                    number=1,
                    worker="bench",
                    started_at=now,
                    finished_at=now,
                    outcome="delivered",
                    request=payload,
                    response=b"<ok/>",
                    response_status=200,
                )
            )


def append(engine: Engine, count: int) -> dict[str, float]:
    """Rows as the hub writes them for ``count`` delivered messages, then sealed; sealing CPU per message.

    Their times are spread evenly over the last 4½ minutes, as sustained traffic leaves them in the
    sealer's window (what ``ticks`` then measures)."""
    end = datetime.now(UTC)
    spread = SEAL_GRACE - timedelta(seconds=30)
    _write_messages(engine, [end - spread * (1 - n / count) for n in range(count)])
    audit_log = AuditLog(engine)
    t0, c0 = time.perf_counter(), time.thread_time()
    sealed = 0
    while batch := audit_log.seal():
        sealed += batch
    cpu, wall = time.thread_time() - c0, time.perf_counter() - t0
    assert sealed == 3 * count, sealed
    return {
        "append_messages": count,
        "append_cpu_ms_per_message": cpu * 1000 / count,
        "append_wall_ms_per_message": wall * 1000 / count,
    }


def ticks(engine: Engine, repeats: int = 5) -> dict[str, float]:
    """An idle tick with the append step's rows in the window: ordinary ticks, then full scans."""
    audit_log = AuditLog(engine)
    assert audit_log.seal() == 0  # a process's first tick is a full scan, and finds nothing new
    result: dict[str, float] = {}
    for name in ("tick", "full_scan"):
        cpu = wall = 0.0
        for _ in range(repeats):
            if name == "full_scan":
                audit_log._full_scan_at = 0.0  # due now, as every FULL_SCAN_INTERVAL
            t0, c0 = time.perf_counter(), time.thread_time()
            assert audit_log.seal() == 0
            cpu += time.thread_time() - c0
            wall += time.perf_counter() - t0
        result[f"{name}_cpu_ms"] = cpu * 1000 / repeats
        result[f"{name}_wall_ms"] = wall * 1000 / repeats
    return result


def steady(engine: Engine, rate: int, seconds: int) -> dict[str, float]:
    """Ticks at steady traffic, on a simulated clock (no waiting): the ``SEAL_GRACE`` before it
    already holds ``rate`` sealed messages a second, as a hub that has run a while leaves its window;
    then, ``seconds`` times, a second's worth of ``rate`` messages and one ``AuditLog.seal`` as the
    sealer runs it once a second, a full scan every ``FULL_SCAN_INTERVAL`` of them. Each tick seals its
    second's rows and looks back over the rows already sealed: the sealing thread's CPU per message
    (what a hub at ``rate`` dossiers a second pays for its log, look-backs included)."""
    audit_log = AuditLog(engine)
    start = datetime.now(UTC) + timedelta(hours=1)  # after everything the earlier steps wrote
    before = int(SEAL_GRACE.total_seconds() * rate)
    _write_messages(engine, [start - SEAL_GRACE * (1 - n / before) for n in range(before)])
    while audit_log.seal():
        pass
    cpu = 0.0
    for second in range(seconds):
        _write_messages(engine, [start + timedelta(seconds=second + n / rate) for n in range(rate)])
        if second % int(FULL_SCAN_INTERVAL) == 0:
            audit_log._full_scan_at = 0.0  # due, as every FULL_SCAN_INTERVAL
        c0 = time.thread_time()
        sealed = audit_log.seal()
        cpu += time.thread_time() - c0
        assert sealed == 3 * rate, sealed
    return {"steady_rate": rate, "steady_cpu_ms_per_message": cpu * 1000 / (rate * seconds)}


def _engine(backend: str) -> tuple[Engine, Any]:
    if backend == "sqlite":
        folder = ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "audit.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return create_store_engine(f"sqlite:///{path}"), lambda: path.unlink(missing_ok=True)
    schema = f"audit_bench_{secrets.token_hex(4)}"
    admin = create_store_engine(PG_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_BASE_URL else "?"
    engine = create_store_engine(f"{PG_BASE_URL}{sep}options=-csearch_path%3D{schema}")

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, drop


def run(
    backend: str,
    total: int,
    append_count: int,
    key: SigningKey,
    steady_rate: int = 0,
    steady_seconds: int = 120,
) -> dict[str, Any]:
    engine, cleanup = _engine(backend)
    try:
        upgrade(engine)
        result: dict[str, Any] = {"backend": backend, "entries": total}
        result["fill_s"] = fill(engine, total, key)
        if backend == "postgres":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        result |= search(engine, total)
        result |= verify(engine)
        result |= append(engine, append_count)
        result |= ticks(engine)
        if steady_rate:
            result |= steady(engine, steady_rate, steady_seconds)
        return result
    finally:
        engine.dispose()
        cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--append", type=int, default=3000, help="messages sealed for the append cost")
    parser.add_argument(
        "--steady", type=int, default=50, help="dossiers a second for the steady-traffic ticks (0: none)"
    )
    parser.add_argument("--steady-seconds", type=int, default=120, help="ticks timed at steady traffic")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as keys:
        ca = create_dev_ca(Path(keys), PROVINCE, {})
        ref = KeyReference(id="bench", key_file=ca.hub_key, certificate_file=ca.hub_certificate)
        key = Keystore.load([ref], Path(keys)).current
        results = []
        for backend in args.backends.split(","):
            result = run(backend.strip(), args.entries, args.append, key, args.steady, args.steady_seconds)
            results.append(result)
            print(json.dumps(result), flush=True)
    print(
        "\n| backend | entries | search p50 / p99 / max (ms) | verify wall / CPU (s) "
        "| seal CPU per message (ms) | idle tick CPU / wall (ms) | full scan CPU / wall (ms) "
        "| steady ticks, CPU per message (ms) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['backend']} | {r['entries']:,} | {r['search_p50_ms']:.2f} / {r['search_p99_ms']:.2f} / "
            f"{r['search_max_ms']:.2f} | {r['verify_s']:.1f} / {r['verify_cpu_s']:.1f} | "
            f"{r['append_cpu_ms_per_message']:.3f} | {r['tick_cpu_ms']:.1f} / {r['tick_wall_ms']:.1f} | "
            f"{r['full_scan_cpu_ms']:.1f} / {r['full_scan_wall_ms']:.1f} | "
            f"{r.get('steady_cpu_ms_per_message', float('nan')):.3f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
