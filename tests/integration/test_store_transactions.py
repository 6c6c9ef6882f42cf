"""A write transaction begun and committed on the driver's connection (_sqltxn.py) is SQLAlchemy's own.

On each backend: the Connection's state inside and after one is what ``with conn.begin():`` gives
(a RootTransaction, ``in_transaction()``, ``exec_driver_sql`` and ``execute`` inside it adding to it,
not beginning another); the ``begin``, ``commit`` and ``rollback`` events fire once each; a failure in
the block rolls back; a failed COMMIT arrives as SQLAlchemy's error with the transaction over and the
connection usable; where SQLAlchemy must do more (``echo``, a savepoint left open, a transaction
already there) its own code runs. The private parts of SQLAlchemy relied on are pinned at the end.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, RootTransaction, Transaction, event, text
from sqlalchemy.engine import base
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.engine.util import TransactionalContext
from sqlalchemy.exc import InvalidRequestError, OperationalError
from test_store_contract import SQL_BACKENDS, _sql_store, make_envelope, prepared, routed

from lienthong.store import _sqltxn as txn
from lienthong.store import sql
from lienthong.store.sql import SqlStore


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    opened = _sql_store(request, request.param)
    yield opened
    opened.close()


def _events(store: SqlStore) -> list[str]:
    seen: list[str] = []
    for name in ("begin", "commit", "rollback"):
        event.listen(store.engine, name, lambda _conn, name=name: seen.append(name))
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0]))
    return seen


def _active(trans: Transaction) -> bool:
    """``is_active``, read after a call that changed it (mypy keeps an earlier assert's narrowing)."""
    return bool(trans.is_active)


def _count(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT count(*) FROM messages").scalar_one())


def test_a_direct_transaction_is_the_connections_and_statements_inside_join_it(store: SqlStore) -> None:
    seen = _events(store)
    with store.engine.connect() as conn:
        trans = txn.begin(conn)
        assert isinstance(trans, RootTransaction) and trans.is_active
        assert conn.in_transaction() and conn.get_transaction() is trans
        conn.exec_driver_sql("SELECT 1")
        conn.execute(text("SELECT 2"))
        assert conn.get_transaction() is trans  # not autobegun anew
        with pytest.raises(InvalidRequestError):
            conn.begin()  # as inside conn.begin(): already in a transaction
        txn.commit(conn, trans)
        assert not _active(trans) and not conn.in_transaction() and conn.get_transaction() is None
        with conn.begin():  # SQLAlchemy's own begin works after it
            conn.exec_driver_sql("SELECT 3")
    begin = (
        ["BEGIN", "begin"] if store.engine.dialect.name == "sqlite" else ["begin"]
    )  # the hub's listener first
    assert seen == [*begin, "SELECT", "SELECT", "commit", *begin, "SELECT", "commit"]


def test_a_failure_in_the_block_rolls_back_what_it_wrote(store: SqlStore) -> None:
    seen = _events(store)
    with pytest.raises(ZeroDivisionError), store._kept.transaction() as conn:
        envelope = make_envelope()
        sql._INSERT_MESSAGES.execute(conn, [sql._message_row(envelope, "f" * 64)])
        assert _count(conn) == 1
        _ = 1 / 0
    assert "rollback" in seen and "commit" not in seen
    assert store.counts().messages == 0
    store.accept(make_envelope(), routed("land"), prepared("land"))  # the next transaction works
    assert store.counts().messages == 1


def test_a_statement_a_begin_listener_sends_does_not_begin_another_transaction(store: SqlStore) -> None:
    inner: list[object] = []

    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("SELECT 1")  # SQLAlchemy: __in_begin stops the autobegin
        inner.append(conn.get_transaction())

    event.listen(store.engine, "begin", on_begin)
    with store.engine.connect() as conn:
        trans = txn.begin(conn)
        assert inner == [None] and conn.get_transaction() is trans
        txn.commit(conn, trans)


def test_a_failed_commit_is_sqlalchemys_error_and_the_transaction_is_over(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _events(store)
    with store.engine.connect() as conn:
        trans = txn.begin(conn)
        conn.exec_driver_sql("SELECT 1")
        dbapi = conn.dialect.loaded_dbapi
        driver = conn.connection.dbapi_connection
        assert driver is not None

        class Refusing:
            def __init__(self, real: Any) -> None:
                self.real = real

            def commit(self) -> None:
                raise dbapi.OperationalError("refused")

            def __getattr__(self, name: str) -> Any:
                return getattr(self.real, name)

        fairy = conn.connection
        monkeypatch.setattr(fairy, "dbapi_connection", Refusing(driver))
        with pytest.raises(OperationalError) as caught:
            txn.commit(conn, trans)
        monkeypatch.undo()
        assert isinstance(caught.value.orig, dbapi.OperationalError)
        assert not trans.is_active and conn.get_transaction() is None and conn._trans_context_manager is None
        driver.rollback()
        with conn.begin():
            conn.exec_driver_sql("SELECT 2")
    assert seen.count("commit") == 2


@pytest.mark.parametrize("how", ["echo", "savepoint", "already"])
def test_where_sqlalchemy_must_do_more_its_own_code_runs(
    store: SqlStore, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    with store.engine.connect() as conn:
        if how == "echo":
            conn._echo = True
            with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
                trans = txn.begin(conn)
                txn.commit(conn, trans)
            messages = [r.getMessage() for r in caplog.records]
            assert any(m.startswith("BEGIN") for m in messages) and "COMMIT" in messages
            return
        if how == "already":
            conn.exec_driver_sql("SELECT 1")  # autobegun
            with pytest.raises(InvalidRequestError):
                txn.begin(conn)
            conn.rollback()
            return
        trans = txn.begin(conn)
        nested = conn.begin_nested()
        assert nested.is_active
        txn.commit(conn, trans)  # SQLAlchemy's: releases the savepoint's state with the transaction
        assert not _active(nested) and conn.get_transaction() is None


def test_store_writes_use_the_direct_path(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("SQLAlchemy's begin/commit on the hot path")

    store.accept(make_envelope(), routed("land"), prepared("land"))  # a kept connection
    monkeypatch.setattr(Connection, "begin", refused)
    monkeypatch.setattr(RootTransaction, "commit", refused)
    store.accept(
        make_envelope(sender_message_id=f"ho-so-{uuid.uuid4().hex}"), routed("land"), prepared("land")
    )
    claims = store.claim_due("w1", 5, timedelta(minutes=5))
    assert len(claims) == 2
    monkeypatch.undo()
    assert store.counts().messages == 2


# ---------------------------------------------------------------------- SQLAlchemy's private parts


def test_the_private_parts_the_direct_transaction_relies_on_are_still_there(store: SqlStore) -> None:
    """_sqltxn.py mirrors RootTransaction.__init__/_do_commit and Connection._begin_impl/_commit_impl:
    if SQLAlchemy changes one of these, _sqltxn.py must be looked at again (and this test with it)."""
    assert RootTransaction.__slots__ == ("connection", "is_active")
    assert set(TransactionalContext.__slots__) >= {"_outer_trans_ctx", "_trans_subject"}
    for kind in (type(store.engine.dialect), DefaultDialect):
        assert txn._plain(store.engine.dialect) and kind.do_begin is DefaultDialect.do_begin
    assert inspect.getsource(DefaultDialect.do_begin).rstrip().endswith("pass")
    assert "dbapi_connection.commit()" in inspect.getsource(DefaultDialect.do_commit)
    begin_impl = inspect.getsource(base.Connection._begin_impl)
    assert "self.__in_begin = True" in begin_impl and "self.dispatch.begin(self)" in begin_impl
    assert "self.engine.dialect.do_begin(self.connection)" in begin_impl
    commit_impl = inspect.getsource(base.Connection._commit_impl)
    assert "self.dispatch.commit(self)" in commit_impl
    assert "self.engine.dialect.do_commit(self.connection)" in commit_impl
    assert "self._handle_dbapi_exception(e, None, None, None, None)" in commit_impl
    init = inspect.getsource(RootTransaction.__init__)
    assert "self._connection_begin_impl()" in init and "connection._transaction = self" in init
    do_commit = inspect.getsource(RootTransaction._do_commit)
    assert (
        "self._deactivate_from_connection()" in do_commit
        and "self.connection._transaction = None" in do_commit
    )
    enter = inspect.getsource(TransactionalContext.__enter__)
    assert "subject._trans_context_manager = self" in enter
    with store.engine.connect() as conn:
        assert getattr(conn, txn._IN_BEGIN) is False
        assert conn._trans_context_manager is None and conn._transaction is None
        assert conn._nested_transaction is None and conn._dbapi_connection is not None
        trans = conn.begin()
        with trans:
            context: object = conn._trans_context_manager
            assert context is trans and trans._trans_subject is conn
