"""Rows into a PostgreSQL table by ``COPY … FROM STDIN (FORMAT BINARY)``, inside the caller's transaction.

psycopg runs an ``executemany`` of an INSERT as one statement per row in a pipeline, ~8 µs of the
hub's CPU a row more than a COPY (the sealer's entries, 150 a tick; docs/benchmarks.md, "The
auditor's log"). A multi-row ``VALUES`` was slower still past psycopg's prepared-statement limit,
``unnest`` of arrays no quicker. ``COPY`` in binary format sends each row as psycopg's C dumpers write
it for the column types given, with no SQL per row: the server stores what it would store from the
INSERT's parameters (tests/integration/test_audit_copy.py compares every column). Its setup costs
more than one row's INSERT: for one row, send the INSERT.

:func:`send_copy` keeps what :func:`lienthong.store._sqlfast.send` keeps of SQLAlchemy: it runs only
inside the Connection's active transaction (so the rows commit, or roll back, with the rest of it), on
the connection's kept cursor; the ``before_cursor_execute`` and ``after_cursor_execute`` listeners see
the ``COPY`` statement (StatementCounter counts it as one statement, as it counted the
``executemany``); a driver error goes through the Connection's handler (an ``IntegrityError`` for a
repeated key, a disconnect invalidating the connection). Where that cannot hold (another driver,
``echo``, the dialect's execution events, no transaction) it returns None and the caller inserts as
before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from lienthong.store._sqlfast import _CURSOR, _direct, before_cursor, kept_cursor

__all__ = ["copy_possible", "send_copy"]


def copy_possible(conn: Connection) -> bool:
    """Whether :func:`send_copy` can send rows on ``conn`` now: psycopg, inside an active transaction,
    nothing needing SQLAlchemy's own execution."""
    if conn.dialect.driver != "psycopg" or not _direct(conn) or not conn.in_transaction():
        return False
    nested = conn._nested_transaction
    return nested is None or nested.is_active


def send_copy(
    conn: Connection, statement: str, types: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int | None:
    """``rows`` (Python values, one per column of ``statement``'s ``COPY … FROM STDIN (FORMAT BINARY)``,
    of the PostgreSQL ``types`` given) sent in ``conn``'s transaction; the rows the server took, or
    None when :func:`copy_possible` says no (nothing was sent)."""
    if not copy_possible(conn):
        return None
    info, cursor = kept_cursor(conn)
    parameters: Any = ()  # what the listeners see: the rows travel as COPY data, not parameters
    try:
        statement, parameters, after = before_cursor(conn, cursor, statement, parameters, False)
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            write = copy.write_row
            for row in rows:
                write(row)
        for listener in after:
            listener(conn, cursor, statement, parameters, None, False)
        return int(cursor.rowcount)
    except BaseException as error:
        # As _sqlfast._on_cursor: a new cursor next time; a driver error wrapped by the Connection's
        # handler, anything else (a value no dumper takes, raised before the server saw the row:
        # psycopg ends the COPY with an error, and the transaction fails) raised as it is.
        info.pop(_CURSOR, None)
        driver_error = isinstance(error, conn.dialect.loaded_dbapi.Error)
        conn._handle_dbapi_exception(error, statement if driver_error else None, parameters, cursor, None)
