"""The accept's rows, built as tuples and sent as driver SQL (sql._insert_accepts), are what Core stores.

A batch of varied messages (optional fields empty or set, a sender's time not in UTC, headers in
Vietnamese, a document link, one target, two, none) is written the hub's way in one transaction and
in another the way of the store's own Core path (record_exchange's message, reroute's route and
deliveries: a statement a row, a delivery's payload under the id Core gave it), each rolled back
after the tables are read back raw, as the driver gives them: every stored value must be equal.
Generated ids (a route's, a delivery's) are left out; a delivery payload is known by its
delivery's message and target.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from test_store_contract import SQL_BACKENDS, XML, _sql_store

from lienthong.envelope import Envelope, MessageKind, new_envelope, utcnow
from lienthong.store import Claim, ClaimOffer, PreparedDelivery, RouteDecision, RouteStatus, sql
from lienthong.store._sqlfast import numbered
from lienthong.store.sql import SqlStore

NOW = utcnow()


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    opened = _sql_store(request, request.param)  # the contract suite's store, on each backend
    yield opened
    opened.close()
    opened.engine.dispose()


def _envelope(n: int, **fields: Any) -> Envelope:
    base: dict[str, Any] = {
        "kind": MessageKind.DOSSIER,
        "sender": "motcua-dongnai",
        "sender_message_id": f"ho-so-{n}-{uuid.uuid4().hex[:6]}",
        "payload": f"<HoSo><MaHoSo>H19-{n}</MaHoSo><Ten>Nguyễn Văn Ấn</Ten></HoSo>".encode(),
        "content_type": XML,
        "procedure_code": "1.004227",
        "dossier_code": f"000.00.01.H19-260301-{n:04d}",
    }
    return new_envelope(**{**base, **fields})


def _batch() -> list[sql._Accept]:
    local = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7)))
    edoc = {
        "edxml.message_type": "edoc",
        "edxml.document_id": "000.00.00.G22,2026/03/01,12345",
        "edxml.from": "Sở Tài nguyên và Môi trường",
    }
    items: list[tuple[Envelope, RouteDecision, list[PreparedDelivery]]] = [
        (
            _envelope(1),
            RouteDecision(RouteStatus.ROUTED, "land-transfer", ("land", "dvcqg"), "matched 'land-transfer'"),
            [
                PreparedDelivery("land", b"<GoiTin dich='land'/>", XML, "TiepNhanHoSo"),
                PreparedDelivery("dvcqg", b'{"ma": "H19-1"}', "application/json", None),
            ],
        ),
        (
            _envelope(
                2,
                kind=MessageKind.DOCUMENT,
                recipient="vpdk-dongnai",
                procedure_code=None,
                dossier_code=None,
                document_id="000.00.00.G22,2026/03/01,12345",
                document_type="edoc",
                headers=edoc,
                created_at=local,
                causation_id=uuid.uuid4(),
            ),
            RouteDecision(RouteStatus.ROUTED, None, ("qlvb",), "to its recipient"),
            [PreparedDelivery("qlvb", b"<edXML/>", XML)],
        ),
        (
            _envelope(3, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), headers={"a": "1", "b": "ư"}),
            RouteDecision(RouteStatus.UNROUTABLE, None, (), "no rule matches procedure 9.999999"),
            [],
        ),
    ]
    return [sql._Accept(e, r, tuple(p), e.fingerprint()) for e, r, p in items]


def _by_core(store: SqlStore, conn: Connection, batch: Sequence[sql._Accept], now: datetime) -> None:
    """The same messages as the store's Core path writes them (record_exchange's message,
    reroute's route and deliveries): a statement a row, from mappings of Python values."""
    for a in batch:
        sql._insert_message(conn, a.envelope, a.fingerprint, now)
        store._insert_route(conn, a.envelope.message_id, a.route, a.prepared, now)


_TABLES = {
    "messages": "SELECT * FROM messages ORDER BY sender_message_id",
    "message_payloads": "SELECT * FROM message_payloads ORDER BY message_id",
    "document_links": "SELECT * FROM document_links ORDER BY message_id, document_id, role",
    "idempotency_keys": "SELECT * FROM idempotency_keys ORDER BY sender_message_id",
    "route_decisions": "SELECT message_id, decided_at, status, rule, targets, reason FROM route_decisions"
    " ORDER BY message_id",
    "deliveries": "SELECT message_id, target, operation, state, attempts, round_attempts, round_started_at,"
    " next_attempt_at, claimed_by, lease_until, last_error, content_type, response, response_status,"
    " created_at, updated_at, delivered_at FROM deliveries ORDER BY message_id, target",
    "delivery_payloads": "SELECT d.message_id, d.target, p.payload FROM delivery_payloads p"
    " JOIN deliveries d ON d.id = p.delivery_id ORDER BY d.message_id, d.target",
}


def _stored(engine: Engine, write: Callable[[Connection], object]) -> dict[str, list[tuple[Any, ...]]]:
    """What ``write`` stores, table by table, raw as the driver reads it; then rolled back."""
    with engine.connect() as conn:
        conn.begin()
        write(conn)
        stored = {
            name: [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.exec_driver_sql(q)
            ]
            for name, q in _TABLES.items()
        }
        conn.rollback()
    return stored


