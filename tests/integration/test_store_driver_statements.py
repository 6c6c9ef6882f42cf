"""The hot statements sent as driver SQL (_sqlfast.py) give the database exactly what Core would.

Each DriverStatement of the SQL store is run both ways on each backend with the same Python values,
and the SQL and parameters that reach the driver's cursor are caught (and the statement stopped there):
the parameters must be equal, value for value: a UUID in the same form, a datetime converted to UTC
the same way, JSON serialized the same. Other code and tests read these rows with Core. So for
several rows (an ``executemany``, each shared object converted once), and for SQLite's claim writes,
text statements sent as DriverQuery.execute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event
from test_store_contract import SQL_BACKENDS

from lienthong.envelope import utcnow
from lienthong.store import sql
from lienthong.store._sqlfast import DriverQuery, DriverStatement
from lienthong.store.migrate import upgrade
from lienthong.store.sql import create_store_engine

NOW = utcnow()
LOCAL = NOW.astimezone(timezone(timedelta(hours=7)))  # an aware datetime not in UTC: converted alike
MESSAGE_ID = uuid.uuid4()

ROWS: dict[str, dict[str, Any]] = {
    "_INSERT_MESSAGES": {
        "id": MESSAGE_ID,
        "kind": "dossier",
        "sender": "motcua-dongnai",
        "sender_message_id": "ho-so-1",
        "recipient": None,
        "procedure_code": "1.004227",
        "dossier_code": "000.00.01.H19-260301-0001",
        "document_id": None,
        "document_type": None,
        "correlation_id": uuid.uuid4(),
        "causation_id": None,
        "content_type": "application/xml",
        "payload_sha256": "0" * 64,
        "headers": {"edxml.from": "Sở Tài nguyên", "n": 1},
        "created_at": LOCAL,
        "received_at": NOW,
        "fingerprint": "f" * 64,
    },
    "_INSERT_SMALL_MESSAGE_PAYLOADS": {"message_id": MESSAGE_ID, "payload": b"<HoSo/>"},
    "_INSERT_DOCUMENT_LINKS": {"message_id": MESSAGE_ID, "document_id": "doc-1", "role": "self"},
    "_INSERT_IDEMPOTENCY_KEYS": {
        "sender": "motcua-dongnai",
        "sender_message_id": "ho-so-1",
        "fingerprint": "f" * 64,
        "message_id": MESSAGE_ID,
        "created_at": NOW,
    },
    "_INSERT_ROUTE_DECISIONS": {
        "message_id": MESSAGE_ID,
        "decided_at": LOCAL,
        "status": "routed",
        "rule": "land",
        "targets": ["land", "dvcqg"],
        "reason": "procedure matches",
    },
    "_INSERT_DELIVERIES": {
        "message_id": MESSAGE_ID,
        "target": "land",
        "operation": None,
        "state": "in-flight",  # as an accept stores a delivery it claims (ClaimOffer)
        "attempts": 1,
        "round_attempts": 1,
        "round_started_at": NOW,
        "next_attempt_at": NOW,
        "claimed_by": "w",
        "lease_until": LOCAL,
        "content_type": "application/xml",
        "created_at": NOW,
        "updated_at": LOCAL,
    },
    "_INSERT_DELIVERY_PAYLOADS": {"delivery_id": 7, "payload": b"<GoiTin/>"},
    "_INSERT_ATTEMPTS": {"delivery_id": 7, "number": 2, "worker": "w", "started_at": LOCAL},
    "_RECORD_DELIVERY": {
        "b_id": 7,
        "b_worker": "w",
        "b_attempt": 2,
        "b_state": "failed",
        "b_next": LOCAL,
        "b_error": "HTTP 503",
        "b_delivered": None,
        "b_response": b"<Loi/>",
        "b_status": 503,
        "b_now": NOW,
    },
    "_RECORD_ATTEMPT": {
        "b_id": 7,
        "b_attempt": 2,
        "b_now": NOW,
        "b_outcome": "retry",
        "b_attempt_error": "HTTP 503",
        "b_status": 503,
        "b_request": b"<Yeu/>",
        "b_response": b"<Loi/>",
    },
}


class _Caught(Exception):
    pass


@pytest.fixture(params=SQL_BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _sent(conn: Connection, run: Any) -> tuple[str, Any]:
    """The SQL and parameters ``run`` hands the driver's cursor (which is never called)."""
    caught: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        caught.append((statement, parameters))
        raise _Caught

    event.listen(conn, "before_cursor_execute", catch)
    try:
        run()
    except Exception as error:
        assert caught, error
    finally:
        event.remove(conn, "before_cursor_execute", catch)
    return caught[0]


def test_every_driver_statement_is_in_this_test() -> None:
    statements = {name for name, value in vars(sql).items() if isinstance(value, DriverStatement)}
    assert statements == set(ROWS)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_a_driver_statement_sends_what_core_sends(engine: Engine, name: str) -> None:
    statement: DriverStatement = getattr(sql, name)
    row = ROWS[name]
    with engine.connect() as conn:
        conn.begin()  # SQLite's BEGIN IMMEDIATE first, before the statements are caught
        core_sql, core = _sent(conn, lambda: conn.execute(statement.statement, row))
        fast_sql, fast = _sent(conn, lambda: statement.execute(conn, [row]))
        conn.rollback()
    names = statement._for(engine.dialect).names
    if isinstance(core, dict):  # pyformat: Core names them, the driver statement has them in order
        core = tuple(core[n] for n in names)
    assert _plain(fast) == _plain(core), (core_sql, fast_sql)


def _plain(values: Any) -> tuple[Any, ...]:
    """psycopg wraps bytes in a Binary, which does not compare by content: its ``obj`` does."""
    return tuple((type(v).__name__, getattr(v, "obj", v)) for v in values)


@pytest.mark.parametrize("name", ["_RECORD_DELIVERY", "_RECORD_ATTEMPT"])
def test_several_rows_send_what_core_sends(engine: Engine, name: str) -> None:
    """An outcome batch's ``executemany``: rows sharing their ``now`` (the very object, converted
    once) and rows with values of their own, each as Core's ``executemany`` gives it."""
    statement: DriverStatement = getattr(sql, name)
    first = ROWS[name]
    rows = [first, {**first, "b_id": 8, "b_response": None, "b_now": LOCAL}, {**first, "b_id": 9}]
    with engine.connect() as conn:
        conn.begin()
        _, core = _sent(conn, lambda: conn.execute(statement.statement, rows))
        _, fast = _sent(conn, lambda: statement.execute(conn, rows))
        conn.rollback()
    names = statement._for(engine.dialect).names
    core = [tuple(r[n] for n in names) if isinstance(r, dict) else r for r in core]
    assert [_plain(r) for r in fast] == [_plain(r) for r in core]


@pytest.mark.parametrize("shape", [0, 1])
def test_sqlites_claim_writes_send_what_core_sends(engine: Engine, shape: int) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL claims in one statement (_sqlclaim.py)")
    query: DriverQuery = (sql._CLAIM, sql._START_ATTEMPTS)[shape]
    params = {"b_ids": [9, 7, 8], "b_now": LOCAL, "b_worker": "w", "b_lease_until": NOW}
    with engine.connect() as conn:
        conn.begin()
        core_sql, core = _sent(conn, lambda: conn.execute(query.statement, params))
        fast_sql, fast = _sent(conn, lambda: query.execute(conn, params))
        conn.rollback()
    assert fast_sql == core_sql
    assert _plain(fast) == _plain(core)
