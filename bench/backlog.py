#!/usr/bin/env python3
"""Memory and disk while a large backlog waits for a ministry that is down (issue 11, item 5).

    python bench/backlog.py [--messages 1000000] [--backend sqlite|postgres] [--duration 120]
                            [--settle 20] [--breaker | --no-breaker] [--json out.json]
    python3 dev.py bench backlog [same options]

1. A fresh database (a SQLite file under var/bench/, or a PostgreSQL schema of its own) and the
   project's configuration, the land adapter signing as in ``bench/e2e.py`` and pointing at a closed
   port on loopback: the registry is down (every call is refused at connect).
2. One land dossier goes through the hub's own intake (``Intake.submit``: parse, route, validate,
   translate, sign, store): its rows in every table are the template. Its delivery to the national
   portal is removed, so the backlog is the land registry's alone.
3. The template is copied ``--messages`` times straight into the tables (new ids, sender ids and
   correlation ids; same payloads), in batches of one transaction each: the store as it would be
   after that many dossiers were accepted while the registry was down. **Disk bytes per queued
   message** = growth of the database (SQLite: file + WAL after a checkpoint; PostgreSQL: the
   tables' and indexes' total relation size) over the copies, divided by their number.
4. ``hub``'s app and delivery workers run in a process of their own (so its resident set is its own)
   on that database. With ``--no-breaker`` (default) the circuit breaker never opens, so the workers
   keep claiming due deliveries, failing to connect and rescheduling them (the harder case for
   memory); ``--breaker`` keeps the adapter's breaker, which stops claiming after five failures.
   Meanwhile ``/healthz`` (counts by state, what monitoring polls) is read every 5 s, in a thread.
5. After ``--settle`` seconds, VmRSS is sampled every second for ``--duration`` seconds: the first
   sample is the baseline; the figure is the largest sample against it (issue 11: within 10 %).

Nothing here asserts anything; the numbers are printed and, with ``--json``, written.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from e2e import PROJECT, PROVINCE, bench_configuration, database, dev_keys
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, Integer, create_engine, delete, func, select, text
from sqlalchemy import Table as Table_

from lienthong.compose import build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration
from lienthong.envelope import MessageKind, new_envelope
from lienthong.store import schema

BATCH = 50_000  # copies per transaction


@dataclass
class Result:
    backend: str
    messages: int
    breaker: bool
    fill_seconds: float = math.nan
    disk_bytes: int = 0
    disk_bytes_per_message: float = math.nan
    rss_baseline_mib: float = math.nan
    rss_max_mib: float = math.nan
    rss_last_mib: float = math.nan
    rss_growth_percent: float = math.nan
    samples: int = 0
    attempts_during: int = 0
    health_calls: int = 0
    health_ms_max: float = math.nan
    queued_after: int = 0
    disk_by_table: dict[str, int] = field(default_factory=dict)  # bytes added, per table or index
    rss_series_mib: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)  # every /healthz call, in order


# ---------------------------------------------------------------- the store, filled directly


def _closed_port() -> int:
    """A port on loopback nobody listens on: connections to it are refused (the ministry is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _template(config: Configuration) -> None:
    """One dossier through the hub's own intake, so every row is as the hub writes it."""
    from lienthong.devtools.samples import sample_dossiers

    hub = build_hub(config)
    try:
        sample = sample_dossiers(1, agency=PROVINCE)[0]
        envelope = new_envelope(
            kind=MessageKind.DOSSIER,
            sender=PROVINCE,
            sender_message_id="backlog-template",
            payload=sample.xml,
            content_type="application/xml",
            procedure_code=sample.procedure_code,
            dossier_code=sample.dossier_code,
        )
        hub.intake.submit(envelope)
    finally:
        hub.store.close()


def _bytes_by_table(engine: Engine, url: str) -> dict[str, int]:
    """Bytes of each table and index (SQLite's ``dbstat``, PostgreSQL's relation sizes: a table's
    with its TOAST, where PostgreSQL keeps the payloads, compressed)."""
    if url.startswith("sqlite"):
        query = "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
    else:
        query = (
            "SELECT c.relname, CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid) "
            "ELSE pg_relation_size(c.oid) END FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY 2 DESC"
        )
    try:
        with engine.connect() as conn:
            return {str(name): int(size) for name, size in conn.exec_driver_sql(query)}
    except Exception:  # a SQLite built without dbstat: the total is still known
        return {}


def _disk_bytes(engine: Engine, url: str, tables: Sequence[str]) -> int:
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        return sum(
            int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar_one())
            for t in tables
        )


