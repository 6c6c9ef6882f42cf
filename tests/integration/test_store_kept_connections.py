"""The store's kept connections (hub/store/_sqlkeep.py): a transaction no longer checks a connection out
of the pool, and nothing the pool gave by doing so is lost.

What is held here: on SQLite, the one kept connection still begins each write with ``BEGIN IMMEDIATE``
under ``synchronous=FULL`` in WAL, and holds no lock between transactions (another process writes in
between); a transaction that failed half-way leaves nothing behind; ``close`` does not wait for a running
transaction. On PostgreSQL, a kept connection is idle (not "idle in transaction") between
transactions, one whose backend was terminated is replaced before it is used, and a disconnect found
only by a statement drops every kept connection, so the retry connects afresh.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event, text
from test_store_contract import make_envelope, prepared, routed

from lienthong.store import Delivered, DeliveryState
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, _drop_dead_connections, create_store_engine

LEASE = timedelta(minutes=5)


def _open(url: str) -> SqlStore:
    engine = create_store_engine(url)
    upgrade(engine)
    return SqlStore(engine)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[SqlStore]:
    store = _open(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    store = _open(pg_url)
    yield store
    store.close()


def _driver(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def _wait(condition: Any, what: str) -> None:
    """Wait for ``condition()`` (a state of the server, not a duration): fail after 30 s."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"waited 30 s for {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------- SQLite


def test_sqlite_writes_share_one_connection_each_begun_immediate_and_durable(sqlite_store: SqlStore) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(sqlite_store.engine, "before_cursor_execute", seen)
    try:
        drivers = [sqlite_store._run("probe", _driver) for _ in range(3)]
        sqlite_store.accept(make_envelope(), routed("land"), prepared("land"))
        (claim,) = sqlite_store.claim_due("w1", 5, LEASE)
        sqlite_store.record_outcome(claim, Delivered(b"<ok/>", 200))
        drivers.append(sqlite_store._run("probe", _driver))
    finally:
        event.remove(sqlite_store.engine, "before_cursor_execute", seen)
    assert all(d is drivers[0] for d in drivers), "one connection kept for every write"
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE"] * 7, statements  # 4 probes, accept, claim, outcome
    pragmas = sqlite_store._run(
        "pragmas",
        lambda conn: (
            conn.exec_driver_sql("PRAGMA synchronous").scalar(),
            conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
            conn.exec_driver_sql("PRAGMA foreign_keys").scalar(),
        ),
    )
    assert pragmas == (2, "wal", 1)  # 2: FULL
    assert not drivers[0].in_transaction


def test_sqlite_kept_connection_holds_no_lock_between_transactions(
    sqlite_url: str, sqlite_store: SqlStore
) -> None:
    """Another process on the same file (here a bare connection that will not wait) writes between two of
    the store's transactions, and so does a second hub's store."""
    sqlite_store.accept(make_envelope(), routed("land"), prepared("land"))
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" at once if the kept connection held it
        other.execute("COMMIT")
    finally:
        other.close()
    second = _open(sqlite_url)
    try:
        second.accept(make_envelope(), routed("land"), prepared("land"))
        claims = sqlite_store.claim_due("w1", 5, LEASE)
        assert len(claims) == 2
        assert second.claim_due("w2", 5, LEASE) == []
        for claim in claims:
            second.record_outcome(claim, Delivered(b"<ok/>", 200))
    finally:
        second.close()
    assert sqlite_store.counts().by_target["land"].get(DeliveryState.DELIVERED) == 2


def test_a_transaction_that_failed_half_way_leaves_nothing_and_the_next_one_works(
    sqlite_store: SqlStore,
) -> None:
    envelope = make_envelope()

    def insert_then_fail(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_way (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO half_way (x) VALUES (1)")
        raise ValueError("the work failed after writing")

    with pytest.raises(ValueError, match="after writing"):
        sqlite_store._run("half-way", insert_then_fail)
    tables = sqlite_store._run(
        "tables",
        lambda conn: conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'half_way'").all(),
    )
    assert tables == []  # rolled back, table and row
    assert sqlite_store.accept(envelope, routed("land"), prepared("land")).created
    again = sqlite_store.accept(envelope, routed("land"), prepared("land"))  # a repeat: the first's answer
    assert not again.created and again.message_id == envelope.message_id
    assert not sqlite_store._run("probe", _driver).in_transaction


def test_every_transaction_runs_the_pools_checkout_listeners(sqlite_store: SqlStore) -> None:
    """Listeners that act on each use of a connection (the hub's dead-connection check on PostgreSQL,
    a test's simulated full disk) still see every transaction on a kept connection."""
    calls: list[Any] = []

    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        calls.append(dbapi_conn)

    event.listen(sqlite_store.engine, "checkout", checkout)
    try:
        for _ in range(3):
            sqlite_store._run("probe", _driver)
    finally:
        event.remove(sqlite_store.engine, "checkout", checkout)
    assert len(calls) == 3


def test_close_does_not_wait_for_a_running_transaction_and_the_store_works_after(
    sqlite_store: SqlStore,
) -> None:
    inside, leave = threading.Event(), threading.Event()
    done: list[object] = []

    def long_write(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE during_close (x INTEGER)")
        inside.set()
        assert leave.wait(30)

    def run() -> None:
        sqlite_store._run("long", long_write)
        done.append(True)

    sqlite_store._run("probe", _driver)  # one connection kept
    thread = threading.Thread(target=run)
    thread.start()
    assert inside.wait(30)
    sqlite_store.close()  # returns while the writer is inside its transaction
    leave.set()
    thread.join(30)
    assert done == [True]  # the transaction ended as it would have
    assert sqlite_store._kept._idle == []  # its connection was not kept after close
    assert sqlite_store.accept(make_envelope(), routed("land"), prepared("land")).created


# ---------------------------------------------------------------------- PostgreSQL


def _pid(conn: Connection) -> int:
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    assert isinstance(pid, int)
    return pid


def _terminate(pg_url: str, pids: list[int]) -> None:
    admin = create_engine(pg_url)
    try:
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(:p) AS pid"), {"p": pids})

        def gone() -> bool:
            with admin.connect() as conn:
                rows = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"), {"p": pids}
                )
                return bool(rows.scalar_one() == 0)

        _wait(gone, f"backends {pids} to exit")
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_postgres_kept_connection_is_idle_between_transactions(pg_url: str, pg_store: SqlStore) -> None:
    pg_store.accept(make_envelope(), routed("land"), prepared("land"))
    (claim,) = pg_store.claim_due("w1", 5, LEASE)
    pid = pg_store._run("pid", _pid)
    admin = create_engine(pg_url)
    try:
        with admin.connect() as conn:
            state = conn.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :p"), {"p": pid})
            assert state.scalar_one() == "idle"
            locks = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE pid = :p AND locktype <> 'virtualxid'"), {"p": pid}
            )
            assert locks.scalar_one() == 0
    finally:
        admin.dispose()
    pg_store.record_outcome(claim, Delivered(b"<ok/>", 200))
    assert pg_store._run("pid", _pid) == pid  # the same connection, kept


@pytest.mark.postgres
def test_a_terminated_backend_under_a_kept_connection_is_replaced_before_use(
    pg_url: str, pg_store: SqlStore
) -> None:
    envelope = make_envelope()
    pg_store.accept(envelope, routed("land"), prepared("land"))
    pid = pg_store._run("pid", _pid)
    _terminate(pg_url, [pid])
    # _tx has no second try: the check before use (the pool's checkout listener) must find it.
    record = pg_store.get_message(envelope.message_id)
    assert record.envelope.message_id == envelope.message_id
    (claim,) = pg_store.claim_due("w1", 5, LEASE)
    pg_store.record_outcome(claim, Delivered(b"<ok/>", 200))
    assert pg_store._run("pid", _pid) != pid


@pytest.mark.postgres
def test_a_drop_found_only_by_a_statement_drops_every_kept_connection(
    pg_url: str, pg_store: SqlStore
) -> None:
    """Without the check before use (a drop it cannot see: a silent network), the first statement fails;
    the connection is invalidated, every kept one is dropped with it, and the second try connects afresh
    instead of taking the next dead kept connection."""
    inside, leave = threading.Event(), threading.Event()

    def hold(conn: Connection) -> int:
        inside.set()
        assert leave.wait(30)
        return _pid(conn)

    held: list[int] = []
    thread = threading.Thread(target=lambda: held.append(pg_store._run("hold", hold)))
    thread.start()
    assert inside.wait(30)
    other = pg_store._run("pid", _pid)  # a second connection, while the first is in use
    leave.set()
    thread.join(30)
    assert len(pg_store._kept._idle) == 2 and other not in held
    _terminate(pg_url, [*held, other])
    event.remove(pg_store.engine, "checkout", _drop_dead_connections)
    try:
        envelope = make_envelope()
        assert pg_store.accept(envelope, routed("land"), prepared("land")).created
        assert pg_store._run("pid", _pid) not in (*held, other)
    finally:
        event.listen(pg_store.engine, "checkout", _drop_dead_connections)
    (claim,) = pg_store.claim_due("w1", 5, LEASE)
    assert claim.envelope.message_id == envelope.message_id


@pytest.mark.postgres
def test_a_store_dropped_without_close_gives_its_kept_connection_back(pg_url: str) -> None:
    """A script or a test that forgets ``close()`` and disposes the engine must not leave a driver
    connection open to the garbage collector (psycopg warns, and the server keeps a backend)."""
    import gc
    import sys

    unraisable: list[object] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda hook_args: unraisable.append(hook_args.exc_value)
    try:
        store = _open(pg_url)
        pid = store._run("pid", _pid)
        store.engine.dispose()  # the kept connection is checked out: dispose leaves it open
        del store
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert unraisable == []
    admin = create_engine(pg_url)

    def gone() -> bool:
        with admin.connect() as conn:
            alive = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid})
            return bool(alive.scalar_one() == 0)

    try:
        _wait(gone, "the dropped store's backend to end")
    finally:
        admin.dispose()
