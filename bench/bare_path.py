#!/usr/bin/env python3
"""The bare path: the least CPU a Python service doing the hub's I/O for a dossier pays, against the floor.

    python bench/bare_path.py [--messages 600] [--backends sqlite,postgres] [--clients 4] [--rounds 3]
                              [--json out.json]
    python3 dev.py bench bare_path [same options]

Issue 11 bounds the hub's CPU per dossier by 2.5 × the floor (``bench/_floor.py``: the XML, JSON and
crypto work, with the libraries alone). The floor has no I/O; the hub must also take the dossier in
over HTTP, store it durably before answering, deliver it to two systems over HTTP, record each
outcome durably, and keep the auditor's rows. This benchmark does that I/O with the same libraries
and nothing else — no framework, no hub code, one thread — to say what the issue's bound leaves for
everything the hub does beyond it:

* **intake**: uvicorn with httptools and uvloop (as the hub serves), a bare ASGI callable: read the
  body and the ``X-Hub-*`` headers, answer 202 with a small JSON body after the commit;
* **the floor's work** in the request (``FloorWork.one``: parse, validate, translate, validate, sign,
  serialise; the portal's JSON), so the caches are those of a request, not of a loop over documents;
* **store**: SQLite in WAL mode with ``synchronous=FULL`` (as the hub runs it) through the standard
  library's ``sqlite3``, or PostgreSQL through psycopg (a schema of its own at ``HUB_BENCH_PG_URL``,
  as ``bench/e2e.py``): one transaction per dossier, committed before the 202, holding the message,
  its two deliveries and — the cheapest way to write them durably — the previous dossier's outcomes
  (two UPDATEs, two attempt rows) and the auditor's rows (a hash-chained entry for the message and
  each attempt);
* **delivery**: after the 202, in the same thread, two POSTs on kept connections (``http.client``):
  the signed land document in a SOAP envelope to a sink answering a SOAP reply (parsed with the
  hardened lxml parser, its status read), and the portal's JSON with a bearer token to a sink
  answering JSON (decoded).

What it leaves out makes it a lower bound, not a design: no authentication of the caller, no
routing, no idempotency check but the unique key, no retries, no leases, no metrics, one transaction
per dossier whatever the load, and no second thread (so no hand-off and no wait for the
interpreter's lock) — except in the third run of each round, where the calls go to one delivery
thread through a queue, as they must in any service whose intake does not wait for a slow ministry.
The sinks and the clients run in processes of their own; the CPU counted is the service's threads'
(``pthread_getcpuclockid``), the floor is measured in this process at the start of each round.
Nothing here asserts a time; read the ratios of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

from _floor import FloorWork, measure_floor  # noqa: E402

PROVINCE = "000.00.00.H49"
PG_BASE_URL = os.environ.get("HUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
#: What the land sink answers: a SOAP reply the size of the land registry simulator's (~800 bytes).
SOAP_REPLY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
    '<TiepNhanHoSoResponse xmlns="urn:lienthong:land:dangkydatdai:1">'
    "<MaTiepNhan>DKDD-2026-000000001</MaTiepNhan><TrangThai>DA_TIEP_NHAN</TrangThai>"
    "<ThoiGianTiepNhan>2026-12-01T10:00:00+07:00</ThoiGianTiepNhan>"
    "<GhiChu>Hồ sơ đã được tiếp nhận vào hệ thống đăng ký đất đai; kết quả sẽ được trả theo quy định."
    "</GhiChu></TiepNhanHoSoResponse></soap:Body></soap:Envelope>"
).encode()
PORTAL_REPLY = json.dumps(
    {"error_code": "0", "message": "Đồng bộ hồ sơ thành công", "MaHoSo": "H49.01-261201-0001"}
).encode()

SQLITE_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE messages (id TEXT PRIMARY KEY, sender TEXT NOT NULL, sender_message_id TEXT NOT NULL,
  dossier_code TEXT, received_at TEXT NOT NULL, headers TEXT NOT NULL, payload BLOB NOT NULL,
  UNIQUE (sender, sender_message_id));
CREATE TABLE deliveries (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL REFERENCES messages(id),
  target TEXT NOT NULL, state TEXT NOT NULL, payload BLOB NOT NULL, attempts INTEGER NOT NULL,
  updated_at TEXT NOT NULL, delivered_at TEXT);
CREATE INDEX deliveries_state ON deliveries (state);
CREATE TABLE attempts (id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
  number INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL, outcome TEXT NOT NULL,
  response_status INTEGER, response BLOB);
CREATE TABLE audit (leaf INTEGER PRIMARY KEY, source TEXT NOT NULL, source_key TEXT NOT NULL,
  at TEXT NOT NULL, body TEXT NOT NULL, hash BLOB NOT NULL, UNIQUE (source, source_key));
"""
#: The same tables on PostgreSQL (its types; ids from identity columns).
POSTGRES_SCHEMA = (
    SQLITE_SCHEMA.replace("PRAGMA journal_mode=WAL;", "")
    .replace("id INTEGER PRIMARY KEY", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    .replace("BLOB", "BYTEA")
    .replace("leaf INTEGER PRIMARY KEY", "leaf BIGINT PRIMARY KEY")
)


FLOOR = "the floor's work (in the request)"
STORE = "store: one transaction (message, deliveries, the last outcomes, audit rows), committed"
CALLS = "the two calls (http.client, the replies read)"
REST = "the rest: HTTP server (uvicorn, uvloop, the ASGI callable), the 202, hand-offs"
STAGES = (FLOOR, STORE, CALLS, REST)
SHORT = ("floor's work", "store", "calls", "HTTP server, rest")  # STAGES, as the table heads them


# ---------------------------------------------------------------- the sinks (a process of their own)


#: What the sinks of this process were sent, by path: how many requests, and the last one's body.
SINK_CALLS: dict[str, tuple[int, bytes]] = {}


async def _body(receive: Any) -> bytes:
    """A request's whole body, as its ASGI server hands it in."""
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _sink_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await _body(receive)
    count, _ = SINK_CALLS.get(scope["path"], (0, b""))
    SINK_CALLS[scope["path"]] = (count + 1, body)
    soap = scope["path"] == "/soap"
    body = SOAP_REPLY if soap else PORTAL_REPLY
    kind = b"text/xml; charset=utf-8" if soap else b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _sink_main(conn: Connection) -> None:
    from lienthong.devtools.background import BackgroundServer

    with BackgroundServer(_sink_app, loop="asyncio") as server:
        conn.send(server.port)
        conn.recv()


@contextmanager
def sink_process() -> Iterator[int]:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_sink_main, args=(there,), name="bare-sink", daemon=True)
    proc.start()
    try:
        if not here.poll(60):
            raise RuntimeError("the sink did not start")
        yield here.recv()
    finally:
        here.send("stop")
        proc.join(15)
        if proc.is_alive():
            proc.terminate()


