"""The hot statements sent straight to the DBAPI cursor (_sqlfast.send) keep what SQLAlchemy gave them.

On each backend: the statements of an accept, a claim and an outcome never go through
``exec_driver_sql`` (the point of the change); every one is still seen by ``before_cursor_execute`` and
``after_cursor_execute`` (StatementCounter, the benchmark's round trips), an ``executemany`` once; a
repeated idempotency key is a ``sqlalchemy.exc.IntegrityError`` with the driver's error in ``orig`` and
the transaction still ends cleanly; PostgreSQL's class 40 arrives with its SQLSTATE and is retried once
by ``SqlStore._run``; a cursor that failed is not used again. Where SQLAlchemy must do the execution
itself (``echo``, no transaction begun yet) it does: the statement is logged, or the transaction begun
(``BEGIN IMMEDIATE`` on SQLite) as Core begins it. The private parts of SQLAlchemy that ``send`` relies
on are pinned at the end: an upgrade that changes them fails here.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.compiler import SQLCompiler
from test_store_contract import SQL_BACKENDS, _sql_store, make_envelope, prepared, routed

from lienthong.envelope import utcnow
from lienthong.errors import StoreUnavailableError
from lienthong.store import Delivered, sql
from lienthong.store import _sqlfast as fast
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, StatementCounter, create_store_engine

LEASE = timedelta(minutes=5)


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    opened = _sql_store(request, request.param)  # the contract suite's store, on each backend
    yield opened
    opened.close()


def _key_row(message_id: uuid.UUID, sender_message_id: str = "ho-so-1") -> dict[str, Any]:
    return {
        "sender": "motcua-dongnai",
        "sender_message_id": sender_message_id,
        "fingerprint": "f" * 64,
        "message_id": message_id,
        "created_at": utcnow(),
    }


def test_accept_claim_and_outcome_never_use_exec_driver_sql_and_every_statement_is_counted(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool, str]] = []

    def before(_conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool) -> None:
        seen.append(("before", many, statement.split(None, 1)[0]))

    def after(_conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool) -> None:
        seen.append(("after", many, statement.split(None, 1)[0]))

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a hot statement went through exec_driver_sql")

    event.listen(store.engine, "before_cursor_execute", before)
    event.listen(store.engine, "after_cursor_execute", after)
    monkeypatch.setattr(Connection, "exec_driver_sql", refused)
    try:
        with StatementCounter(store.engine) as counter:
            store.accept(make_envelope(), routed("land", "tax"), prepared("land", "tax"))
            claims = store.claim_due("w1", 1, LEASE)
            settled = store.settle("w1", [(claims[0], Delivered(b"<ok/>", 200))], 5, LEASE)
            used = counter.snapshot()
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
        event.remove(store.engine, "after_cursor_execute", after)
    assert len(settled.claims) == 1 and settled.errors == (None,)
    befores = [s for s in seen if s[0] == "before"]
    assert [s[1:] for s in befores] == [s[1:] for s in seen if s[0] == "after"]  # each statement, both
    assert used.statements == len(befores) and used.commits == 3 and used.rollbacks == 0
    verbs = [verb for _, _, verb in befores]
    if store.engine.dialect.name == "sqlite":
        # accept: messages, payloads, keys, routes, deliveries, their payloads; claim: SELECT, UPDATE,
        # INSERT; settle: the outcome's two UPDATEs, then the next claim's three
        accept = ["BEGIN", *(["INSERT"] * 6)]
        claim = ["BEGIN", "SELECT", "UPDATE", "INSERT"]
        assert verbs == [*accept, *claim, "BEGIN", "UPDATE", "UPDATE", *claim[1:]]
    else:
        # accept: its rows in one statement (sql._insert_at_once, on psycopg's RawCursor: the
        # listeners see it as any other); the claim; settle: the outcome (both tables), the next claim
        assert verbs == ["WITH", "WITH", "WITH", "WITH"]


def test_an_executemany_is_one_statement_seen_once_as_many(store: SqlStore) -> None:
    rows = [_key_row(uuid.uuid4(), f"ho-so-{i}") for i in range(3)]
    for row in rows:  # the keys' messages, which the keys reference
        envelope = make_envelope(sender_message_id=row["sender_message_id"])
        row["message_id"] = envelope.message_id
        store.accept(envelope, routed("land"), prepared("land"))
    many: list[bool] = []

    def before(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, executemany: bool) -> None:
        if statement.startswith("UPDATE idempotency_keys"):
            many.append(executemany)
            assert len(params) == 3

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        changed = store._run(
            "update",
            lambda conn: (
                fast.send(
                    conn,
                    "UPDATE idempotency_keys SET fingerprint = fingerprint WHERE sender_message_id = "
                    + ("?" if store.engine.dialect.name == "sqlite" else "%s"),
                    [(row["sender_message_id"],) for row in rows],
                    many=True,
                ).rowcount
            ),
        )
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    assert many == [True] and changed == 3


def test_listeners_added_while_a_connection_is_kept_see_its_statements_and_commits(store: SqlStore) -> None:
    """The engine's listener lists are read at each statement and commit (_sqlfast.listeners_of), not
    when a connection is made: a connection the store kept from before a listener came still fires it."""
    store.accept(make_envelope(), routed("land"), prepared("land"))  # a connection is kept now
    seen: list[str] = []

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0])

    def committed(_conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(store.engine, "after_cursor_execute", after)
    event.listen(store.engine, "commit", committed)
    try:
        store.accept(make_envelope(), routed("land"), prepared("land"))
    finally:
        event.remove(store.engine, "after_cursor_execute", after)
        event.remove(store.engine, "commit", committed)
    begin = ["BEGIN"] if store.engine.dialect.name == "sqlite" else []
    # SQLite: a statement a table; PostgreSQL: the accept's one statement (sql._insert_at_once)
    statements = ["INSERT"] * 6 if begin else ["WITH"]
    assert seen == [*begin, *statements, "COMMIT"]
    seen.clear()
    store.accept(make_envelope(), routed("land"), prepared("land"))
    assert seen == []  # removed: no longer called


def test_a_repeated_key_is_sqlalchemys_integrity_error_and_the_next_transaction_works(
    store: SqlStore,
) -> None:
    envelope = make_envelope()
    store.accept(envelope, routed("land"), prepared("land"))
    row = {**_key_row(envelope.message_id, envelope.sender_message_id), "sender": envelope.sender}
    with pytest.raises(IntegrityError) as caught:
        store._run("repeat", lambda conn: sql._INSERT_IDEMPOTENCY_KEYS.execute(conn, [row]))
    error = caught.value
    assert isinstance(error.orig, store.engine.dialect.loaded_dbapi.IntegrityError)
    assert error.statement is not None and error.statement.startswith("INSERT INTO idempotency_keys")
    assert not error.connection_invalidated
    # The repeat is answered as the first accept, and the kept connection goes on working.
    again = store.accept(envelope, routed("land"), prepared("land"))
    assert not again.created and again.message_id == envelope.message_id
    assert store.accept(make_envelope(), routed("land"), prepared("land")).created


def test_a_cursor_that_failed_is_replaced_and_a_good_one_is_kept(store: SqlStore) -> None:
    def cursor_of(conn: Connection) -> Any:
        fast.send(conn, "SELECT 1", (), rows=True)
        return conn.connection.info[fast._CURSOR]

    envelope = make_envelope()
    store.accept(envelope, routed("land"), prepared("land"))
    first = store._run("probe", cursor_of)
    assert store._run("probe", cursor_of) is first  # kept between transactions
    row = {**_key_row(envelope.message_id, envelope.sender_message_id), "sender": envelope.sender}
    with pytest.raises(IntegrityError):
        store._run("fail", lambda conn: sql._INSERT_IDEMPOTENCY_KEYS.execute(conn, [row]))
    replaced = store._run("probe", cursor_of)
    assert replaced is not first


@pytest.mark.postgres
def test_postgres_class_40_arrives_with_its_sqlstate_and_is_retried_once(pg_url: str) -> None:
    engine = create_store_engine(pg_url)
    upgrade(engine)
    store = SqlStore(engine)
    tries: list[int] = []

    def work(conn: Connection) -> str:
        tries.append(1)
        if len(tries) == 1:
            fast.send(conn, "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$", ())
        return "done"

    try:
        assert store._run("retry", work) == "done"
        assert len(tries) == 2

        def always(conn: Connection) -> None:
            fast.send(conn, "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40P01'; END $$", ())

        with pytest.raises(StoreUnavailableError) as caught:  # twice rolled back: a 503, its cause kept
            store._run("no retry left", always)
        cause = caught.value.__cause__
        assert isinstance(cause, OperationalError) and getattr(cause.orig, "sqlstate", None) == "40P01"
    finally:
        store.close()


def test_with_echo_sqlalchemy_runs_and_logs_the_statement(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    echoing = create_store_engine(store.engine.url.render_as_string(hide_password=False), echo=True)
    try:
        envelope = make_envelope()
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"), echoing.begin() as conn:
            sql._INSERT_MESSAGES.execute(conn, [sql._message_row(envelope, "f" * 64)])
        assert any("INSERT INTO messages" in r.getMessage() for r in caplog.records)
    finally:
        echoing.dispose()
    assert store.counts().messages == 1


def test_with_echo_the_claims_rows_come_through_sqlalchemy_the_same(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.accept(make_envelope(), routed("land", "tax"), prepared("land", "tax"))
    now = utcnow()
    params: dict[str, Any] = {"b_now": now, "b_limit": 10, "b_exclude": ["justice"]}
    if store._is_postgres:
        params.update(b_worker="w1", b_lease_until=now + LEASE, b_released="released")
    query = sql._claim_select(True, False, postgres=store._is_postgres)

    def claimed(engine: Engine) -> list[dict[str, Any]]:
        with engine.connect() as conn, conn.begin() as transaction:
            rows = query.rows(conn, params)
            transaction.rollback()  # PostgreSQL's claim writes: both read the same rows
        return rows

    echoing = create_store_engine(store.engine.url.render_as_string(hide_password=False), echo=True)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            through_sqlalchemy = claimed(echoing)
        assert any("deliveries" in r.getMessage() for r in caplog.records)  # logged: SQLAlchemy ran it
    finally:
        echoing.dispose()
    direct = claimed(store.engine)
    assert len(direct) == 2
    assert [sorted((k, type(v).__name__, v) for k, v in row.items()) for row in through_sqlalchemy] == [
        sorted((k, type(v).__name__, v) for k, v in row.items()) for row in direct
    ]


def test_without_a_transaction_the_statement_begins_one_as_core_does(store: SqlStore) -> None:
    begun: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        begun.append(statement.split(None, 1)[0])

    envelope = make_envelope()
    event.listen(store.engine, "before_cursor_execute", before)
    try:
        with store.engine.connect() as conn:
            assert not conn.in_transaction()
            sql._INSERT_MESSAGES.execute(conn, [sql._message_row(envelope, "f" * 64)])
            assert conn.in_transaction()  # autobegun, as exec_driver_sql would
            conn.commit()
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    expected = ["BEGIN", "INSERT"] if store.engine.dialect.name == "sqlite" else ["INSERT"]
    assert begun == expected
    assert store.counts().messages == 1


# ---------------------------------------------------------------------- SQLAlchemy's private parts


def test_the_private_parts_send_relies_on_are_still_there(store: SqlStore) -> None:
    """``send`` mirrors Connection._cursor_execute/_exec_single_context: if SQLAlchemy renames or
    changes one of these, _sqlfast.py must be looked at again (and this test updated with it)."""
    engine: Engine = store.engine
    dialect: Dialect = engine.dialect
    assert isinstance(engine._has_events, bool) and isinstance(dialect._has_events, bool)
    with engine.connect() as conn:
        assert isinstance(conn._has_events, bool) and isinstance(conn._echo, bool)
        assert _innermost(conn) is None
        with conn.begin():
            nested = conn.begin_nested()
            assert _innermost(conn) is nested and nested.is_active
            nested.rollback()
    assert list(inspect.signature(Connection._handle_dbapi_exception).parameters) == [
        "self",
        "e",
        "statement",
        "parameters",
        "cursor",
        "context",
        "is_sub_exec",
    ]
    # The wrapper SQLAlchemy puts around a before_cursor_execute listener that returns nothing hands
    # back the statement and parameters it was given (send takes them from each listener, as Core).
    source = inspect.getsource(Connection._exec_single_context)
    assert "str_statement, effective_parameters = fn(" in source
    compiled = sql._RECORD_DELIVERY.statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    assert set(compiled._bind_processors) <= set(compiled.bind_names.values())


@pytest.mark.parametrize("name", ["before_cursor_execute", "after_cursor_execute", "commit"])
def test_an_engines_listeners_read_directly_are_those_sqlalchemy_calls_in_its_order(name: str) -> None:
    """_sqlfast.listeners_of reads the two lists SQLAlchemy keeps an engine's listeners in (of every
    engine, then of this one): the same listeners its connections' dispatch calls, in the same order,
    with none, with the engine's own, and with those of every engine too."""
    engine = create_store_engine("sqlite://")

    def mine(*_args: Any) -> None: ...

    def everyones(*_args: Any) -> None: ...

    def joined() -> list[Any]:
        with engine.connect() as conn:
            return list(getattr(conn.dispatch, name))

    def direct() -> list[Any]:
        return list(fast.listeners_of(getattr(engine.dispatch, name)))

    try:
        assert direct() == joined()
        event.listen(engine, name, mine)
        assert direct() == joined() and len(direct()) >= 1
        event.listen(Engine, name, everyones)
        try:
            assert direct() == joined() and len(direct()) >= 2
        finally:
            event.remove(Engine, name, everyones)
        event.remove(engine, name, mine)
        assert direct() == joined()
    finally:
        engine.dispose()


def _innermost(conn: Connection) -> object:
    return conn._nested_transaction
