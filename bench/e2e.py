#!/usr/bin/env python3
"""End-to-end throughput and latency: REST intake → store → workers → SOAP ministry simulator.

    python bench/e2e.py [--messages 500] [--backends sqlite,postgres] [--workers 4,8] [--json out.json]
                        [--rounds 3] [--quiet-wait 3] [--no-sign] [--body xml|json] [--rate]
                        [--routes project|land-only] [--portal simulator|down] [--processes 0,1,2,1w]
                        [--hub-path DIR] [--against DIR]
    python3 dev.py bench e2e [same options]

For each backend and worker count a fresh hub (REST API and delivery workers, built by
``build_hub`` as ``hub demo`` does) runs in this process on loopback, with a fresh database: a
SQLite file under var/bench/ or a PostgreSQL schema of its own (HUB_BENCH_PG_URL, default
postgres@127.0.0.1:5432/test), created, migrated and dropped. With ``--processes N`` the hub runs
instead as ``hub serve --processes N`` (``Nw``: with workers 0, and delivery in one ``hub worker``
process) on a copy of the project's configuration with the same overrides (``bench/_hubproc.py``),
and its CPU is that of all its processes. The project's routes send each land-transfer dossier to
the land registry and to the national portal (``dvcqg``, a YAML mapping to JSON); ``--routes
land-only`` to the registry alone. The land registry simulator (no faults), the portal's simulator
(logged in to with an account made for the run, from the environment as in production; ``--portal
down``: none, the portal's deliveries wait) and the load generator (``--clients`` threads with
keep-alive connections) run in processes of their own, so they do not share the hub's interpreter
lock; they do share the machine's cores, which the "cores ours/all" column shows (CPU of hub +
simulators + clients / of every process, PostgreSQL too).

Measured, per run, after a warm-up batch that is delivered and excluded:

* intake: HTTP 202 answers per second over the submission window, and the 202 latency p50/p99
  as the clients saw it (a 202 means the message is committed to the store);
* accepted → delivered: messages per second from the first ``received_at`` to the last
  ``delivered_at``, both read from the store rows, and the delivery latency
  ``delivered_at − received_at`` p50/p99; "drain" is what is left after the last accept;
* CPU seconds spent by the hub per message (every thread of this process but the main one, which
  only polls the store's rows to see the deliveries: its CPU is left out; or every hub process),
  and the **floor**: the XML, JSON and crypto work the same dossiers need for the targets they are
  routed to (parse and validate once; for land translate, validate, sign, serialise; for the portal
  the mapping's fields into JSON and its JSON Schema check; with the libraries alone, on one core:
  ``bench/_floor.py``, its portal JSON checked equal to the hub's before anything is measured),
  measured in this process just before the run, in all and per target; their **ratio**
  is the figure issue 11 bounds (≤ 2.5);
* round trips to the database per message: statements executed, commits and pool pings, counted by
  SQLAlchemy events on the hub's engine during the measured window;
* with ``--rate``, a second batch sent at a fixed pace, half the rate just measured (open loop: each
  request is timed from when it was due, so a stall shows as latency), and its 202 p50/p99.

By default the land adapter signs (``xmldsig``, RSA-2048 from a development CA made for the run, as
production will) and dossiers are sent as raw XML bodies (``Content-Type: application/xml``, the
envelope's fields in ``X-Hub-*`` headers, docs/api.md); ``--no-sign`` and ``--body json`` measure the
unsigned hub and the JSON envelope (base64 payload).

``--hub-path DIR`` runs the hub from another checkout (``git archive <commit> hub adapters config
schemas mappings | tar -x -C DIR``); ``--against DIR`` alternates, round by round, runs of that
checkout and of this one (each in a fresh interpreter) and prints them side by side: before/after
in one session, on one machine, with the same floor.

Durations are compared between runs of one invocation only; nothing here asserts a time. On a
shared machine use ``--rounds`` (interleaved repeats, medians reported) and ``--quiet-wait``.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import functools
import importlib
import json
import math
import multiprocessing as mp
import os
import platform
import pstats
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import lxml.etree
from _floor import INPUT, TARGETS, Floor, FloorWork, measure_floor, measure_paced_floor
from _hubproc import HubProcesses, config_root, write_config
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, event, func, select, text

from lienthong.compose import build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import Caller, Configuration, KeySettings, SigningPolicyConfig
from lienthong.devtools.background import BackgroundServer
from lienthong.intake.callers import API_KEY_HEADER, CallerRegistry, api_key_digest
from lienthong.intake.rest import create_app
from lienthong.store import DeliveryState
from lienthong.store.migrate import upgrade
from lienthong.store.schema import deliveries, messages
from lienthong.store.sql import create_store_engine

ROOT = Path(__file__).resolve().parents[1]
#: Where configuration, schemas and mappings come from: this checkout, or the one --hub-path names.
PROJECT = Path(os.environ.get("HUB_BENCH_PROJECT", str(ROOT)))
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
    hub_cpu_seconds: float = math.nan  # every thread of this process but the main one (the observer)
    observer_cpu_seconds: float = math.nan  # the main thread's polls of the store, left out of the above
    simulator_cpu_seconds: float = math.nan
    client_cpu_seconds: float = math.nan
    machine_cpu_seconds: float = math.nan  # every process: ours, the database server, anything else
    wall_seconds: float = math.nan  # from the first request to the last delivery (or last 202)
    load_before: float = math.nan  # 1-minute load average when the run started
    simulator_calls: int = 0
    simulator_duplicates: int = 0
    signed: bool = True
    body: str = "xml"
    warmup: int = 0
    floor_ms_per_message: float = math.nan  # the sum over the targets the dossier is routed to
    floor_by_target: dict[str, float] = field(default_factory=dict)  # input (once), land, dvcqg
    floor_stages_ms: dict[str, float] = field(default_factory=dict)
    targets: str = "land,dvcqg"  # where the routes send a land-transfer dossier
    portal: str = "simulator"  # dvcqg: delivered to its simulator, "down" (no account: it waits), "n/a"
    portal_delivered: int = 0  # dvcqg deliveries of the measured batch that succeeded
    processes: int = 0  # 0: the hub in this process; N: ``hub serve --processes N`` (subprocesses)
    worker_process: bool = False  # delivery in a ``hub worker`` process, the API's workers 0
    round_trips_counted: bool = True  # only in this process (SQLAlchemy events on the hub's engine)
    hub_pids: int = 0  # processes whose CPU was counted (hub serve/worker: supervisor and children)
    statements: int = 0  # executed by the hub's engine in the measured window (an executemany is one)
    commits: int = 0
    pings: int = 0  # pool pre-pings (one per checkout when the engine pings)
    #: --rate: the pace asked for (half the accepted/s measured first, or --paced-rate)
    paced_rate: float = math.nan
    paced_accepted: int = 0
    paced_per_second: float = math.nan
    paced_p50_ms: float = math.nan  # from when each request was due, not when a client got to it
    paced_p99_ms: float = math.nan
    paced_max_ms: float = math.nan
    #: --rate: the hub's CPU while the paced batch was taken in and delivered (observer's left out),
    #: per message: the same work below saturation, where fewer dossiers share a transaction
    paced_hub_cpu_seconds: float = math.nan
    paced_round_trips: int = 0  # --rate: statements, commits and pings of the paced batch
    #: --rate: the floor's work at the paced batch's pace, measured once the hub has stopped
    paced_floor_ms_per_message: float = math.nan
    split_ms: dict[str, float] = field(default_factory=dict)  # --split: CPU ms per message by method
    paced_split_ms: dict[str, float] = field(default_factory=dict)  # --split --rate: the paced batch's
    hub: str = "this"
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

    @property
    def ratio_to_floor(self) -> float:
        return self.hub_cpu_ms_per_message / self.floor_ms_per_message

    @property
    def paced_hub_cpu_ms_per_message(self) -> float:
        return 1000 * self.paced_hub_cpu_seconds / self.paced_accepted if self.paced_accepted else math.nan

    @property
    def paced_ratio_to_floor(self) -> float:
        return self.paced_hub_cpu_ms_per_message / self.floor_ms_per_message

    @property
    def paced_ratio_to_paced_floor(self) -> float:
        """The paced batch's CPU against the floor's work done at the same pace (measure_paced_floor)."""
        return self.paced_hub_cpu_ms_per_message / self.paced_floor_ms_per_message

    @property
    def paced_round_trips_per_message(self) -> float:
        if not self.round_trips_counted or not self.paced_accepted:
            return math.nan
        return self.paced_round_trips / self.paced_accepted

    @property
    def round_trips_per_message(self) -> float:
        if not self.round_trips_counted or not self.messages:
            return math.nan
        return (self.statements + self.commits + self.pings) / self.messages

    @property
    def mode(self) -> str:
        """How the hub ran: ``in-proc`` (this process), ``serve×N``, ``serve×N+worker``."""
        if not self.processes:
            return "in-proc"
        return f"serve×{self.processes}" + ("+worker" if self.worker_process else "")


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


# ---------------------------------------------------------------- round trips


class RoundTrips:
    """Statements, commits and pool pings of one engine, counted by SQLAlchemy events.

    ``before_cursor_execute`` sees every statement SQLAlchemy sends (an ``executemany`` once: one
    round trip); ``commit`` and ``rollback`` every transaction it ends (both counted as commits
    here); a pool that pre-pings sends one ping per checkout, which no statement event sees. On
    SQLite the "round trips" are calls into the library in this process, on PostgreSQL messages
    over the socket: count the same, cost differently. The same definition for every checkout
    ``--against`` compares (the store's own ``StatementCounter``, where there is one, agrees).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements = self.commits = self.pings = 0
        self._lock = threading.Lock()  # the events fire in every thread that uses the engine
        self._pre_ping = bool(getattr(engine.pool, "_pre_ping", False))
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._commit)
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, *_args: Any) -> None:
        with self._lock:
            self.statements += 1

    def _commit(self, *_args: Any) -> None:
        with self._lock:
            self.commits += 1

    def _checkout(self, *_args: Any) -> None:
        if self._pre_ping:
            with self._lock:
                self.pings += 1

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.commits, self.pings

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._commit)
        event.remove(self.engine.pool, "checkout", self._checkout)