def _series_ids(postgres: bool) -> str:
    """Numbers ``:lo``..``:hi`` into the temporary table ``backlog_ids``, each with a new random
    message id and correlation id (the hub's own format: a native uuid on PostgreSQL, 32 hex digits
    on SQLite): a generated series, a recursive CTE where SQLite has no ``generate_series``."""
    if postgres:
        return (
            "INSERT INTO backlog_ids (n, mid, cid) "
            "SELECT n, gen_random_uuid(), gen_random_uuid() FROM generate_series(:lo, :hi) AS n"
        )
    return (
        "WITH RECURSIVE series(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM series WHERE n < :hi) "
        "INSERT INTO backlog_ids (n, mid, cid) "
        "SELECT n, lower(hex(randomblob(16))), lower(hex(randomblob(16))) FROM series"
    )


@dataclass(frozen=True)
class _IdShift:
    """New integer ids for a table's template rows: copy ``n`` of the row with id ``i`` gets
    ``i - low + base + n * span``, above every id already there and distinct across copies."""

    low: int
    base: int
    span: int

    def expr(self, column: str) -> str:
        return f"({column} - {self.low} + {self.base} + b.n * {self.span})"


def _copy_statement(table: Table_, postgres: bool, where: str, shifts: dict[str, _IdShift]) -> str:
    """``INSERT INTO table SELECT`` its template rows × the batch's numbers: every column copied by
    the database (payloads included) but the ids, the message's and its sender's ids."""
    sender_id = "'backlog-' || lpad(b.n::text, 7, '0')" if postgres else "printf('backlog-%07d', b.n)"
    exprs: list[str] = []
    for column in table.c:
        name = column.name
        if (name == "id" and table.name == "messages") or name == "message_id":
            exprs.append("b.mid")
        elif name == "correlation_id":
            exprs.append("b.cid")
        elif name == "sender_message_id":
            exprs.append(sender_id)
        elif name == "id" and table.name in shifts:
            exprs.append(shifts[table.name].expr("t.id"))
        elif name == "delivery_id":
            exprs.append(shifts["deliveries"].expr("t.delivery_id"))
        else:
            exprs.append(f't."{name}"')
    columns = ", ".join(f'"{c.name}"' for c in table.c)
    return (
        f'INSERT INTO "{table.name}" ({columns}) SELECT {", ".join(exprs)} '
        f'FROM "{table.name}" AS t CROSS JOIN backlog_ids AS b WHERE {where}'
    )


def _copy_statements(
    engine: Engine, postgres: bool, console: Console
) -> tuple[list[str], dict[str, _IdShift]]:
    """Drop the template's portal delivery (the backlog is the land registry's alone), then one
    ``INSERT … SELECT`` per table the template has rows in, in foreign-key order."""
    meta = schema.metadata  # the hub's own tables
    messages, deliveries = meta.tables["messages"], meta.tables["deliveries"]
    with engine.begin() as conn:
        others = select(deliveries.c.id).where(deliveries.c.target != "land")
        for name in ("delivery_payloads", "attempts"):
            if name in meta.tables:
                table = meta.tables[name]
                conn.execute(delete(table).where(table.c.delivery_id.in_(others)))
        conn.execute(delete(deliveries).where(deliveries.c.target != "land"))
    per_message = [
        name for name, table in meta.tables.items() if name != "messages" and "message_id" in table.c
    ]
    per_delivery = [
        name
        for name, table in meta.tables.items()
        if "delivery_id" in table.c and "message_id" not in table.c
    ]
    shifts: dict[str, _IdShift] = {}
    with engine.connect() as conn:
        template = conn.execute(select(messages.c.id)).scalar_one()
        tmid = template if postgres else template.hex  # as the column holds it
        for name in [*per_message, *per_delivery]:
            table = meta.tables[name]
            if "id" not in table.c or not isinstance(table.c.id.type.as_generic(), Integer):
                continue
            low, high = conn.execute(select(func.min(table.c.id), func.max(table.c.id))).one()
            if low is not None:
                shifts[name] = _IdShift(low=int(low), base=int(high) + 1, span=int(high) - int(low) + 1)
        rows = {
            name: int(conn.execute(select(func.count()).select_from(meta.tables[name])).scalar_one())
            for name in ["messages", *per_message, *per_delivery]
        }
    copied = [name for name, n in rows.items() if n]
    console.print("template rows: " + ", ".join(f"{name} {rows[name]}" for name in copied))
    dlow, dhigh = shifts["deliveries"].low, shifts["deliveries"].base - 1
    statements = []
    for name in copied:
        if name == "messages":
            where = f"t.id = '{tmid}'"
        elif name in per_message:
            where = f"t.message_id = '{tmid}'"
        else:
            where = f"t.delivery_id BETWEEN {dlow} AND {dhigh}"
        statements.append(_copy_statement(meta.tables[name], postgres, where, shifts))
    return statements, shifts