#: Every statement of a dossier, with SQLite's placeholders (PostgreSQL's put in by BareService).
STATEMENTS = {
    "message": "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
    "delivery": "INSERT INTO deliveries (message_id, target, state, payload, attempts, updated_at)"
    " VALUES (?, ?, 'pending', ?, 0, ?) RETURNING id",
    "audit": "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)",
    "outcome": "UPDATE deliveries SET state = ?, attempts = attempts + 1, updated_at = ?, delivered_at = ?"
    " WHERE id = ?",
    "attempt": "INSERT INTO attempts (delivery_id, number, started_at, finished_at, outcome,"
    " response_status, response) VALUES (?, 1, ?, ?, ?, ?, ?) RETURNING id",
}


# ---------------------------------------------------------------- the bare service


class BareService:
    """The ASGI callable: everything on the event loop's thread, blocking, one dossier at a time."""

    def __init__(
        self, database: Path | str, sink_port: int, work: FloorWork | None, *, threaded: bool = False
    ) -> None:
        """``database``: a SQLite file, or a PostgreSQL connection string (libpq's: its schema chosen
        by its ``options``)."""
        self.db: Any
        if isinstance(database, Path):
            self.db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            self.db.executescript(SQLITE_SCHEMA)
            self.db.execute("PRAGMA synchronous=FULL")
            self.begin = "BEGIN IMMEDIATE"
        else:
            import psycopg

            self.db = psycopg.connect(database, autocommit=True)  # BEGIN and COMMIT sent as SQLite's are
            self.db.execute(POSTGRES_SCHEMA)
            self.begin = "BEGIN"
        marker = "?" if isinstance(database, Path) else "%s"
        self.sql = {name: text.replace("?", marker) for name, text in STATEMENTS.items()}
        self.sink_port = sink_port
        self.work = work
        self.parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        self.connections: dict[str, http.client.HTTPConnection] = {}
        self.pending: list[tuple[int, str, str, int, bytes]] = []  # outcomes not yet written
        self.leaf = 0
        self.chain = b"\0" * 32
        self.token = "Bearer " + uuid.uuid4().hex
        #: ``threaded``: the calls go to one delivery thread through a queue, as any service whose
        #: intake must not wait for a slow ministry has to (the least such hand-off: no pool, no lock
        #: but the queue's and the outcomes' list).
        self.lock = threading.Lock()
        self.jobs: SimpleQueue[tuple[list[int], dict[str, bytes]] | None] = SimpleQueue()
        self.delivery_thread = threading.Thread(target=self._deliveries, name="bare-delivery", daemon=True)
        self.threaded = threaded
        self.spent: dict[str, float] = {}  # CPU seconds by stage (STAGES)
        if threaded:
            self.delivery_thread.start()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await _body(receive)
        head = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k.startswith(b"x-hub-")
        }
        t0 = time.thread_time()
        prepared = self.work.one(body) if self.work is not None else {"land": body, "dvcqg": body}
        t1 = time.thread_time()
        message_id = uuid.uuid4()
        ids = self.store(message_id, head, body, prepared)
        self.spend(FLOOR, t1 - t0)
        self.spend(STORE, time.thread_time() - t1)
        answer = json.dumps({"message_id": str(message_id), "duplicate": False}).encode()
        response = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 202, "headers": response})
        await send({"type": "http.response.body", "body": answer})
        if self.threaded:
            self.jobs.put((ids, prepared))
        else:
            self.deliver(ids, prepared)

    def _deliveries(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.deliver(*job)

    def stop(self) -> None:
        if self.threaded:
            self.jobs.put(None)
            self.delivery_thread.join()
        self.flush()
        self.db.close()
        for conn in self.connections.values():
            conn.close()

    def store(
        self, message_id: uuid.UUID, head: dict[str, str], body: bytes, prepared: dict[str, bytes]
    ) -> list[int]:
        """The message and its deliveries, with the outcomes waiting since the last dossier, in one
        transaction committed (fsynced) before the 202."""
        now = datetime.now(UTC).isoformat()
        db = self.db
        db.execute(self.begin)
        try:
            db.execute(
                self.sql["message"],
                (
                    str(message_id),
                    head.get("x-hub-sender", ""),
                    head.get("x-hub-sender-message-id", str(message_id)),
                    head.get("x-hub-dossier-code"),
                    now,
                    json.dumps(head, sort_keys=True),
                    body,
                ),
            )
            ids = [
                db.execute(self.sql["delivery"], (str(message_id), target, payload, now)).fetchone()[0]
                for target, payload in prepared.items()
            ]
            self.audit("messages", str(message_id), now, {"id": str(message_id), "headers": head})
            self.write_outcomes(now)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return ids

    def audit(self, source: str, key: str, at: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        self.chain = hashlib.sha256(self.chain + text.encode()).digest()
        self.db.execute(self.sql["audit"], (self.leaf, source, key, at, text, self.chain))
        self.leaf += 1

    def write_outcomes(self, now: str) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        for delivery_id, target, outcome, status, response in pending:
            self.db.execute(self.sql["outcome"], (outcome, now, now, delivery_id))
            attempt = self.db.execute(
                self.sql["attempt"], (delivery_id, now, now, outcome, status, response)
            ).fetchone()[0]
            self.audit(
                "attempts", str(attempt), now, {"delivery": delivery_id, "target": target, "outcome": outcome}
            )

    def flush(self) -> None:
        if self.pending:
            self.db.execute(self.begin)
            self.write_outcomes(datetime.now(UTC).isoformat())
            self.db.execute("COMMIT")

    def spend(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.spent[stage] = self.spent.get(stage, 0.0) + seconds

    def deliver(self, ids: Sequence[int], prepared: dict[str, bytes]) -> None:
        t0 = time.thread_time()
        for delivery_id, (target, payload) in zip(ids, prepared.items(), strict=True):
            if target == "land":
                request = (
                    f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'.encode()
                    + payload.split(b"?>", 1)[-1]
                    + b"</soap:Body></soap:Envelope>"
                )
                status, response = self.post(
                    target,
                    "/soap",
                    request,
                    {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"TiepNhanHoSo"'},
                )
                reply = etree.fromstring(response, self.parser)
                ok = reply.find(f"{{{SOAP_NS}}}Body")[0][1].text == "DA_TIEP_NHAN"  # type: ignore[index]
            else:
                status, response = self.post(
                    target,
                    "/portal",
                    payload,
                    {"Content-Type": "application/json", "Authorization": self.token},
                )
                ok = json.loads(response)["error_code"] == "0"
            with self.lock:
                self.pending.append((delivery_id, target, "delivered" if ok else "failed", status, response))
        self.spend(CALLS, time.thread_time() - t0)

    def post(self, target: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = self.connections.get(target)
        if conn is None:
            conn = self.connections[target] = http.client.HTTPConnection(
                "127.0.0.1", self.sink_port, timeout=30
            )
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        return response.status, response.read()


# ---------------------------------------------------------------- a run


def _thread_cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


Request = tuple[bytes, dict[str, str]]


def requests(prefix: str, count: int) -> list[Request]:
    """The land dossiers as the one-stop system sends them to the hub: raw XML, ``X-Hub-*`` headers."""
    from lienthong.devtools.samples import sample_dossiers

    return [
        (
            sample.xml,
            {
                "Content-Type": "application/xml",
                "X-Hub-Sender-Message-Id": f"{prefix}-{sample.dossier_code}",
                "X-Hub-Kind": "dossier",
                "X-Hub-Sender": PROVINCE,
                "X-Hub-Procedure-Code": sample.procedure_code,
                "X-Hub-Dossier-Code": sample.dossier_code,
            },
        )
        for sample in sample_dossiers(count, agency=PROVINCE)
    ]


def post_all(port: int, bodies: Sequence[Request], clients: int) -> list[int]:
    """Every body posted once, spread over ``clients`` threads with a kept connection each: the statuses."""
    pending = iter(bodies)
    lock = threading.Lock()
    statuses: list[int] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while True:
                with lock:
                    request = next(pending, None)
                if request is None:
                    return
                conn.request("POST", "/api/v1/messages", request[0], request[1])
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _client_main(
    conn: Connection, port: int, warmup: list[Request], measured: list[Request], clients: int
) -> None:
    """Child process: the warm-up batch, then on "go" the measured one; the statuses of each."""
    conn.send(post_all(port, warmup, clients))
    conn.recv()
    conn.send(post_all(port, measured, clients))


def _thread_cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[Path | str]:
    """A fresh SQLite file under ``workdir``, or a PostgreSQL schema of its own (dropped afterwards)
    at ``HUB_BENCH_PG_URL`` as ``bench/e2e.py`` finds it."""
    if backend == "sqlite":
        yield workdir / "bare.db"
        return
    import psycopg

    base = PG_BASE_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"bare_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run_once(
    backend: str,
    work: FloorWork | None,
    sink_port: int,
    messages: int,
    clients: int,
    warmup: int,
    *,
    threaded: bool = False,
) -> dict[str, float]:
    """The service's CPU per dossier (ms), every thread of it, in all (``total``) and by stage."""
    from lienthong.devtools.background import BackgroundServer

    with (
        tempfile.TemporaryDirectory(prefix="bare-", dir=ROOT / "var") as tmp,
        database(backend, Path(tmp)) as db,
    ):
        service = BareService(db, sink_port, work, threaded=threaded)
        server = BackgroundServer(service, loop="uvloop", http="httptools").start()
        ctx = mp.get_context("spawn")
        here, there = ctx.Pipe()
        run = uuid.uuid4().hex[:8]
        batches = requests(f"warm-{run}", warmup), requests(f"bare-{run}", messages)
        loader = ctx.Process(target=_client_main, args=(there, server.port, *batches, clients), daemon=True)
        loader.start()
        try:
            statuses = here.recv()  # the warm-up's
            service_thread = server._thread  # the thread uvicorn runs in: every bit of the service's work
            threads = [service_thread, *([service.delivery_thread] if threaded else [])]
            cpu0 = sum(map(_thread_cpu, threads))
            service.spent.clear()
            here.send("go")
            statuses += here.recv()
            while service.threaded and not service.jobs.empty():
                time.sleep(0.01)  # the last calls are still being made
            time.sleep(0.05)
            cpu = sum(map(_thread_cpu, threads)) - cpu0
        finally:
            loader.join(30)
            server.stop()
            service.stop()
    if refused := [s for s in statuses if s != 202]:
        raise RuntimeError(f"{len(refused)} of {len(statuses)} refused: {sorted(set(refused))}")
    split = {stage: 1000 * service.spent.get(stage, 0.0) / messages for stage in STAGES[:-1]}
    split[REST] = 1000 * cpu / messages - sum(split.values())
    return {"total": 1000 * cpu / messages, **split}


#: The runs of a round, each against the floor measured just before them.
KINDS = ("bare I/O alone", "bare path (with the floor's work)", "bare path, one delivery thread")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from lienthong.devtools.samples import sample_dossiers
    from lienthong.trust.keys import create_dev_ca

    signing = create_dev_ca(Path(tempfile.mkdtemp(prefix="bare-keys-")), PROVINCE, {}).key_references()[0]
    work = FloorWork(ROOT, key_file=signing.key_file, certificate_file=signing.certificate_file)
    documents = [sample.xml for sample in sample_dossiers(min(args.messages, 200), agency=PROVINCE)]
    (ROOT / "var").mkdir(exist_ok=True)
    backends = args.backends.split(",")
    floors: list[float] = []
    runs: dict[str, list[dict[str, float]]] = {f"{b}: {k}": [] for b in backends for k in KINDS}
    console = Console()
    with sink_process() as port:
        for number in range(1, args.rounds + 1):
            floors.append(measure_floor(work, documents).ms_per_message)
            for backend in backends:
                once = partial(
                    run_once, backend, sink_port=port, messages=args.messages, clients=args.clients
                )
                for kind, result in zip(
                    KINDS,
                    (
                        once(None, warmup=args.warmup),
                        once(work, warmup=args.warmup),
                        once(work, warmup=args.warmup, threaded=True),
                    ),
                    strict=True,
                ):
                    result["ratio"] = result["total"] / floors[-1]
                    runs[f"{backend}: {kind}"].append(result)
            console.print(
                f"round {number}: floor {floors[-1]:.3f} ms; "
                + "; ".join(
                    f"{name} {r[-1]['total']:.3f} ms ({r[-1]['ratio']:.2f} ×)" for name, r in runs.items()
                )
            )
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    floor = statistics.median(floors)
    table = Table(
        title=f"The bare path: CPU ms per dossier, medians of {args.rounds} rounds; floor {floor:.3f} ms"
    )
    table.add_column("run")
    for short in (*SHORT, "total", "× floor"):
        table.add_column(short, justify="right")
    for name, m in medians.items():
        table.add_row(name, *(f"{m[stage]:.3f}" for stage in (*STAGES, "total")), f"{m['ratio']:.2f}")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"floors_ms": floors, "runs": runs, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