# ---------------------------------------------------------------- profiling

#: ``--split``: hub methods whose CPU is added up per call (this thread's CPU time, outermost call
#: only), "module:Class.method" → the label it is shown under. A method a checkout lacks is skipped.
SPLIT_POINTS: dict[str, str] = {
    "lienthong.intake.service:Intake.submit": "intake: Intake.submit",
    "lienthong.store.sql:SqlStore.accept": "  of which store accept",
    "lienthong.pipeline.prepare:AdapterStages.prepare": "  of which prepare (each target)",
    "lienthong.store.sql:SqlStore.claim_due": "store claim_due",
    "lienthong.delivery.soap_adapter:SoapAdapter.deliver": "SoapAdapter.deliver",
    "lienthong.delivery.rest_adapter:RestAdapter.deliver": "RestAdapter.deliver (the portal)",
    # Both adapters' HTTP calls (a checkout before the portal's row counted them under SOAP alone).
    "lienthong.delivery.transports.http:HttpTransport.send": "  of which HttpTransport.send (both)",
    "lienthong.store.sql:SqlStore.record_outcome": "store record_outcome",
    # The delivery loop's one transaction a round: the outcomes handed in, then the claims.
    "lienthong.store.sql:SqlStore.settle": "store settle (outcomes + claims)",
    "lienthong.audit.seal:Sealer.run_once": "the auditor's sealer (its ticks)",
}
#: The labels whose sum is taken from the process's CPU to leave "the rest".
SPLIT_TOP = (
    "intake: Intake.submit",
    "store claim_due",
    "SoapAdapter.deliver",
    "RestAdapter.deliver (the portal)",
    "store record_outcome",
    "store settle (outcomes + claims)",
    "the auditor's sealer (its ticks)",
)
#: The delivery's store work however a checkout splits it (claims and outcomes apart, or settled
#: together): the figure to compare between checkouts.
SPLIT_DELIVERY_STORE = "store claims + outcomes, all"
SPLIT_DELIVERY_PARTS = ("store claim_due", "store record_outcome", "store settle (outcomes + claims)")


#: ``--split``: the thread that runs the hub's HTTP event loop (``BackgroundServer``), whose whole CPU
#: is shown apart: uvicorn's protocol, the event loop, the ASGI app's code that runs on it.
SPLIT_LOOP_THREAD = "hub-background-server"
SPLIT_LOOP_LABEL = "the HTTP event loop thread (all of it)"


#: ``--split``: the hub's threads by the start of their names, as each group is shown: every thread's
#: CPU (and the kernel's part of it, and its voluntary context switches: each a wait for a lock, a
#: socket or a disk, then a wake-up) whatever it ran, so hand-offs between threads show where they
#: cost. Threads not named here are "other" (the main thread, which only observes, is left out).
THREAD_GROUPS: tuple[tuple[str, str], ...] = (
    (SPLIT_LOOP_THREAD, "HTTP event loop"),
    ("hub-submit", "submit"),
    ("hub-dispatcher", "dispatcher"),
    ("hub-delivery", "delivery"),
    ("audit-sealer", "sealer"),
    ("hub-heartbeat", "heartbeat"),
)
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_times() -> dict[str, tuple[float, float, int]]:
    """Per thread group (THREAD_GROUPS), the CPU seconds so far in user and kernel mode and the
    voluntary context switches, read from ``/proc`` (empty where there is none)."""
    times: dict[str, tuple[float, float, int]] = {}
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is main or thread.native_id is None:
            continue
        group = next((label for prefix, label in THREAD_GROUPS if thread.name.startswith(prefix)), "other")
        try:
            task = Path(f"/proc/self/task/{thread.native_id}")
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        switches = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        user, kernel, count = times.get(group, (0.0, 0.0, 0))
        times[group] = (user + int(fields[11]) / _TICK, kernel + int(fields[12]) / _TICK, count + switches)
    return times


def _thread_split(before: dict[str, tuple[float, float, int]], count: int) -> dict[str, float]:
    """The split's rows of the thread groups since ``before``, per message."""
    rows: dict[str, float] = {}
    for label, (user, kernel, switches) in thread_times().items():
        user0, kernel0, switches0 = before.get(label, (0.0, 0.0, 0))
        rows[f"thread {label}: all"] = 1000 * (user - user0 + kernel - kernel0) / count
        rows[f"thread {label}: kernel"] = 1000 * (kernel - kernel0) / count
        rows[f"thread {label}: voluntary switches (count)"] = (switches - switches0) / count
    return rows