def test_the_accepts_rows_are_cores_value_for_value(store: SqlStore) -> None:
    engine, batch = store.engine, _batch()
    hub = _stored(engine, lambda conn: sql._insert_accepts(conn, batch, NOW))
    core = _stored(engine, lambda conn: _by_core(store, conn, batch, NOW))
    assert {name: len(rows) for name, rows in hub.items()} == {
        "messages": 3,
        "message_payloads": 3,
        "document_links": 1,
        "idempotency_keys": 3,
        "route_decisions": 3,
        "deliveries": 3,
        "delivery_payloads": 3,
    }
    for name in _TABLES:
        assert hub[name] == core[name], name


def test_one_message_alone_is_cores_too(store: SqlStore) -> None:
    """A batch of one: single-row statements (no executemany, no multi-row VALUES but deliveries')."""
    engine, batch = store.engine, _batch()[:1]
    hub = _stored(engine, lambda conn: sql._insert_accepts(conn, batch, NOW))
    core = _stored(engine, lambda conn: _by_core(store, conn, batch, NOW))
    assert len(hub["delivery_payloads"]) == 2
    assert hub == core


def test_a_batch_without_deliveries_is_cores_too(store: SqlStore) -> None:
    """Only unroutable messages: on PostgreSQL the last table's INSERT is the statement itself."""
    engine, batch = store.engine, [_batch()[2]]
    hub = _stored(engine, lambda conn: sql._insert_accepts(conn, batch, NOW))
    core = _stored(engine, lambda conn: _by_core(store, conn, batch, NOW))
    assert len(hub["messages"]) == 1 and not hub["deliveries"]
    assert hub == core


@pytest.mark.parametrize("size", [1, 3])
def test_the_statement_sent_through_sqlalchemy_stores_the_same(
    store: SqlStore, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the accept's one PostgreSQL statement cannot go to a RawCursor (``echo``, an older
    psycopg), its ``%s`` form goes through SQLAlchemy: the same rows."""
    engine, batch = store.engine, _batch()[:size]
    numbered = _stored(engine, lambda conn: sql._insert_accepts(conn, batch, NOW))
    monkeypatch.setattr(sql, "send_numbered", lambda *_args, **_kwargs: None)
    percent = _stored(engine, lambda conn: sql._insert_accepts(conn, batch, NOW))
    core = _stored(engine, lambda conn: _by_core(store, conn, batch, NOW))
    assert numbered == percent == core


def test_the_numbered_statement_has_a_number_for_each_parameter(store: SqlStore) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's one statement")
    shape = (
        (sql._INSERT_MESSAGES, 2),
        (sql._INSERT_SMALL_MESSAGE_PAYLOADS, 2),
        (sql._INSERT_DOCUMENT_LINKS, 1),
        (sql._INSERT_IDEMPOTENCY_KEYS, 2),
        (sql._INSERT_ROUTE_DECISIONS, 2),
        (sql._INSERT_DELIVERIES, 3),
        (sql._INSERT_ATTEMPTS, 2),
    )
    percent, dollars = sql._accept_sql(store.engine.dialect, shape)
    count = percent.count("%s")
    # each row's columns, each delivery's payload row (3), each claimed delivery's attempt row (5)
    assert count == 2 * (17 + 2 + 5 + 6) + 3 + 3 * (13 + 3) + 2 * 5
    assert "%s" not in dollars and f"${count}" in dollars and f"${count + 1}" not in dollars
    assert dollars == numbered(percent)


def test_deliveries_claimed_at_accept_are_stored_the_same_either_way(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose offers claim some deliveries (their first attempts written in the accept's one
    statement on PostgreSQL): numbered on a RawCursor, or ``%s`` through SQLAlchemy, every row the
    same, attempts too; on SQLite the attempts' own INSERT (rows pinned against a claim round's by
    tests/integration/test_store_claim_at_accept.py)."""
    lease = timedelta(minutes=5)
    first, second = (
        ClaimOffer("w1", lease, 1, frozenset({"land"})),
        ClaimOffer("w2", lease, 2, frozenset({"qlvb"})),
    )
    batch = [replace(a, offer=o) for a, o in zip(_batch(), (first, second, None), strict=True)]
    attempts = "SELECT d.message_id, d.target, a.number, a.worker, a.started_at, a.finished_at, a.outcome"
    attempts += " FROM attempts a JOIN deliveries d ON d.id = a.delivery_id ORDER BY d.message_id, d.target"
    claims: list[list[tuple[Claim, ...]]] = []

    def write(conn: Connection) -> list[tuple[Any, ...]]:
        claims.append(sql._insert_accepts(conn, batch, NOW))
        return [tuple(row) for row in conn.exec_driver_sql(attempts)]

    def stored() -> tuple[dict[str, list[tuple[Any, ...]]], list[tuple[Any, ...]]]:
        written: list[list[tuple[Any, ...]]] = []
        rows = _stored(store.engine, lambda conn: written.append(write(conn)))
        return rows, written[0]

    numbered_rows, numbered_attempts = stored()
    monkeypatch.setattr(sql, "send_numbered", lambda *_args, **_kwargs: None)
    percent_rows, percent_attempts = stored()
    assert numbered_rows == percent_rows
    assert numbered_attempts == percent_attempts
    assert sorted((t, n, w) for _m, t, n, w, *_ in numbered_attempts) == [
        ("land", 1, "w1"),
        ("qlvb", 1, "w2"),
    ]
    assert [[c.target for c in per] for per in claims[0]] == [["land"], ["qlvb"], []]
    states = {(row[1], row[3], row[8]) for row in numbered_rows["deliveries"]}
    assert states == {("land", "in-flight", "w1"), ("dvcqg", "queued", None), ("qlvb", "in-flight", "w2")}