def _copy_batches(
    engine: Engine,
    postgres: bool,
    count: int,
    statements: list[str],
    shifts: dict[str, _IdShift],
    console: Console,
) -> None:
    series = text(_series_ids(postgres))
    started = time.monotonic()
    done = 0
    with engine.connect() as conn, console.status("") as status:
        if postgres:
            conn.exec_driver_sql(
                "CREATE TEMPORARY TABLE backlog_ids (n bigint PRIMARY KEY, mid uuid, cid uuid)"
            )
        else:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")  # the fill, not what is measured
            conn.exec_driver_sql(
                "CREATE TEMPORARY TABLE backlog_ids (n INTEGER PRIMARY KEY, mid TEXT, cid TEXT)"
            )
        conn.commit()
        while done < count:
            size = min(BATCH, count - done)
            with conn.begin():
                conn.exec_driver_sql("DELETE FROM backlog_ids")
                conn.execute(series, {"lo": done, "hi": done + size - 1})
                for statement in statements:
                    conn.exec_driver_sql(statement)
            done += size
            status.update(f"filled {done:,}/{count:,} ({done / (time.monotonic() - started):,.0f}/s)")
        if postgres:  # the hub's own inserts (attempts, decisions) must not meet the copies' ids
            for name in shifts:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), max(id)) FROM \"{name}\""
                )
            conn.commit()


def fill(url: str, count: int, console: Console) -> tuple[float, int, dict[str, int]]:
    """``count`` copies of the template message, set-based; (seconds, disk bytes added, by table).

    Each batch is one transaction: the numbers of the batch and their new ids into a temporary
    table, then one ``INSERT … SELECT`` a table of the template's rows joined to it, so no row
    passes through Python (the first version sent every row through ``executemany``: ~270 copies a
    second on a busy machine)."""
    engine = create_engine(url)
    postgres = url.startswith("postgresql")
    statements, shifts = _copy_statements(engine, postgres, console)
    tables = list(schema.metadata.tables)
    before = _disk_bytes(engine, url, tables)
    before_by_table = _bytes_by_table(engine, url)
    started = time.monotonic()
    _copy_batches(engine, postgres, count, statements, shifts, console)
    seconds = time.monotonic() - started
    added = _disk_bytes(engine, url, tables) - before
    by_table = {
        name: size - before_by_table.get(name, 0)
        for name, size in _bytes_by_table(engine, url).items()
        if size - before_by_table.get(name, 0) > 0
    }
    if postgres:  # what autovacuum does after that many inserts: statistics and the visibility map
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return seconds, added, by_table


# ---------------------------------------------------------------- the hub, in a process of its own


def _hub_main(conn: Connection, config: Configuration) -> None:
    from lienthong.devtools.background import BackgroundServer
    from lienthong.intake.rest import create_app

    hub = build_hub(config)
    with BackgroundServer(create_app(hub)) as server:  # the app's lifespan starts the workers
        conn.send(server.url)
        conn.recv()
    hub.store.close()


