#!/usr/bin/env python3
"""End-to-end throughput and latency: REST intake → store → workers → SOAP ministry simulator.

    python bench/e2e.py [--messages 500] [--backends sqlite,postgres] [--workers 4,8] [--json out.json]
                        [--rounds 3] [--quiet-wait 3]
    python3 dev.py bench e2e [same options]

For each backend and worker count a fresh hub (REST API and delivery workers, built by
``build_hub`` as ``hub demo`` does) runs in this process on loopback, with a fresh database: a
SQLite file under var/bench/ or a PostgreSQL schema of its own (HUB_BENCH_PG_URL, default
postgres@127.0.0.1:5432/test), created, migrated and dropped. The land registry simulator (no faults)
and the load generator (``--clients`` threads with keep-alive connections) run in processes of their
own, so they do not share the hub's interpreter lock; they do share the machine's cores, which the
"cores ours/all" column shows (CPU of hub + simulator + clients / of every process, PostgreSQL too).

Measured, per run, after a warm-up batch that is delivered and excluded:

* intake: HTTP 202 answers per second over the submission window, and the 202 latency p50/p99
  as the clients saw it (a 202 means the message is committed to the store);
* accepted → delivered: messages per second from the first ``received_at`` to the last
  ``delivered_at``, both read from the store rows, and the delivery latency
  ``delivered_at − received_at`` p50/p99; "drain" is what is left after the last accept;
* CPU seconds spent by the hub process per message.

Durations are compared between runs of one invocation only; nothing here asserts a time. On a
shared machine use ``--rounds`` (interleaved repeats, medians reported) and ``--quiet-wait``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import secrets
import shutil
import sqlite3
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import lxml.etree
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, func, select, text

from lienthong.compose import build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import Caller, Configuration
from lienthong.devtools.background import BackgroundServer
from lienthong.intake.callers import API_KEY_HEADER, CallerRegistry, api_key_digest
from lienthong.intake.rest import create_app
from lienthong.store import DeliveryState
from lienthong.store.migrate import upgrade
from lienthong.store.schema import deliveries, messages
from lienthong.store.sql import create_store_engine

ROOT = Path(__file__).resolve().parents[1]
PG_BASE_URL = os.environ.get("HUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PLUGIN = "land"
PROVINCE = "000.00.00.H49"
WORKDIR = ROOT / "var" / "bench"  # on the project's disk, not tmpfs: fsync must cost what it costs
_FINISHED = (DeliveryState.DELIVERED.value, DeliveryState.DEAD.value)


# ---------------------------------------------------------------- results


@dataclass
class RunResult:
    backend: str
    workers: int
    clients: int
    messages: int
    accepted: int
    intake_seconds: float
    intake_per_second: float
    accept_p50_ms: float
    accept_p99_ms: float
    accept_max_ms: float
    delivered: int = 0
    dead: int = 0
    attempts: int = 0
    e2e_seconds: float = math.nan
    e2e_per_second: float = math.nan
    drain_seconds: float = math.nan  # last accept → last delivery: the backlog left after intake
    delivery_p50_ms: float = math.nan
    delivery_p99_ms: float = math.nan
    delivery_max_ms: float = math.nan
    hub_cpu_seconds: float = math.nan
    simulator_cpu_seconds: float = math.nan
    client_cpu_seconds: float = math.nan
    machine_cpu_seconds: float = math.nan  # every process: ours, the database server, anything else
    wall_seconds: float = math.nan  # from the first request to the last delivery (or last 202)
    load_before: float = math.nan  # 1-minute load average when the run started
    simulator_calls: int = 0
    simulator_duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def cores_busy(self) -> float:
        cpu = self.hub_cpu_seconds + self.simulator_cpu_seconds + self.client_cpu_seconds
        return cpu / self.wall_seconds if self.wall_seconds else math.nan

    @property
    def machine_cores_busy(self) -> float:
        return self.machine_cpu_seconds / self.wall_seconds if self.wall_seconds else math.nan

    @property
    def hub_cpu_ms_per_message(self) -> float:
        return 1000 * self.hub_cpu_seconds / self.messages if self.messages else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# ---------------------------------------------------------------- the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _filesystem(path: Path) -> str:
    """The type of the filesystem holding ``path`` (Linux), e.g. ext4 or tmpfs."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    best = ("", "unknown")
    resolved = str(path.resolve())
    for fields_ in mounts:
        point, kind = fields_[1], fields_[2]
        if (resolved == point or resolved.startswith(point.rstrip("/") + "/")) and len(point) > len(best[0]):
            best = (point, kind)
    return best[1]


