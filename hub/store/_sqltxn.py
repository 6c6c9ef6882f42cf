"""A write transaction's BEGIN and COMMIT on the driver's connection, as SQLAlchemy would do them.

``with conn.begin():`` costs some fifteen Python calls at each end that do nothing the hub needs
(py-spy on the dispatcher: about a fifth of its Python): ``Connection.begin``, ``RootTransaction``,
``_connection_begin_impl``, ``_begin_impl``, the dialect's ``do_begin`` (which does nothing), the
context manager's bookkeeping, then ``Transaction.commit``, ``_do_commit``, ``_connection_commit_impl``,
``_commit_impl``, ``do_commit``, which is ``dbapi_connection.commit()``. :func:`begin` and
:func:`commit` do what those do when nothing else is asked of them, and leave the ``Connection`` in the
state SQLAlchemy would: a real :class:`RootTransaction` is its ``_transaction`` (``in_transaction()``,
``exec_driver_sql``, ``execute`` and ``_sqlfast.send`` inside it behave as in ``conn.begin()``'s), its
``begin`` and ``commit`` events fire (SQLite's ``BEGIN IMMEDIATE``, StatementCounter), and a driver
error at COMMIT goes through the Connection's handler (the same ``sqlalchemy.exc`` class; a
disconnect invalidates the connection and the pool).

Whenever SQLAlchemy would do more (``echo``, a transaction or a context already there, a dialect
whose ``do_begin`` or ``do_commit`` is its own, a connection to revalidate, a savepoint left open),
the transaction is SQLAlchemy's own, begun or ended by its own code; so is every ROLLBACK
(:func:`rollback`): only the common path is shortened. The private parts relied on are pinned by
tests/integration/test_store_transactions.py.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, RootTransaction
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect

from lienthong.store._sqlfast import listeners_of

__all__ = ["begin", "commit", "rollback"]

#: The name of ``Connection.__in_begin`` from outside the class: True while the ``begin`` event runs,
#: so that a statement a listener sends does not begin a second transaction (``_autobegin``).
_IN_BEGIN: Final = "_Connection__in_begin"

_plain_dialects: dict[type[Dialect], bool] = {}


def _plain(dialect: Dialect) -> bool:
    """Does the dialect begin and commit as DefaultDialect does (nothing, then the driver's commit)?"""
    plain = _plain_dialects.get(type(dialect))
    if plain is None:
        kind = type(dialect)
        plain = _plain_dialects[kind] = (
            kind.do_begin is DefaultDialect.do_begin and kind.do_commit is DefaultDialect.do_commit
        )
    return plain


def begin(conn: Connection) -> RootTransaction:
    """Begin ``conn``'s transaction, as ``conn.begin().__enter__()`` would, and return it."""
    if (
        conn._echo
        or conn._transaction is not None
        or conn._trans_context_manager is not None
        or conn._dbapi_connection is None
        or not _plain(conn.dialect)
    ):
        trans = conn.begin()
        trans.__enter__()
        return trans
    # RootTransaction.__init__ → Connection._begin_impl: the begin event (dialect.do_begin does
    # nothing), then the transaction is the connection's, then TransactionalContext.__enter__.
    trans = RootTransaction.__new__(RootTransaction)
    trans.connection = conn
    if conn._has_events or conn.engine._has_events:
        setattr(conn, _IN_BEGIN, True)
        try:
            if conn._has_events:
                conn.dispatch.begin(conn)
            else:  # only the engine's listeners (SQLite's BEGIN IMMEDIATE), read as _sqlfast does
                for listener in listeners_of(conn.engine.dispatch.begin):
                    listener(conn)
        finally:
            setattr(conn, _IN_BEGIN, False)
    conn._transaction = trans
    trans.is_active = True
    trans._outer_trans_ctx = None
    trans._trans_subject = conn
    conn._trans_context_manager = trans
    return trans


def commit(conn: Connection, trans: RootTransaction) -> None:
    """Commit ``trans`` (from :func:`begin`), as leaving ``with conn.begin():`` without an error would."""
    if (
        conn._echo
        or conn._transaction is not trans
        or conn._trans_context_manager is not trans
        or conn._nested_transaction is not None
        or not trans.is_active
        or conn._dbapi_connection is None
        or not _plain(conn.dialect)
    ):
        trans.__exit__(None, None, None)
        return
    # Transaction.commit → RootTransaction._do_commit → Connection._commit_impl: the commit event,
    # then dialect.do_commit, its error through the handler while the transaction is still active (as
    # there: no "autorollback"). Whether or not it committed, the transaction is over and no longer
    # the connection's (after a failed COMMIT, SQLAlchemy's rollback of the context finds it inactive
    # and sends nothing: the pool's reset rolls back).
    try:
        if conn._has_events:
            conn.dispatch.commit(conn)
        elif conn.engine._has_events:  # only the engine's listeners, seldom of commit (as _sqlfast)
            listeners = conn.engine.dispatch.commit
            if listeners.parent_listeners or listeners.listeners:
                for listener in listeners_of(listeners):
                    listener(conn)
        try:
            conn._dbapi_connection.dbapi_connection.commit()  # type: ignore[union-attr]
        except BaseException as error:
            conn._handle_dbapi_exception(error, None, None, None, None)
    finally:
        trans.is_active = False
        conn._transaction = None
        conn._trans_context_manager = None
        trans._trans_subject = trans._outer_trans_ctx = None


def rollback(trans: RootTransaction, error: BaseException) -> None:
    """End ``trans`` after ``error``, as leaving ``with conn.begin():`` with it would: SQLAlchemy's own
    code (a ROLLBACK, its event, its handling of a transaction already ended or a dead connection)."""
    trans.__exit__(type(error), error, error.__traceback__)