def _thread_cpu(name: str) -> float:
    """CPU seconds so far of this process's thread called ``name`` (0 when there is none)."""
    for thread in threading.enumerate():
        if thread.name == name and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


class CpuSplit:
    """Thread CPU time spent inside the ``SPLIT_POINTS`` methods, patched for the run: where the
    hub's CPU goes, at about a microsecond per call instead of cProfile's several-fold inflation."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._patched: list[tuple[Any, str, Any]] = []

    def _wrap(self, label: str, method: Any) -> Any:
        split = self

        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            active: set[str] = split._local.__dict__.setdefault("active", set())
            if label in active:
                return method(*args, **kwargs)
            active.add(label)
            t0 = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent = time.thread_time() - t0
                active.discard(label)
                with split._lock:
                    split.seconds[label] = split.seconds.get(label, 0.0) + spent

        return timed

    def __enter__(self) -> CpuSplit:
        for point, label in SPLIT_POINTS.items():
            module_name, _, qualname = point.partition(":")
            class_name, _, method_name = qualname.partition(".")
            try:
                owner = getattr(importlib.import_module(module_name), class_name)
                method = owner.__dict__[method_name]
            except (ImportError, AttributeError, KeyError):
                continue
            self._patched.append((owner, method_name, method))
            setattr(owner, method_name, self._wrap(label, method))
        return self

    def __exit__(self, *_exc: object) -> None:
        for owner, name, method in reversed(self._patched):
            setattr(owner, name, method)
        self._patched.clear()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.seconds)


class ThreadProfiles:
    """cProfile in every thread started while it is installed (uvicorn's loop, the workers, the
    thread pool that runs handlers), merged into one pstats file: where the hub's CPU goes.

    cProfile inflates small calls; use it to rank, and the run without it for the figures."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start(self, *_args: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)  # CPU, not wall: waits cost nothing
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def __enter__(self) -> ThreadProfiles:
        threading.setprofile(self._start)
        return self

    def __exit__(self, *_exc: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]

    def dump(self, path: Path) -> None:
        with self._lock:
            profiles = list(self.profiles)
        for profile in profiles:
            profile.disable()  # only stops it when called in its thread; the stats are read anyway
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(str(path))


# ---------------------------------------------------------------- helper processes


def _simulator_main(conn: Connection, adapter: str) -> None:
    """Child process: an adapter's simulator (the land registry, the portal), until the parent says stop.

    The portal's login checks the account in DVCQG_USERNAME / DVCQG_PASSWORD, which this process
    inherits from the benchmark, as the hub does."""
    from lienthong.config.files import load_configuration
    from lienthong.devtools.simulator import create_simulator_app, simulator_spec

    spec = simulator_spec(load_configuration(PROJECT / "config", environ={}), adapter, store=":memory:")
    # BackgroundServer as in hub demo, not SimulatorServer: that one binds its own socket with
    # proto 0, so asyncio never sets TCP_NODELAY and every answer waits ~40 ms for a delayed ACK.
    # asyncio's loop as every simulator's (simulator.SERVER_LOOP, a name older checkouts lack).
    with BackgroundServer(create_simulator_app(spec), loop="asyncio") as server:
        conn.send((server.url, server.url + spec.path))
        conn.recv()


Request = tuple[bytes, dict[str, str]]


def _fire(clients: Sequence[httpx.Client], bodies: Sequence[Request], rate: float = 0.0) -> dict[str, Any]:
    """Post every body once, spread over the clients (one thread each); time each request.

    With a ``rate``, request i is due at start + i / rate and is timed from then (open loop): a
    request that waits for a free client counts its wait, as a caller arriving at that moment would."""
    lock = threading.Lock()
    pending = iter(range(len(bodies)))
    samples: list[tuple[float, float, int]] = []
    errors: list[str] = []
    barrier = threading.Barrier(len(clients) + 1)
    start: list[float] = []

    def client_loop(client: httpx.Client) -> None:
        local: list[tuple[float, float, int]] = []
        barrier.wait()
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                break
            t0 = time.perf_counter()
            if rate:
                due = start[0] + index / rate
                if due > t0:
                    time.sleep(due - t0)
                t0 = due
            content, headers = bodies[index]
            try:
                status = client.post("/api/v1/messages", content=content, headers=headers).status_code
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
    start.append(time.perf_counter())
    barrier.wait()
    for t in threads:
        t.join()
    return {"samples": samples, "errors": errors[:5], "cpu": _own_cpu() - cpu0}


def _load_main(
    conn: Connection,
    url: str,
    api_key: str,
    warmup: list[Request],
    measured: list[Request],
    paced: list[Request],
    clients: int,
) -> None:
    """Child process: a few clients with keep-alive connections; a warm-up batch, then on "go" the run,
    then (``--rate``) on a rate the paced batch."""
    headers = {API_KEY_HEADER: api_key}
    pool = [httpx.Client(base_url=url, timeout=120, headers=headers) for _ in range(clients)]
    try:
        conn.send(_fire(pool, warmup))
        conn.recv()
        conn.send(_fire(pool, measured))
        if paced:
            rate = conn.recv()
            conn.send(_fire(pool, paced, rate))
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
def simulator_process(adapter: str = PLUGIN) -> Iterator[tuple[str, str, int]]:
    """(base url, endpoint, pid) of ``adapter``'s simulator running in a child process."""
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(
        target=_simulator_main, args=(there, adapter), name=f"bench-sim-{adapter}", daemon=True
    )
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


#: The route a land-transfer dossier takes (config/routes.yaml): to land and the portal.
LAND_ROUTE = "land-transfer"


def dossier_targets(config: Configuration) -> list[str]:
    """The targets the project's routes send a land-transfer dossier to."""
    return next(list(r.targets) for r in config.routes.routes if r.name == LAND_ROUTE)


def land_only_routes(config: Configuration) -> Configuration:
    """The configuration with land-transfer dossiers routed to land alone (``--routes land-only``)."""
    rules = [
        r.model_copy(update={"targets": [PLUGIN]}) if r.name == LAND_ROUTE else r
        for r in config.routes.routes
    ]
    return config.model_copy(update={"routes": config.routes.model_copy(update={"routes": rules})})


def bench_configuration(
    config: Configuration, *, database_url: str, endpoint: str, workers: int, keys: KeySettings | None = None
) -> Configuration:
    """The project's own configuration with a fresh database, the simulator's endpoint and ``workers``;
    with ``keys``, the land adapter signs (xmldsig, RSA-SHA256) with the first of them. The portal's
    address and account come from the environment, as in production (``portal_environment``).

    Retry, breaker, batch size, poll interval and lease stay as configured: no faults are injected,
    so they only matter through the claim loop, which is what production runs.
    """
    land_update: dict[str, Any] = {"endpoint": endpoint}
    if keys is not None:
        land_update["signing"] = SigningPolicyConfig(policy="xmldsig", algorithm="rsa-sha256")
    land = config.adapters[PLUGIN].model_copy(update=land_update)
    hub_update: dict[str, Any] = {
        "database": config.hub.database.model_copy(update={"url": database_url}),
        "api": config.hub.api.model_copy(update={"port": 0}),
        "workers": config.hub.workers.model_copy(update={"count": workers}),
    }
    if keys is not None:
        hub_update["keys"] = keys
    hub = config.hub.model_copy(update=hub_update)
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