def _fsync_ms(directory: Path, rounds: int = 50) -> float:
    """Median cost of a 4 KiB write followed by fsync: the floor under a durable SQLite commit."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f"fsync-{uuid.uuid4().hex[:8]}"
    timings = []
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            timings.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        probe.unlink()
    return 1000 * statistics.median(timings)


def _postgres_version() -> str | None:
    try:
        engine = create_engine(PG_BASE_URL)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
    except Exception:
        return None
    return version


def machine() -> dict[str, object]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(),
        "lxml": lxml.etree.__version__,
        "libxml2": ".".join(map(str, lxml.etree.LIBXML_VERSION)),
        "sqlite_dir_fs": _filesystem(WORKDIR.parent),
        "fsync_ms": round(_fsync_ms(WORKDIR), 3),
    }


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux /proc; NaN elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    parts = stat.rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> float:
    """CPU seconds all processes have used since boot (Linux /proc/stat; NaN elsewhere)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- helper processes


def _simulator_main(conn: Connection) -> None:
    """Child process: the land registry simulator, until the parent says stop."""
    from lienthong.config.files import load_configuration
    from lienthong.devtools.simulator import create_simulator_app, simulator_spec

    spec = simulator_spec(load_configuration(ROOT / "config", environ={}), PLUGIN, store=":memory:")
    # BackgroundServer as in hub demo, not SimulatorServer: that one binds its own socket with
    # proto 0, so asyncio never sets TCP_NODELAY and every answer waits ~40 ms for a delayed ACK.
    with BackgroundServer(create_simulator_app(spec)) as server:
        conn.send((server.url, server.url + spec.path))
        conn.recv()


def _fire(clients: Sequence[httpx.Client], bodies: Sequence[bytes]) -> dict[str, Any]:
    """Post every body once, spread over the clients (one thread each); time each request."""
    lock = threading.Lock()
    pending = iter(range(len(bodies)))
    samples: list[tuple[float, float, int]] = []
    errors: list[str] = []
    barrier = threading.Barrier(len(clients) + 1)

    def client_loop(client: httpx.Client) -> None:
        local: list[tuple[float, float, int]] = []
        barrier.wait()
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                break
            t0 = time.perf_counter()
            try:
                status = client.post(
                    "/api/v1/messages", content=bodies[index], headers={"Content-Type": "application/json"}
                ).status_code
            except httpx.HTTPError as exc:
                status = 0
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            local.append((t0, time.perf_counter(), status))
        with lock:
            samples.extend(local)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    cpu0 = _own_cpu()
    barrier.wait()
    for t in threads:
        t.join()
    return {"samples": samples, "errors": errors[:5], "cpu": _own_cpu() - cpu0}


def _load_main(
    conn: Connection, url: str, api_key: str, warmup: list[bytes], measured: list[bytes], clients: int
) -> None:
    """Child process: a few clients with keep-alive connections; a warm-up batch, then on "go" the run."""
    headers = {API_KEY_HEADER: api_key}
    pool = [httpx.Client(base_url=url, timeout=120, headers=headers) for _ in range(clients)]
    try:
        conn.send(_fire(pool, warmup))
        conn.recv()
        conn.send(_fire(pool, measured))
    finally:
        for client in pool:
            client.close()


def _receive(conn: Connection, child: BaseProcess, timeout: float = 600.0) -> Any:
    """The child's next message; a clear error if it died or went silent instead."""
    try:
        if conn.poll(timeout):
            return conn.recv()
    except EOFError:
        pass
    raise RuntimeError(f"{child.name} stopped answering (exit code {child.exitcode})")


@contextmanager
def simulator_process() -> Iterator[tuple[str, str, int]]:
    """(base url, SOAP endpoint, pid) of a simulator running in a child process."""
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_simulator_main, args=(there,), name="bench-simulator", daemon=True)
    proc.start()
    try:
        there.close()
        base, endpoint = _receive(here, proc, timeout=60)
        assert proc.pid is not None
        yield base, endpoint, proc.pid
    finally:
        if proc.is_alive():
            here.send("stop")
            proc.join(15)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


# ---------------------------------------------------------------- one run


