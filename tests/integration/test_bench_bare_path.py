"""The bare path (bench/bare_path.py) does the I/O it is measured for: nothing is timed here.

Its CPU per dossier is what issue 11's bound is read against in docs/benchmarks.md: a bare path that
skipped a write or a call would make the hub look worse than it is. Each dossier posted must leave its
message, two deliveries recorded as delivered with their attempts, a hash-chained audit row for the
message and each attempt, and one request at each sink, over real loopback HTTP, with and without the
delivery thread.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lienthong.devtools.background import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]


def _bare_path() -> Any:
    if "bench_bare_path" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_bare_path", ROOT / "bench" / "bare_path.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_bare_path"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_bare_path"]


@pytest.mark.parametrize("threaded", [False, True], ids=["one thread", "a delivery thread"])
@pytest.mark.parametrize("floor", [False, True], ids=["I/O alone", "with the floor's work"])
def test_every_dossier_is_stored_delivered_recorded_and_audited(
    tmp_path: Path, threaded: bool, floor: bool
) -> None:
    bodies = _run(tmp_path / "bare.db", threaded=threaded, floor=floor)
    db = sqlite3.connect(tmp_path / "bare.db")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    _check_rows(bodies, db.execute)
    db.close()


def test_on_postgresql_too(pg_url: str) -> None:
    uri = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)  # libpq's, schema in its options
    bodies = _run(uri, threaded=True, floor=True)
    with psycopg.connect(uri) as db:
        _check_rows(bodies, db.execute)


def _run(database: Path | str, *, threaded: bool, floor: bool) -> list[Any]:
    """Nine dossiers posted to the bare service over loopback, its calls made to the sinks; what was
    posted. The sinks were sent one SOAP request and one portal JSON per dossier."""
    bare = _bare_path()
    bare.SINK_CALLS.clear()
    work = bare.FloorWork(ROOT, key_file=None, certificate_file=None) if floor else None
    bodies: list[Any] = bare.requests("t", 9)
    with BackgroundServer(bare._sink_app, loop="asyncio") as sink:
        service = bare.BareService(database, sink.port, work, threaded=threaded)
        server = BackgroundServer(service, loop="asyncio").start()
        try:
            statuses = bare.post_all(server.port, bodies, 3)
        finally:
            server.stop()
            service.stop()  # the last calls made, their outcomes written
    assert statuses == [202] * 9
    assert {path: count for path, (count, _) in bare.SINK_CALLS.items()} == {"/soap": 9, "/portal": 9}
    soap_request = bare.SINK_CALLS["/soap"][1]
    assert soap_request.startswith(b"<soap:Envelope") and b"<soap:Body>" in soap_request
    if floor:  # the land registry got the translation, the portal the mapped JSON
        assert b"TiepNhanHoSo" in soap_request
        assert json.loads(bare.SINK_CALLS["/portal"][1])["data"][0]["MaHoSo"].startswith("000.00.00.H49-")
    return bodies


def _check_rows(bodies: list[Any], execute: Any) -> None:
    """Every dossier stored, both deliveries delivered with an attempt each, the audit chain whole."""
    sent = sorted(headers["X-Hub-Sender-Message-Id"] for _, headers in bodies)
    assert [r[0] for r in execute("SELECT sender_message_id FROM messages ORDER BY 1")] == sent
    states = execute("SELECT target, state, count(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert states == [("dvcqg", "delivered", 9), ("land", "delivered", 9)]
    attempts = execute("SELECT count(*), min(response_status) FROM attempts WHERE outcome = 'delivered'")
    assert tuple(attempts.fetchone()) == (18, 200)
    chain = b"\0" * 32
    rows = execute("SELECT source, body, hash FROM audit ORDER BY leaf").fetchall()
    for _source, body, stored in rows:
        chain = hashlib.sha256(chain + body.encode()).digest()
        assert bytes(stored) == chain
    assert sorted({source for source, _, _ in rows}) == ["attempts", "messages"]
    assert len(rows) == 9 + 18