def sample_documents(count: int) -> list[bytes]:
    from lienthong.devtools.samples import sample_dossiers

    return [sample.xml for sample in sample_dossiers(count, agency=PROVINCE)]


def request_bodies(prefix: str, count: int, body: str = "xml") -> list[Request]:
    """The land dossiers as the one-stop system sends them: raw XML with the envelope in ``X-Hub-*``
    headers (docs/api.md), or (``json``) the JSON envelope with the payload in base64."""
    from lienthong.devtools.samples import sample_dossiers

    bodies: list[Request] = []
    for sample in sample_dossiers(count, agency=PROVINCE):
        if body == "xml":
            headers = {
                "Content-Type": "application/xml",
                "X-Hub-Sender-Message-Id": f"{prefix}-{sample.dossier_code}",
                "X-Hub-Kind": "dossier",
                "X-Hub-Sender": PROVINCE,
                "X-Hub-Procedure-Code": sample.procedure_code,
                "X-Hub-Dossier-Code": sample.dossier_code,
            }
            bodies.append((sample.xml, headers))
            continue
        envelope = {
            "sender_message_id": f"{prefix}-{sample.dossier_code}",
            "kind": "dossier",
            "sender": PROVINCE,
            "procedure_code": sample.procedure_code,
            "dossier_code": sample.dossier_code,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(sample.xml).decode("ascii"),
        }
        bodies.append((json.dumps(envelope).encode(), {"Content-Type": "application/json"}))
    return bodies


