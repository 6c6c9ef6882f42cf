"""``Store.counts`` (what ``/healthz`` and the metrics gauges read) stays cheap whatever the backlog.

Not a timing: the plans. Each of the three statements (lienthong/store/_sqlstate.py) must be answered
from indexes, never by reading every row of a table or sorting: a million queued deliveries once made
``/healthz`` take 32 s (docs/benchmarks.md, the backlog benchmark).

* SQLite (``EXPLAIN QUERY PLAN``): a ``SCAN`` only over a covering index, no temporary B-tree; the
  unroutable count searches (``SEARCH``) and scans nothing. Checked on a fresh database (no
  statistics, as the hub runs) and after ``ANALYZE``.
* PostgreSQL (``EXPLAIN``): the planner picks by cost, and on a test's tiny tables a sequential scan
  is cheapest; so the plan is asked for with sequential scans, sorts, hashing and merge joins
  disabled, which proves the indexes can answer each statement the way a large table makes the
  planner want: an index-only scan, in the index's order, and probes for the unroutable ones.

And a count does not wait for a writer: it reads a snapshot while a write transaction is open.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from lienthong.envelope import MessageKind, new_envelope
from lienthong.store import DeliveryState, PreparedDelivery, RouteDecision, RouteStatus, StateCounts
from lienthong.store._sqlstate import STATEMENTS
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, create_store_engine

SQL_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=SQL_BACKENDS)
def sql_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    yield store
    store.close()


def _fill(store: SqlStore, count: int) -> None:
    """A few messages, some routed to two targets, some unroutable, one rerouted."""
    for i in range(count):
        envelope = new_envelope(
            kind=MessageKind.DOSSIER,
            sender="motcua-binhduong",
            sender_message_id=f"plan-{i}",
            payload=b"<HoSo/>",
            content_type="application/xml",
        )
        if i % 5 == 0:
            route = RouteDecision(RouteStatus.UNROUTABLE, None, (), "no rule")
            store.accept(envelope, route, [])
            if i % 10 == 0:
                routed = RouteDecision(RouteStatus.ROUTED, "fixed", ("thue",), "fixed")
                store.reroute(
                    envelope.message_id, routed, [PreparedDelivery("thue", b"<x/>", "application/xml")]
                )
        else:
            route = RouteDecision(RouteStatus.ROUTED, "rule", ("vpdk", "thue"), "rule")
            deliveries = [PreparedDelivery(t, b"<x/>", "application/xml") for t in ("vpdk", "thue")]
            store.accept(envelope, route, deliveries)


def _sqlite_plan(conn: Connection, name: str) -> list[str]:
    compiled = STATEMENTS[name].compile(conn, compile_kwargs={"literal_binds": True})
    return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]


def _postgres_plan(conn: Connection, name: str) -> str:
    for setting in ("seqscan", "bitmapscan", "sort", "hashagg", "hashjoin", "mergejoin", "material"):
        conn.exec_driver_sql(f"SET LOCAL enable_{setting} = off")
    compiled = STATEMENTS[name].compile(conn, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))


def _check_sqlite(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        for name in STATEMENTS:
            plan = _sqlite_plan(conn, name)
            assert not any("TEMP B-TREE" in step for step in plan), (name, plan)
            scans = [step for step in plan if step.startswith("SCAN")]
            assert all("USING COVERING INDEX" in step for step in scans), (name, plan)
        deliveries = _sqlite_plan(conn, "deliveries_by_state")
        assert deliveries == ["SCAN deliveries USING COVERING INDEX ix_deliveries_target_state"]
        unroutable = _sqlite_plan(conn, "unroutable_now")
        assert not any(step.startswith("SCAN") for step in unroutable), unroutable
        assert any("INDEX ix_route_decisions_status (status=?)" in step for step in unroutable), unroutable


def test_sqlite_counts_read_indexes_only(sqlite_url: str) -> None:
    engine = create_store_engine(sqlite_url)
    upgrade(engine)
    store = SqlStore(engine)
    try:
        _check_sqlite(store)  # no statistics: how the hub runs
        _fill(store, 40)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        _check_sqlite(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_counts_can_be_read_from_indexes_only(pg_url: str) -> None:
    engine = create_store_engine(pg_url)
    upgrade(engine)
    store = SqlStore(engine)
    try:
        _fill(store, 40)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        with engine.begin() as conn:
            plans = {name: _postgres_plan(conn, name) for name in STATEMENTS}
        for name, plan in plans.items():
            assert "Seq Scan" not in plan and "Sort" not in plan, (name, plan)
            assert "disabled" not in plan.lower(), (name, plan)  # PostgreSQL 18 marks forced nodes
        assert "Index Only Scan using ix_deliveries_target_state" in plans["deliveries_by_state"]
        assert "Index Only Scan" in plans["messages_total"]
        unroutable = plans["unroutable_now"]
        assert "Anti Join" in unroutable, unroutable
        assert "ix_route_decisions_status" in unroutable and "ix_route_decisions_message_id" in unroutable
        assert "Index Cond: ((status)::text = 'unroutable'::text)" in unroutable, unroutable
    finally:
        store.close()


def test_counts_agree_with_the_rows(sql_store: SqlStore) -> None:
    _fill(sql_store, 20)
    counts = sql_store.counts()
    # 20 messages: 16 routed to vpdk and thue, 4 unroutable of which 2 rerouted to thue.
    assert counts == StateCounts(
        by_target={"thue": {DeliveryState.QUEUED: 18}, "vpdk": {DeliveryState.QUEUED: 16}},
        unroutable=2,
        messages=20,
    )


def test_a_count_does_not_wait_for_a_writer(sql_store: SqlStore, request: pytest.FixtureRequest) -> None:
    """A write transaction is open (another process's on SQLite, holding the database's single
    writer; this process's writer lock held too): the count answers, from the last commit."""
    _fill(sql_store, 5)
    before = sql_store.counts()
    url = sql_store.engine.url
    answers: list[StateCounts] = []
    if sql_store.engine.dialect.name == "sqlite":
        other = sqlite3.connect(str(url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO messages (id, kind, sender, sender_message_id, correlation_id, content_type, "
            "payload_sha256, headers, received_at, fingerprint) "
            f"VALUES ('{uuid.uuid4().hex}', 'dossier', 's', 'w', '{uuid.uuid4().hex}', 'x', 'x', '{{}}', "
            "'2026-01-01 00:00:00.000000', 'x')"
        )
        writer = sql_store._writer  # this process's queue for the writer's place, held as a write would
        with writer:
            reader = threading.Thread(target=lambda: answers.append(sql_store.counts()))
            reader.start()
            reader.join(120)  # a safety net, not a timing: a count that waited would never return
        other.execute("ROLLBACK")
        other.close()
    else:
        with sql_store.engine.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE deliveries IN ROW EXCLUSIVE MODE")  # as claims and outcomes do
            conn.exec_driver_sql("UPDATE deliveries SET attempts = attempts + 1")
            answers.append(sql_store.counts())
            conn.rollback()
    assert answers == [before]