@contextmanager
def hub_process(config: Configuration) -> Iterator[tuple[str, int]]:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_hub_main, args=(there, config), name="bench-hub", daemon=True)
    proc.start()
    there.close()
    try:
        if not here.poll(300):
            raise RuntimeError("the hub did not start")
        url = here.recv()
        assert proc.pid is not None
        yield url, proc.pid
    finally:
        if proc.is_alive():
            here.send("stop")
            proc.join(60)
        if proc.is_alive():
            proc.terminate()
            proc.join(10)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _attempts(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM attempts")).scalar_one())
    finally:
        engine.dispose()


def _queued(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM deliveries WHERE state <> 'delivered' AND state <> 'dead'")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def _poll_health(client: httpx.Client, result: Result, stop: threading.Event) -> None:
    """``/healthz`` every 5 s, as monitoring would, in a thread of its own: a slow answer must not
    hold up the RSS samples."""
    while not stop.is_set():
        t0 = time.perf_counter()
        with suppress(httpx.HTTPError):
            client.get("/healthz").raise_for_status()
        took = 1000 * (time.perf_counter() - t0)
        result.health_ms.append(round(took, 1))
        result.health_calls += 1
        result.health_ms_max = took if math.isnan(result.health_ms_max) else max(result.health_ms_max, took)
        stop.wait(5)


def measure(
    config: Configuration, url: str, result: Result, *, settle: float, duration: float, console: Console
) -> None:
    with hub_process(config) as (hub_url, pid), httpx.Client(base_url=hub_url, timeout=600) as client:
        console.print(f"hub pid {pid} at {hub_url}: settling {settle:.0f}s")
        time.sleep(settle)
        attempts0 = _attempts(url)
        stop = threading.Event()
        poller = threading.Thread(target=_poll_health, args=(client, result, stop), daemon=True)
        poller.start()
        t_end = time.monotonic() + duration
        while time.monotonic() < t_end:
            result.rss_series_mib.append(round(_rss_mib(pid), 1))
            time.sleep(1)
        stop.set()
        result.attempts_during = _attempts(url) - attempts0
        poller.join(600)
    series = result.rss_series_mib
    result.samples = len(series)
    result.rss_baseline_mib, result.rss_max_mib, result.rss_last_mib = series[0], max(series), series[-1]
    result.rss_growth_percent = 100 * (result.rss_max_mib / result.rss_baseline_mib - 1)
    result.queued_after = _queued(url)


# ---------------------------------------------------------------- main


def table(result: Result) -> Table:
    out = Table(title=f"{result.messages:,} queued deliveries for a ministry that is down ({result.backend})")
    out.add_column("what")
    out.add_column("value", justify="right")
    rows = [
        ("fill (direct inserts)", f"{result.fill_seconds:,.0f} s"),
        ("disk added", f"{result.disk_bytes / 2**20:,.1f} MiB"),
        ("disk bytes per queued message", f"{result.disk_bytes_per_message:,.0f}"),
        *(
            (f"  {name}", f"{size / result.messages:,.0f}")
            for name, size in sorted(result.disk_by_table.items(), key=lambda kv: -kv[1])[:8]
        ),
        ("breaker", "as configured" if result.breaker else "never opens (workers keep claiming)"),
        ("delivery attempts while sampled", f"{result.attempts_during:,}"),
        (
            "/healthz calls (median, slowest)",
            f"{result.health_calls} ({statistics.median(result.health_ms or [math.nan]):,.0f} ms, "
            f"{result.health_ms_max:,.0f} ms)",
        ),
        (
            "hub RSS baseline → max → last",
            f"{result.rss_baseline_mib:,.1f} → {result.rss_max_mib:,.1f} → {result.rss_last_mib:,.1f} MiB",
        ),
        ("hub RSS growth (max vs baseline)", f"{result.rss_growth_percent:+.1f} % over {result.samples} s"),
        ("still queued at the end", f"{result.queued_after:,}"),
    ]
    for row in rows:
        out.add_row(*row)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000, help="queued messages (default 1,000,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=4, help="delivery threads of the hub (default 4)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before sampling starts")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of RSS samples (1 per s)")
    parser.add_argument(
        "--breaker",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep the adapter's circuit breaker (default: never opens, workers keep claiming)",
    )
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    console = Console(width=max(Console().width, 120))
    base = load_configuration(PROJECT / "config")
    result = Result(args.backend, args.messages, args.breaker)
    run_id = uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory(prefix="bench-keys-") as keydir, database(args.backend, run_id) as url:
        endpoint = f"http://127.0.0.1:{_closed_port()}/soap/land"
        config = bench_configuration(
            base, database_url=url, endpoint=endpoint, workers=args.workers, keys=dev_keys(Path(keydir))
        )
        if not args.breaker:
            land = config.adapters["land"]
            breaker = land.circuit_breaker.model_copy(update={"failure_threshold": 1_000_000_000})
            adapters = {**config.adapters, "land": land.model_copy(update={"circuit_breaker": breaker})}
            config = config.model_copy(update={"adapters": adapters})
        console.print(f"{args.backend} ({run_id}); the land registry is down at {endpoint}")
        _template(config)
        result.fill_seconds, result.disk_bytes, result.disk_by_table = fill(url, args.messages, console)
        result.disk_bytes_per_message = result.disk_bytes / args.messages
        console.print(
            f"filled {args.messages:,} in {result.fill_seconds:,.0f}s; "
            f"{result.disk_bytes_per_message:,.0f} bytes per queued message"
        )
        measure(config, url, result, settle=args.settle, duration=args.duration, console=console)
    console.print(table(result))
    if args.json:
        data = asdict(result)
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