class Observer:
    """Reads the store's tables directly, on its own plain connection, to count and time deliveries:
    ``finished`` counts those to ``targets`` (the ones expected to end: land, and the portal when its
    simulator runs)."""

    def __init__(self, url: str, targets: Sequence[str] = (PLUGIN,)) -> None:
        # A plain engine: on SQLite a reader in WAL mode takes no lock, unlike the store's BEGIN IMMEDIATE.
        self.engine: Engine = create_engine(url)
        self.targets = list(targets)

    @staticmethod
    def _joined() -> Any:
        return deliveries.join(messages, deliveries.c.message_id == messages.c.id)

    def finished(self, prefix: str) -> int:
        query = (
            select(func.count())
            .select_from(self._joined())
            .where(
                messages.c.sender_message_id.like(f"{prefix}-%"),
                deliveries.c.state.in_(_FINISHED),
                deliveries.c.target.in_(self.targets),
            )
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def rows(self, prefix: str) -> list[Any]:
        query = (
            select(
                messages.c.received_at,
                deliveries.c.delivered_at,
                deliveries.c.state,
                deliveries.c.attempts,
                deliveries.c.target,
            )
            .select_from(self._joined())
            .where(messages.c.sender_message_id.like(f"{prefix}-%"))
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def wait(self, prefix: str, count: int, timeout: float) -> bool:
        """Whether ``count`` messages' deliveries to every one of ``targets`` finished in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.finished(prefix) >= count * len(self.targets):
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


def _paced_stats(result: RunResult, load: dict[str, Any]) -> None:
    samples: list[tuple[float, float, int]] = load["samples"]
    ok = [s for s in samples if s[2] == 202]
    latencies = [1000 * (s[1] - s[0]) for s in ok]
    span = max(s[1] for s in samples) - min(s[0] for s in samples)
    result.paced_accepted = len(ok)
    result.paced_per_second = len(ok) / span if span else math.nan
    result.paced_p50_ms = percentile(latencies, 0.50)
    result.paced_p99_ms = percentile(latencies, 0.99)
    result.paced_max_ms = max(latencies, default=math.nan)
    if len(ok) != len(samples):
        result.problems.append(f"paced: {len(samples) - len(ok)} not accepted {load['errors']}")


def _delivery_stats(result: RunResult, rows: Sequence[Any]) -> None:
    """Land's deliveries: counts, rate and latency (as before the portal was delivered too); the
    portal's: how many were delivered."""
    result.portal_delivered = sum(
        r.target == "dvcqg" and r.state == DeliveryState.DELIVERED.value for r in rows
    )
    rows = [r for r in rows if r.target == PLUGIN]
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


class HubCpu:
    """The hub's CPU seconds so far: this process less the observing main thread (in-process), or
    every process of the hub's process groups (``hub serve``/``hub worker``)."""

    def __init__(self, processes: HubProcesses | None = None) -> None:
        self.processes = processes

    def read(self) -> float:
        return _own_cpu() if self.processes is None else self.processes.cpu()


def _drive(
    result: RunResult,
    here: Connection,
    loader: BaseProcess,
    observer: Observer,
    hub: RunningHub,
    run_id: str,
    sim_pids: Sequence[int],
    *,
    paced: bool,
    paced_at: float = 0.0,
) -> None:
    """Warm-up, the measured batch (CPU, round trips, deliveries), then the paced batch if asked."""
    hub_cpu, trips, splitter = hub.cpu, hub.trips, hub.splitter
    workers, count, warmup = result.workers, result.messages, result.warmup
    warm: dict[str, Any] = _receive(here, loader)  # per-thread XSD/XSLT compiled, connections open
    if refused := [s[2] for s in warm["samples"] if s[2] != 202]:
        result.problems.append(f"warm-up: {len(refused)} refused (HTTP {sorted(set(refused))})")
    if workers and not observer.wait(f"warm-{run_id}", warmup, timeout=120):
        result.problems.append("warm-up was not delivered within 120s")
    result.load_before = os.getloadavg()[0]
    cpu0, all_cpu0 = hub_cpu.read(), _machine_cpu()
    result.hub_pids = 1 if hub_cpu.processes is None else len(hub_cpu.processes.pids())
    sim_cpu0 = sum(_process_cpu(pid) for pid in sim_pids)
    observer_cpu0 = time.thread_time()  # this thread only waits on the store's rows: not the hub's
    trips0 = trips.snapshot() if trips is not None else (0, 0, 0)
    split0 = splitter.snapshot() if splitter is not None else {}
    loop0 = _thread_cpu(SPLIT_LOOP_THREAD)
    threads0 = thread_times() if splitter is not None else {}
    t0 = time.monotonic()
    here.send("go")
    load: dict[str, Any] = _receive(here, loader)
    if workers and not observer.wait(f"bench-{run_id}", count, timeout=max(120.0, count / 5)):
        result.problems.append("not every message was delivered before the timeout")
    result.wall_seconds = time.monotonic() - t0
    result.observer_cpu_seconds = time.thread_time() - observer_cpu0
    result.hub_cpu_seconds = hub_cpu.read() - cpu0
    if hub_cpu.processes is None:
        result.hub_cpu_seconds -= result.observer_cpu_seconds
    result.simulator_cpu_seconds = sum(_process_cpu(pid) for pid in sim_pids) - sim_cpu0
    result.machine_cpu_seconds = _machine_cpu() - all_cpu0
    if splitter is not None:
        result.split_ms = _split_ms(splitter, split0, loop0, threads0, result.hub_cpu_seconds, count)
    if trips is not None:
        result.statements, result.commits, result.pings = (
            b - a for a, b in zip(trips0, trips.snapshot(), strict=True)
        )
    _intake_stats(result, load)
    if workers:
        _delivery_stats(result, observer.rows(f"bench-{run_id}"))
    if paced and result.accepted:
        _paced_batch(result, here, loader, observer, hub, run_id, paced_at)


def _split_ms(
    splitter: CpuSplit,
    split0: dict[str, float],
    loop0: float,
    threads0: dict[str, tuple[float, float, int]],
    hub_cpu_seconds: float,
    count: int,
) -> dict[str, float]:
    """``--split``: CPU ms per message in each split point since ``split0``, the event loop thread's
    since ``loop0``, and the rest of ``hub_cpu_seconds``."""
    spent = {k: 1000 * (v - split0.get(k, 0.0)) / count for k, v in splitter.snapshot().items()}
    spent["the rest: uvicorn, FastAPI, caller check, dispatcher, idle polls"] = (
        1000 * hub_cpu_seconds / count - sum(spent.get(k, 0.0) for k in SPLIT_TOP)
    )
    spent[SPLIT_DELIVERY_STORE] = sum(spent.get(k, 0.0) for k in SPLIT_DELIVERY_PARTS)
    spent[SPLIT_LOOP_LABEL] = 1000 * (_thread_cpu(SPLIT_LOOP_THREAD) - loop0) / count
    spent.update(_thread_split(threads0, count))
    return {k: round(v, 3) for k, v in spent.items()}


def _paced_batch(
    result: RunResult,
    here: Connection,
    loader: BaseProcess,
    observer: Observer,
    hub: RunningHub,
    run_id: str,
    rate: float = 0.0,
) -> None:
    """The same number of dossiers again at half the accepted/s measured (or at ``rate`` a second,
    ``--paced-rate``): 202 latencies, and the hub's CPU and round trips while they are taken in and
    delivered."""
    hub_cpu, trips, count, splitter = hub.cpu, hub.trips, result.messages, hub.splitter
    result.paced_rate = rate if rate > 0 else result.intake_per_second / 2
    split0 = splitter.snapshot() if splitter is not None else {}
    loop0 = _thread_cpu(SPLIT_LOOP_THREAD)
    threads0 = thread_times() if splitter is not None else {}
    cpu0, observer_cpu0 = hub_cpu.read(), time.thread_time()
    trips0 = trips.snapshot() if trips is not None else (0, 0, 0)
    here.send(result.paced_rate)
    _paced_stats(result, _receive(here, loader))
    if result.workers and not observer.wait(f"paced-{run_id}", count, timeout=max(120.0, count / 5)):
        result.problems.append("paced: not every message was delivered before the timeout")
    result.paced_hub_cpu_seconds = hub_cpu.read() - cpu0
    if hub_cpu.processes is None:
        result.paced_hub_cpu_seconds -= time.thread_time() - observer_cpu0
    if trips is not None:
        result.paced_round_trips = sum(trips.snapshot()) - sum(trips0)
    if splitter is not None and result.paced_accepted:
        result.paced_split_ms = _split_ms(
            splitter, split0, loop0, threads0, result.paced_hub_cpu_seconds, result.paced_accepted
        )


@dataclass(frozen=True)
class Simulators:
    """The simulators a run delivers to: the land registry's, and the portal's unless it is "down"."""

    land: tuple[str, str, int]
    portal: tuple[str, str, int] | None = None

    @property
    def pids(self) -> list[int]:
        return [self.land[2]] + ([self.portal[2]] if self.portal else [])

    def reset(self) -> None:
        for sim in (self.land, self.portal):
            if sim is not None:
                httpx.post(f"{sim[0]}/_sim/reset", timeout=10).raise_for_status()


@dataclass(frozen=True)
class HubPlan:
    """How the hub runs: in this process (``processes`` 0) or as ``hub serve --processes N``, with
    delivery in a ``hub worker`` of its own (``worker_process``: the API's workers 0); where
    land-transfer dossiers go (``targets``)."""

    processes: int = 0
    worker_process: bool = False
    targets: tuple[str, ...] = (PLUGIN, "dvcqg")


@dataclass
class RunningHub:
    """The hub of one run, whichever way it runs: where to send, and what can be read of it."""

    url: str
    cpu: HubCpu
    trips: RoundTrips | None = None
    splitter: CpuSplit | None = None
    profiles: ThreadProfiles | None = None


@contextmanager
def running_hub(
    config: Configuration,
    url: str,
    *,
    workers: int,
    caller: Caller,
    keys: KeySettings | None,
    simulators: Simulators,
    plan: HubPlan,
    profile: bool,
    split: bool,
) -> Iterator[RunningHub]:
    """The hub on the run's database ``url``: built here (with round trips counted, ``--split`` and
    ``--profile``) or started as ``hub serve``/``hub worker`` processes; stopped on the way out."""
    if plan.processes:
        with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
            processes = _hub_processes(Path(tmp), config, url, workers, caller, keys, simulators, plan)
            try:
                yield RunningHub(processes.start().url, HubCpu(processes))
            finally:
                processes.stop()
        return
    configuration = bench_configuration(
        config, database_url=url, endpoint=simulators.land[1], workers=workers, keys=keys
    )
    if plan.targets == (PLUGIN,):
        configuration = land_only_routes(configuration)
    profiles = ThreadProfiles().__enter__() if profile else None
    splitter = CpuSplit().__enter__() if split else None
    hub = build_hub(configuration)
    trips = RoundTrips(hub.store.engine)
    # The event loop hub.yaml's api.event_loop names (older checkouts lack it: uvicorn's "auto").
    loop = getattr(configuration.hub.api, "event_loop", "auto")
    server = BackgroundServer(create_app(hub, callers=CallerRegistry([caller])), loop=loop).start()
    try:
        yield RunningHub(server.url, HubCpu(), trips, splitter, profiles)
    finally:
        if splitter is not None:
            splitter.__exit__()
        trips.close()
        server.stop()
        hub.store.close()


def run_once(
    config: Configuration,
    *,
    backend: str,
    workers: int,
    clients: int,
    count: int,
    warmup: int,
    simulators: Simulators,
    keys: KeySettings | None,
    floor_work: FloorWork,
    plan: HubPlan,
    body: str = "xml",
    paced: bool = False,
    paced_at: float = 0.0,
    profile: Path | None = None,
    split: bool = False,
) -> RunResult:
    run_id = uuid.uuid4().hex[:10]
    warm_bodies = request_bodies(f"warm-{run_id}", warmup, body)
    bodies = request_bodies(f"bench-{run_id}", count, body)
    paced_bodies = request_bodies(f"paced-{run_id}", count, body) if paced else []
    simulators.reset()
    result = RunResult(backend, workers, clients, count, 0, math.nan, math.nan, math.nan, math.nan, math.nan)
    result.signed, result.body, result.warmup = keys is not None, body, warmup
    result.targets = ",".join(plan.targets)
    result.portal = "n/a" if "dvcqg" not in plan.targets else "simulator" if simulators.portal else "down"
    result.processes, result.worker_process = plan.processes, plan.worker_process
    result.round_trips_counted = not plan.processes
    # The floor, for the same dossiers and targets, in this process, just before the run it is compared with.
    floor: Floor = measure_floor(floor_work, sample_documents(count))
    result.floor_ms_per_message = floor.ms_per_message
    result.floor_by_target = floor.by_target_ms
    result.floor_stages_ms = floor.stages_ms
    delivered_targets = [PLUGIN] + (["dvcqg"] if simulators.portal and "dvcqg" in plan.targets else [])
    # The load generator acts as the one-stop system, with a key made for this run.
    api_key = secrets.token_urlsafe(32)
    caller = Caller(
        agency=PROVINCE, name="bench", api_key_sha256=[api_key_digest(api_key)], services=["rest:submit"]
    )
    with (
        database(backend, run_id) as url,
        running_hub(
            config,
            url,
            workers=workers,
            caller=caller,
            keys=keys,
            simulators=simulators,
            plan=plan,
            profile=profile is not None,
            split=split,
        ) as hub,
    ):
        observer = Observer(url, delivered_targets)
        ctx = mp.get_context("spawn")
        here, there = ctx.Pipe()
        loader = ctx.Process(
            name="bench-clients",
            target=_load_main,
            args=(there, hub.url, api_key, warm_bodies, bodies, paced_bodies, clients),
            daemon=True,
        )
        try:
            loader.start()
            there.close()  # only the child holds its end now: if it dies, recv() ends instead of hanging
            _drive(
                result, here, loader, observer, hub, run_id, simulators.pids, paced=paced, paced_at=paced_at
            )
            if hub.profiles is not None and profile is not None:
                hub.profiles.__exit__()
                hub.profiles.dump(profile)
        finally:
            loader.join(10)
            observer.close()
    _simulator_checks(result, simulators, delivered_targets, paced=paced)
    if paced and not math.isnan(result.paced_rate):  # the hub has stopped: the machine is quiet again
        result.paced_floor_ms_per_message = measure_paced_floor(
            floor_work, sample_documents(count), result.paced_rate
        )
    return result


def _simulator_checks(
    result: RunResult, simulators: Simulators, delivered_targets: Sequence[str], *, paced: bool
) -> None:
    """Every message delivered once: land's simulator saw each exactly once, the portal's rows ended."""
    count, warmup = result.messages, result.warmup
    stats = httpx.get(f"{simulators.land[0]}/_sim/stats", timeout=10).json()
    result.simulator_calls = stats["total"]
    result.simulator_duplicates = stats["duplicates"]
    if not result.workers:
        return
    if result.delivered != count:
        result.problems.append(f"delivered {result.delivered}/{count}, dead {result.dead}")
    if "dvcqg" in delivered_targets and result.portal_delivered != count:
        result.problems.append(f"portal delivered {result.portal_delivered}/{count}")
    expected = count + warmup + (count if paced and result.paced_accepted else 0)
    if stats["unique"] != expected:
        result.problems.append(f"simulator saw {stats['unique']} unique messages, expected {expected}")


def _hub_processes(
    folder: Path,
    config: Configuration,
    database_url: str,
    workers: int,
    caller: Caller,
    keys: KeySettings | None,
    simulators: Simulators,
    plan: HubPlan,
) -> HubProcesses:
    """``hub serve`` (and ``hub worker``) on a copy of the project's configuration with the run's
    overrides, the addresses and the portal's account in their environment."""
    root = config_root(folder / "root", config.root)
    common: dict[str, Any] = {
        "database_url": database_url,
        "caller": caller.model_dump(mode="json", exclude_defaults=True),
        "keys": [k.model_dump(mode="json", exclude_none=True) for k in keys.signing] if keys else None,
        "land_only": plan.targets == (PLUGIN,),
    }
    api_workers = 0 if plan.worker_process else workers
    serve_config = write_config(root, config.root, "config", workers=api_workers, **common)
    worker_config = (
        write_config(root, config.root, "config-worker", workers=workers, **common)
        if plan.worker_process
        else None
    )
    env = {**os.environ, "LAND_ENDPOINT": simulators.land[1]}  # the portal's: set by main()
    logs = folder / "logs"
    logs.mkdir()
    return HubProcesses(
        serve_config, processes=plan.processes, env=env, worker_config=worker_config, log_dir=logs
    )


# ---------------------------------------------------------------- output


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.1f}"


def _ms2(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.2f}"


def _rate(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}"


def results_table(results: Sequence[RunResult], what: str) -> Table:
    table = Table(title=f"End to end through REST → store → SOAP simulator: {what}")
    for column in (
        "hub",
        "backend",
        "mode",
        "targets",
        "workers",
        "accepted/s",
        "202 p50 ms",
        "202 p99 ms",
        "delivered/s",
        "drain s",
        "deliv p50 ms",
        "deliv p99 ms",
        "hub CPU ms/msg",
        "floor ms/msg",
        "floor in/land/dvcqg",
        "ratio",
        "round trips/msg",
        "paced/s",
        "paced 202 p50/p99 ms",
        "paced hub CPU ms/msg (ratio; to the paced floor) round trips/msg",
        "cores ours/all",
        "checks",
    ):
        left = ("hub", "backend", "mode", "targets", "checks")
        table.add_column(column, justify="left" if column in left else "right")
    for r in results:
        table.add_row(
            r.hub,
            r.backend,
            r.mode,
            r.targets + ("" if r.portal == "simulator" or "dvcqg" not in r.targets else " (portal down)"),
            str(r.workers),
            _rate(r.intake_per_second),
            _ms(r.accept_p50_ms),
            _ms(r.accept_p99_ms),
            _rate(r.e2e_per_second),
            _ms(r.drain_seconds),
            _ms(r.delivery_p50_ms),
            _ms(r.delivery_p99_ms),
            _ms(r.hub_cpu_ms_per_message),
            _ms2(r.floor_ms_per_message),
            "/".join(_ms2(r.floor_by_target.get(k, math.nan)) for k in (INPUT, *TARGETS)),
            _ms(r.ratio_to_floor),
            _ms(r.round_trips_per_message),
            _rate(r.paced_per_second),
            f"{_ms(r.paced_p50_ms)}/{_ms(r.paced_p99_ms)}",
            f"{_ms(r.paced_hub_cpu_ms_per_message)} ({_ms(r.paced_ratio_to_floor)}; "
            f"{_ms(r.paced_ratio_to_paced_floor)}) {_ms(r.paced_round_trips_per_message)}",
            f"{r.cores_busy:.2f}/{r.machine_cores_busy:.2f}",
            "[green]ok[/]" if not r.problems else "[red]" + "; ".join(r.problems) + "[/]",
        )
    return table


def split_table(results: Sequence[RunResult], *, paced: bool = False) -> Table:
    """The split of the measured batch, or (``paced``) of the paced one (``--rate``)."""
    title = "Where the hub's CPU goes: ms per message (thread CPU inside each method)"
    table = Table(title=title + (", the paced batch" if paced else ""))
    table.add_column("method")
    splits = [r.paced_split_ms if paced else r.split_ms for r in results]
    present = {k for split in splits for k in split}
    labels = [k for k in [*SPLIT_POINTS.values(), *sorted(present)] if k in present]
    labels = list(dict.fromkeys(labels))
    for r in results:
        table.add_column(f"{r.hub} {r.backend} {r.mode} {r.workers}w", justify="right")
    for label in [*labels, "total (process CPU)", "floor"]:
        row = [label]
        for r, split in zip(results, splits, strict=True):
            if label == "total (process CPU)":
                row.append(_ms2(r.paced_hub_cpu_ms_per_message if paced else r.hub_cpu_ms_per_message))
            elif label == "floor":
                row.append(_ms2(r.floor_ms_per_message))
            else:
                row.append(_ms2(split.get(label, math.nan)))
        table.add_row(*row)
    return table


def print_splits(console: Console, results: Sequence[RunResult]) -> None:
    """The measured batch's split, and the paced batch's when there was one (``--rate``)."""
    console.print(split_table(results))
    if any(r.paced_split_ms for r in results):
        console.print(split_table(results, paced=True))


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
        elif isinstance(value, int) and not isinstance(value, bool) and name not in ("workers", "clients"):
            values[name] = int(statistics.median(getattr(r, name) for r in runs))
        elif isinstance(value, dict):
            keys = dict.fromkeys(k for r in runs for k in getattr(r, name))
            values[name] = {
                k: statistics.median(getattr(r, name)[k] for r in runs if k in getattr(r, name)) for k in keys
            }
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
    data["ratio_to_floor"] = result.ratio_to_floor
    data["paced_hub_cpu_ms_per_message"] = result.paced_hub_cpu_ms_per_message
    data["paced_ratio_to_floor"] = result.paced_ratio_to_floor
    data["paced_ratio_to_paced_floor"] = result.paced_ratio_to_paced_floor
    data["paced_round_trips_per_message"] = result.paced_round_trips_per_message
    data["round_trips_per_message"] = result.round_trips_per_message
    data["mode"] = result.mode
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
    parser.add_argument(
        "--sign",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the land adapter signs (xmldsig, RSA-2048 development key), as production will (default)",
    )
    parser.add_argument(
        "--body", choices=("xml", "json"), default="xml", help="raw XML body (default) or the JSON envelope"
    )
    parser.add_argument(
        "--rate",
        action="store_true",
        help="after each run, send the dossiers again at half its accepted/s and report that 202 p99",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=0.0,
        help="with --rate: pace the second batch at this many dossiers a second instead of half the "
        "measured maximum (a province's ordinary hour: a few to a few tens a second)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the hub's threads (last run) to this .pstats file"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="add up the hub's CPU per method (store, prepare, deliver, the rest)",
    )
    parser.add_argument(
        "--routes",
        choices=("project", "land-only"),
        default="project",
        help="project: land-transfer dossiers go to land and the portal (dvcqg), as config/routes.yaml "
        "says (default); land-only: to land alone. The floor covers the same targets",
    )
    parser.add_argument(
        "--portal",
        choices=("simulator", "down"),
        default="simulator",
        help="simulator: the portal's deliveries go to its simulator, logged in with an account in "
        "DVCQG_USERNAME/DVCQG_PASSWORD (default); down: no account, they wait (as before)",
    )
    parser.add_argument(
        "--processes",
        default="0",
        help="comma-separated hub set-ups: 0 the hub in this process (default); N `hub serve "
        "--processes N` in processes of its own (CPU of all of them); Nw the same with workers 0 "
        "and delivery in one `hub worker` process",
    )
    parser.add_argument("--hub-path", type=Path, help="run the hub from this checkout (git archive)")
    parser.add_argument(
        "--against", type=Path, help="alternate rounds of the hub at this checkout and of this one"
    )
    parser.add_argument(
        "--hide-before",
        default="",
        help="with --against: modules the other checkout runs without (e.g. httptools, which "
        "uvicorn uses whenever it is installed)",
    )
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(args.backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    args.workers = list(dict.fromkeys(int(w) for w in args.workers.split(",")))
    args.hide_before = [m.strip() for m in args.hide_before.split(",") if m.strip()]
    try:
        args.processes = list(dict.fromkeys(_mode(m.strip()) for m in args.processes.split(",") if m.strip()))
    except ValueError:
        parser.error("--processes: comma-separated 0, N or Nw (N ≥ 1)")
    if (args.profile or args.split) and any(p for p, _ in args.processes):
        parser.error("--profile and --split see only a hub in this process (--processes 0)")
    if not 1 <= args.messages <= 9999 or not 0 <= args.warmup <= 9999:
        parser.error("--messages must be 1..9999 and --warmup 0..9999 (the dossier code's daily counter)")
    return args


def _mode(token: str) -> tuple[int, bool]:
    """``--processes`` token: (hub serve processes, delivery in a hub worker); 0 is this process."""
    worker = token.endswith("w")
    count = int(token.removesuffix("w"))
    if count < 0 or (worker and count == 0):
        raise ValueError(token)
    return count, worker


def _hub_env(hub_path: Path, workdir: Path, hide: Sequence[str] = ()) -> dict[str, str]:
    """The environment of an interpreter whose ``lienthong`` is the checkout at ``hub_path``, and in
    which the ``hide`` modules cannot be imported (dependencies that checkout did not have: uvicorn
    picks httptools and uvloop whenever they import)."""
    shim = workdir / f"pythonpath-{uuid.uuid4().hex[:8]}"
    shim.mkdir(parents=True)
    for name in hide:
        (shim / name).mkdir()
        (shim / name / "__init__.py").write_text(f"raise ImportError('{name} hidden by bench/e2e.py')\n")
    (shim / "lienthong").symlink_to(hub_path.resolve() / "hub", target_is_directory=True)
    if (hub_path / "adapters").is_dir():
        (shim / "lienthong_adapters").symlink_to(hub_path.resolve() / "adapters", target_is_directory=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(shim)
    env["HUB_BENCH_PROJECT"] = str(hub_path.resolve()) if (hub_path / "config").is_dir() else str(ROOT)
    return env


def _without(argv: Sequence[str], *options: str) -> list[str]:
    """``argv`` less the given options and their values (``--opt v`` or ``--opt=v``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in options:
            skip = True
            continue
        if any(arg.startswith(o + "=") for o in options):
            continue
        out.append(arg)
    return out


def _child(argv: list[str], env: dict[str, str] | None) -> int:
    command = [sys.executable, str(Path(__file__).resolve()), *argv]
    return subprocess.run(command, env=env, check=False).returncode


def _result_from_json(data: dict[str, Any], hub: str) -> RunResult:
    names = {f.name for f in fields(RunResult)}
    values = {k: (math.nan if v is None else v) for k, v in data.items() if k in names}
    values["hub"] = hub
    return RunResult(**values)


def alternate(argv: Sequence[str], args: argparse.Namespace) -> int:
    """Rounds of the other checkout's hub and this one, alternated, each in a fresh interpreter."""
    console = Console(width=max(Console().width, 280))
    base_argv = _without(argv, "--against", "--rounds", "--json", "--hide-before")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        env = _hub_env(args.against, Path(tmp), args.hide_before)
        results: list[RunResult] = []
        failed = 0
        for round_ in range(args.rounds):
            for label, child_env in (("before", env), ("after", None)):
                out = Path(tmp) / f"{label}-{round_}.json"
                console.print(f"[bold]round {round_ + 1}/{args.rounds}: {label}[/]")
                failed |= _child([*base_argv, "--rounds", "1", "--json", str(out)], child_env)
                if out.exists():
                    runs = json.loads(out.read_text())["runs"]
                    results += [_result_from_json(r, label) for r in runs]
    console.print(results_table(results, "before (--against) and after, alternated, each run"))
    if args.split:
        print_splits(console, results)
    if args.rounds > 1:
        keys = list(dict.fromkeys(_key(r) for r in results))
        medians = [median_result([r for r in results if _key(r) == k]) for k in keys]
        console.print(results_table(medians, f"median of {args.rounds} rounds"))
    if args.json:
        runs = [_json_ready(r) for r in results]
        payload = {"machine": machine(), "against": str(args.against), "runs": runs}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        console.print(f"wrote {args.json}")
    return 1 if failed else 0


def dev_keys(workdir: Path) -> KeySettings:
    """A development CA and the hub's RSA-2048 key, made for this invocation (``hub keys dev-ca``)."""
    from lienthong.trust.keys import create_dev_ca

    ca = create_dev_ca(workdir, PROVINCE, {})
    return KeySettings(signing=ca.key_references())


def portal_environment(simulator: tuple[str, str, int] | None) -> None:
    """Point the portal adapter at its simulator, with an account made for this invocation, through
    the environment variables production sets (DVCQG_ENDPOINT, DVCQG_AUTH_URL, DVCQG_USERNAME,
    DVCQG_PASSWORD); the hub (here or in its processes) and the simulator read the same ones."""
    if simulator is None:
        for name in ("DVCQG_USERNAME", "DVCQG_PASSWORD"):
            os.environ.pop(name, None)  # no account: the portal's deliveries wait, as before
        return
    os.environ["DVCQG_ENDPOINT"] = simulator[1]
    os.environ["DVCQG_AUTH_URL"] = simulator[1] + "/login"


def check_portal_floor(config: Configuration, work: FloorWork, documents: Sequence[bytes]) -> list[str]:
    """Where the floor's portal JSON differs from what the hub prepares for the same dossiers (the
    bytes it stores and sends): the floor must do the same work, or its ratio means nothing."""
    from lienthong.envelope import Envelope, MessageKind
    from lienthong.pipeline.prepare import build_preparations

    stages = build_preparations(config, only={"dvcqg"})["dvcqg"]
    problems: list[str] = []
    for number, data in enumerate(documents, start=1):
        envelope = Envelope(
            message_id=uuid.uuid4(),
            kind=MessageKind.DOSSIER,
            sender=PROVINCE,
            recipient=None,
            sender_message_id=f"floor-{number}",
            correlation_id=uuid.uuid4(),
            payload=data,
            content_type="application/xml",
        )
        hub = json.loads(stages.prepare(envelope, None).payload)
        floor = json.loads(work.one(data)["dvcqg"])
        if hub != floor:
            problems.append(
                f"dossier {number}: the floor's portal JSON differs from the hub's: {floor} != {hub}"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    config = load_configuration(PROJECT / "config")
    args = parse_args(argv, config.hub.workers.count)
    if args.against is not None:
        return alternate(argv, args)
    if args.hub_path is not None:
        with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
            return _child(_without(argv, "--hub-path"), _hub_env(args.hub_path, Path(tmp)))
    console = Console()
    if not console.is_terminal and console.width < 280:
        console = Console(width=280)  # piped into a file or the docs: keep the table's columns whole
    info = machine()
    console.print(machine_table(info))
    if "postgres" in args.backends and info["postgresql"] is None:
        console.print(f"[yellow]PostgreSQL is not reachable at {PG_BASE_URL}: skipping it[/]")
        args.backends.remove("postgres")
    results: list[RunResult] = []
    plan = [
        (b, w, m)
        for _ in range(args.rounds)
        for b in args.backends
        for w in args.workers
        for m in args.processes
    ]
    targets = [PLUGIN] if args.routes == "land-only" else dossier_targets(config)
    keydir = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    keys = dev_keys(keydir) if args.sign else None
    signing_key = keys.signing[0] if keys is not None else None
    floor_work = FloorWork(
        PROJECT,
        key_file=signing_key.key_file if signing_key else None,
        certificate_file=signing_key.certificate_file if signing_key else None,
        targets=targets,
        hub_agency=config.hub.hub.agency,
    )
    if "dvcqg" in targets and (
        mismatch := check_portal_floor(config, floor_work, sample_documents(args.messages))
    ):
        console.print("[red]" + "\n".join(mismatch[:3]) + "[/]")
        console.print(
            f"[red]{len(mismatch)} dossier(s): the floor would not do the hub's work; not measured[/]"
        )
        return 1
    hub_label = "this" if PROJECT == ROOT else str(PROJECT)
    portal = args.portal == "simulator" and "dvcqg" in targets
    if portal:
        os.environ["DVCQG_USERNAME"] = "bench-" + secrets.token_hex(4)
        os.environ["DVCQG_PASSWORD"] = secrets.token_urlsafe(16)
    with simulator_process() as land, simulator_process("dvcqg") if portal else nullcontext() as portal_sim:
        portal_environment(portal_sim)
        config = load_configuration(PROJECT / "config")  # with the portal's address from the environment
        simulators = Simulators(land, portal_sim)
        for number, (backend, workers, mode) in enumerate(plan, start=1):
            busy = wait_for_quiet(args.quiet_wait) if args.quiet_wait else math.nan
            hub_plan = HubPlan(processes=mode[0], worker_process=mode[1], targets=tuple(targets))
            console.print(
                f"run {number}/{len(plan)}: {backend}, {workers} workers, {args.messages} messages, "
                + ("hub in this process" if not mode[0] else f"hub serve --processes {mode[0]}")
                + (" + hub worker" if mode[1] else "")
                + ("" if math.isnan(busy) else f" (machine {busy:.2f} cores busy before)")
            )
            result = run_once(
                config,
                backend=backend,
                workers=workers,
                clients=args.clients,
                count=args.messages,
                warmup=args.warmup,
                simulators=simulators,
                keys=keys,
                floor_work=floor_work,
                plan=hub_plan,
                body=args.body,
                paced=args.rate,
                paced_at=args.paced_rate,
                profile=args.profile,
                split=args.split,
            )
            result.hub = hub_label
            results.append(result)
    shutil.rmtree(keydir, ignore_errors=True)
    console.print(results_table(results, f"{args.messages} land dossiers, each run"))
    if args.split:
        print_splits(console, results)
    if args.rounds > 1:
        medians = [median_result([r for r in results if _key(r) == _key(r0)]) for r0 in results]
        unique = list({_key(m): m for m in medians}.values())
        console.print(results_table(unique, f"median of {args.rounds} rounds"))
    if args.json:
        _write_json(args, config, info, targets, results)
        console.print(f"wrote {args.json}")
    return 1 if any(r.problems for r in results) else 0


def _write_json(
    args: argparse.Namespace,
    config: Configuration,
    info: dict[str, object],
    targets: Sequence[str],
    results: Sequence[RunResult],
) -> None:
    """``--json``: the machine, the settings and every run (``floor_by_target`` with each)."""
    settings = {
        "messages": args.messages,
        "clients": args.clients,
        "warmup": args.warmup,
        "batch_size": config.hub.workers.batch_size,
        "poll_interval_s": config.hub.workers.poll_interval.total_seconds(),
        "rounds": args.rounds,
        "signed": args.sign,
        "body": args.body,
        "rate": args.rate,
        "paced_rate": args.paced_rate,
        "routes": args.routes,
        "targets": targets,
        "portal": args.portal,
    }
    payload = {"machine": info, "settings": settings, "runs": [_json_ready(r) for r in results]}
    args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _key(r: RunResult) -> tuple[str, str, int, str]:
    """Runs of one configuration (repeated with --rounds)."""
    return (r.hub, r.backend, r.workers, r.mode)


if __name__ == "__main__":
    sys.exit(main())