def bench_configuration(
    config: Configuration, *, database_url: str, endpoint: str, workers: int
) -> Configuration:
    """The project's own configuration with a fresh database, the simulator's endpoint and ``workers``.

    Retry, breaker, batch size, poll interval and lease stay as configured: no faults are injected,
    so they only matter through the claim loop, which is what production runs.
    """
    land = config.adapters[PLUGIN].model_copy(update={"endpoint": endpoint})
    hub = config.hub.model_copy(
        update={
            "database": config.hub.database.model_copy(update={"url": database_url}),
            "api": config.hub.api.model_copy(update={"port": 0}),
            "workers": config.hub.workers.model_copy(update={"count": workers}),
        }
    )
    return config.model_copy(update={"hub": hub, "adapters": {**config.adapters, PLUGIN: land}})


@contextmanager
def database(backend: str, run_id: str) -> Iterator[str]:
    """A fresh, migrated database for one run: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        folder = WORKDIR / run_id
        folder.mkdir(parents=True, exist_ok=True)
        try:
            yield f"sqlite:///{folder / 'hub.db'}"  # open_store migrates the embedded default itself
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"bench_{run_id}"
    admin = create_engine(PG_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_BASE_URL else "?"
    url = f"{PG_BASE_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        engine = create_store_engine(url)
        upgrade(engine)  # shared PostgreSQL is migrated by the operator, never by a starting hub
        engine.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def request_bodies(prefix: str, count: int) -> list[bytes]:
    from lienthong.devtools.samples import sample_dossiers

    bodies = []
    for sample in sample_dossiers(count, agency=PROVINCE):
        body = {
            "sender_message_id": f"{prefix}-{sample.dossier_code}",
            "kind": "dossier",
            "sender": PROVINCE,
            "procedure_code": sample.procedure_code,
            "dossier_code": sample.dossier_code,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(sample.xml).decode("ascii"),
        }
        bodies.append(json.dumps(body).encode())
    return bodies


class Observer:
    """Reads the store's tables directly, on its own plain connection, to count and time deliveries."""

    def __init__(self, url: str) -> None:
        # A plain engine: on SQLite a reader in WAL mode takes no lock, unlike the store's BEGIN IMMEDIATE.
        self.engine: Engine = create_engine(url)

    @staticmethod
    def _joined() -> Any:
        return deliveries.join(messages, deliveries.c.message_id == messages.c.id)

    def finished(self, prefix: str) -> int:
        query = (
            select(func.count())
            .select_from(self._joined())
            .where(messages.c.sender_message_id.like(f"{prefix}-%"), deliveries.c.state.in_(_FINISHED))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def rows(self, prefix: str) -> list[Any]:
        query = (
            select(
                messages.c.received_at, deliveries.c.delivered_at, deliveries.c.state, deliveries.c.attempts
            )
            .select_from(self._joined())
            .where(messages.c.sender_message_id.like(f"{prefix}-%"))
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def wait(self, prefix: str, expected: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.finished(prefix) >= expected:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.engine.dispose()


def _intake_stats(result: RunResult, load: dict[str, Any]) -> None:
    samples: list[tuple[float, float, int]] = load["samples"]
    ok = [s for s in samples if s[2] == 202]
    start = min(s[0] for s in samples)
    end = max(s[1] for s in samples)
    latencies = [1000 * (s[1] - s[0]) for s in ok]
    result.accepted = len(ok)
    result.intake_seconds = end - start
    result.intake_per_second = len(ok) / (end - start)
    result.accept_p50_ms = percentile(latencies, 0.50)
    result.accept_p99_ms = percentile(latencies, 0.99)
    result.accept_max_ms = max(latencies, default=math.nan)
    result.client_cpu_seconds = load["cpu"]
    if len(ok) != len(samples):
        statuses = sorted({s[2] for s in samples if s[2] != 202})
        result.problems.append(f"{len(samples) - len(ok)} not accepted (HTTP {statuses}) {load['errors']}")


def _delivery_stats(result: RunResult, rows: Sequence[Any]) -> None:
    delivered = [r for r in rows if r.state == DeliveryState.DELIVERED.value]
    result.delivered = len(delivered)
    result.dead = sum(r.state == DeliveryState.DEAD.value for r in rows)
    result.attempts = sum(r.attempts for r in rows)
    if not delivered:
        return
    first = min(r.received_at for r in rows)
    last_accept = max(r.received_at for r in rows)
    last = max(r.delivered_at for r in delivered)
    result.e2e_seconds = (last - first).total_seconds()
    result.e2e_per_second = len(delivered) / result.e2e_seconds
    result.drain_seconds = max(0.0, (last - last_accept).total_seconds())
    latencies = [1000 * (r.delivered_at - r.received_at).total_seconds() for r in delivered]
    result.delivery_p50_ms = percentile(latencies, 0.50)
    result.delivery_p99_ms = percentile(latencies, 0.99)
    result.delivery_max_ms = max(latencies)


def run_once(
    config: Configuration,
    *,
    backend: str,
    workers: int,
    clients: int,
    count: int,
    warmup: int,
    simulator: tuple[str, str, int],
) -> RunResult:
    sim_base, endpoint, sim_pid = simulator
    run_id = uuid.uuid4().hex[:10]
    warm_prefix, measured_prefix = f"warm-{run_id}", f"bench-{run_id}"
    warm_bodies, bodies = request_bodies(warm_prefix, warmup), request_bodies(measured_prefix, count)
    httpx.post(f"{sim_base}/_sim/reset", timeout=10).raise_for_status()
    result = RunResult(backend, workers, clients, count, 0, math.nan, math.nan, math.nan, math.nan, math.nan)
    with database(backend, run_id) as url:
        hub = build_hub(bench_configuration(config, database_url=url, endpoint=endpoint, workers=workers))
        # The load generator acts as the one-stop system, with a key made for this run.
        api_key = secrets.token_urlsafe(32)
        caller = Caller(
            agency=PROVINCE, name="bench", api_key_sha256=[api_key_digest(api_key)], services=["rest:submit"]
        )
        server = BackgroundServer(create_app(hub, callers=CallerRegistry([caller]))).start()
        observer = Observer(url)
        ctx = mp.get_context("spawn")
        here, there = ctx.Pipe()
        loader = ctx.Process(
            name="bench-clients",
            target=_load_main,
            args=(there, server.url, api_key, warm_bodies, bodies, clients),
            daemon=True,
        )
        try:
            loader.start()
            there.close()  # only the child holds its end now: if it dies, recv() ends instead of hanging
            warm: dict[str, Any] = _receive(here, loader)  # per-thread XSD/XSLT compiled, connections open
            if refused := [s[2] for s in warm["samples"] if s[2] != 202]:
                result.problems.append(f"warm-up: {len(refused)} refused (HTTP {sorted(set(refused))})")
            if workers and not observer.wait(warm_prefix, warmup, timeout=120):
                result.problems.append("warm-up was not delivered within 120s")
            result.load_before = os.getloadavg()[0]
            cpu0, sim_cpu0, all_cpu0 = _own_cpu(), _process_cpu(sim_pid), _machine_cpu()
            t0 = time.monotonic()
            here.send("go")
            load: dict[str, Any] = _receive(here, loader)
            if workers and not observer.wait(measured_prefix, count, timeout=max(120.0, count / 5)):
                result.problems.append("not every message was delivered before the timeout")
            result.wall_seconds = time.monotonic() - t0
            result.hub_cpu_seconds = _own_cpu() - cpu0
            result.simulator_cpu_seconds = _process_cpu(sim_pid) - sim_cpu0
            result.machine_cpu_seconds = _machine_cpu() - all_cpu0
            _intake_stats(result, load)
            if workers:
                _delivery_stats(result, observer.rows(measured_prefix))
        finally:
            loader.join(10)
            observer.close()
            server.stop()
            hub.store.close()
    stats = httpx.get(f"{sim_base}/_sim/stats", timeout=10).json()
    result.simulator_calls = stats["total"]
    result.simulator_duplicates = stats["duplicates"]
    if workers and result.delivered != count:
        result.problems.append(f"delivered {result.delivered}/{count}, dead {result.dead}")
    if workers and stats["unique"] != count + warmup:
        result.problems.append(f"simulator saw {stats['unique']} unique messages, expected {count + warmup}")
    return result


# ---------------------------------------------------------------- output


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.1f}"


def _rate(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}"


def results_table(results: Sequence[RunResult], what: str) -> Table:
    table = Table(title=f"End to end through REST → store → SOAP simulator: {what}")
    for column in (
        "backend",
        "workers",
        "accepted/s",
        "202 p50 ms",
        "202 p99 ms",
        "delivered/s",
        "drain s",
        "deliv p50 ms",
        "deliv p99 ms",
        "hub CPU ms/msg",
        "cores ours/all",
        "checks",
    ):
        table.add_column(column, justify="left" if column in ("backend", "checks") else "right")
    for r in results:
        table.add_row(
            r.backend,
            str(r.workers),
            _rate(r.intake_per_second),
            _ms(r.accept_p50_ms),
            _ms(r.accept_p99_ms),
            _rate(r.e2e_per_second),
            _ms(r.drain_seconds),
            _ms(r.delivery_p50_ms),
            _ms(r.delivery_p99_ms),
            _ms(r.hub_cpu_ms_per_message),
            f"{r.cores_busy:.2f}/{r.machine_cores_busy:.2f}",
            "[green]ok[/]" if not r.problems else "[red]" + "; ".join(r.problems) + "[/]",
        )
    return table


def machine_table(info: dict[str, object]) -> Table:
    table = Table(title="Machine", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, str(value))
    return table


def median_result(runs: Sequence[RunResult]) -> RunResult:
    """One row of per-field medians over repeated runs of one configuration."""
    first = runs[0]
    values: dict[str, Any] = {}
    for name, value in asdict(first).items():
        if isinstance(value, float):
            values[name] = statistics.median(getattr(r, name) for r in runs)
        elif name == "problems":
            values[name] = [p for r in runs for p in r.problems]
        else:
            values[name] = value
    return RunResult(**values)


def wait_for_quiet(limit: float, *, threshold: float = 0.25, window: float = 2.0) -> float:
    """Wait (up to ``limit`` seconds) until the whole machine uses under ``threshold`` cores; return the last
    reading. On a shared machine this keeps other people's jobs out of the numbers, as far as it can."""
    deadline = time.monotonic() + limit
    while True:
        before = _machine_cpu()
        time.sleep(window)
        busy = (_machine_cpu() - before) / window
        if math.isnan(busy) or busy < threshold or time.monotonic() > deadline:
            return busy


def _json_ready(result: RunResult) -> dict[str, object]:
    data = asdict(result)
    data["cores_busy"] = result.cores_busy
    data["machine_cores_busy"] = result.machine_cores_busy
    data["hub_cpu_ms_per_message"] = result.hub_cpu_ms_per_message
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None, default_workers: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=500, help="dossiers per run (default 500, max 9999)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument(
        "--workers",
        default=f"{default_workers},8",
        help=f"comma-separated delivery thread counts (default: config's {default_workers}, and 8); "
        "0 measures intake alone",
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    parser.add_argument("--warmup", type=int, default=40, help="warm-up dossiers per run, not measured")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every configuration, interleaved; report medians"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for other processes to leave the CPU idle",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(args.backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    args.workers = list(dict.fromkeys(int(w) for w in args.workers.split(",")))
    if not 1 <= args.messages <= 9999 or not 0 <= args.warmup <= 9999:
        parser.error("--messages must be 1..9999 and --warmup 0..9999 (the dossier code's daily counter)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    config = load_configuration(ROOT / "config")
    args = parse_args(argv, config.hub.workers.count)
    console = Console()
    if not console.is_terminal and console.width < 150:
        console = Console(width=150)  # piped into a file or the docs: keep the table's columns whole
    info = machine()
    console.print(machine_table(info))
    if "postgres" in args.backends and info["postgresql"] is None:
        console.print(f"[yellow]PostgreSQL is not reachable at {PG_BASE_URL}: skipping it[/]")
        args.backends.remove("postgres")
    results: list[RunResult] = []
    plan = [(b, w) for _ in range(args.rounds) for b in args.backends for w in args.workers]
    with simulator_process() as simulator:
        for number, (backend, workers) in enumerate(plan, start=1):
            busy = wait_for_quiet(args.quiet_wait) if args.quiet_wait else math.nan
            console.print(
                f"run {number}/{len(plan)}: {backend}, {workers} workers, {args.messages} messages"
                + ("" if math.isnan(busy) else f" (machine {busy:.2f} cores busy before)")
            )
            result = run_once(
                config,
                backend=backend,
                workers=workers,
                clients=args.clients,
                count=args.messages,
                warmup=args.warmup,
                simulator=simulator,
            )
            results.append(result)
    console.print(results_table(results, f"{args.messages} land dossiers, each run"))
    if args.rounds > 1:
        medians = [median_result([r for r in results if (r.backend, r.workers) == key]) for key in plan]
        unique = list({(m.backend, m.workers): m for m in medians}.values())
        console.print(results_table(unique, f"median of {args.rounds} rounds"))
    if args.json:
        settings = {
            "messages": args.messages,
            "clients": args.clients,
            "warmup": args.warmup,
            "batch_size": config.hub.workers.batch_size,
            "poll_interval_s": config.hub.workers.poll_interval.total_seconds(),
            "rounds": args.rounds,
        }
        payload = {"machine": info, "settings": settings, "runs": [_json_ready(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        console.print(f"wrote {args.json}")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
