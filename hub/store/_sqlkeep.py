"""Connections kept open between the store's transactions, instead of a pool checkout for each.

Checking a connection out of SQLAlchemy's pool and back in for every transaction cost about half the
CPU of a claim, an outcome or an accept's group commit (py-spy, bench/e2e.py): ``Engine.connect``, a
new ``Connection``, the pool's checkout and checkin, its reset-on-return rollback, the fairy's
finalizer. None of it is SQL. :class:`KeptConnections` keeps the ``Connection`` a transaction used
and hands it to the next one; each transaction still begins and ends as before (as ``Connection.begin``
would, with less of SQLAlchemy's Python: _sqltxn.py; the ``begin`` event that says ``BEGIN IMMEDIATE``
on SQLite, a real COMMIT, the ``commit`` event that StatementCounter counts), and between two
transactions a kept connection holds no transaction and so no lock, neither SQLite's nor a PostgreSQL
row lock: several hub processes share a database as before.

What the pool did at each checkout is still done at each transaction:

* The pool's ``checkout`` listeners run for a kept connection too (create_store_engine's
  ``_drop_dead_connections``, which finds a connection the server closed, or a test's fault): a
  ``DisconnectionError`` from one drops that connection and a fresh one is checked out.
* A connection is kept only after a transaction that committed: after any error it goes back to the
  pool (whose reset rolls back whatever was left), and after a disconnect SQLAlchemy invalidated,
  every kept connection goes too, as SQLAlchemy invalidates the pool: the next transaction reconnects.
* A connection is kept for :data:`KEEP_FOR` seconds at most, then given back to the pool at its next
  use and checked out again, so that the pool's recycling (``pool_recycle``) still applies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Final, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DisconnectionError

from lienthong.store._sqltxn import begin, commit, rollback

__all__ = ["KEEP_FOR", "KeptConnections"]

#: Seconds a connection is kept out of the pool before it goes back at its next use (and is checked
#: out again, through the pool's recycling and checks): one checkout a minute instead of one a transaction.
KEEP_FOR: Final = 60.0

T = TypeVar("T")


class KeptConnections:
    """Up to ``keep`` idle connections of ``engine``, taken by one transaction at a time each.

    On SQLite the store's writer lock lets one transaction at a time in, so one connection is kept;
    on PostgreSQL as many as ran at once, up to ``keep``.
    """

    def __init__(self, engine: Engine, keep: int, keep_for: float = KEEP_FOR) -> None:
        self.engine = engine
        self._keep = keep
        self._keep_for = keep_for
        self._lock = threading.Lock()
        self._idle: list[tuple[Connection, float]] = []  # (connection, when it was checked out)
        #: Bumped when every kept connection must go (a disconnect, close): one taken before is not kept.
        self._epoch = 0

    def transaction(self) -> _Transaction:
        """One transaction on a kept connection (or a fresh one): committed if the block returns."""
        return _Transaction(self)

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` in :meth:`transaction`: every claim, settle round and accept's group commit."""
        with _Transaction(self) as conn:
            return work(conn)

    def drop_all(self, *, hard: bool = False) -> None:
        """Give every kept connection back to the pool; those in use go back when their transaction ends.

        ``hard``: close their driver connections instead, for a store the garbage collector is taking
        without ``close()``: its engine may have been disposed already, and a connection given back to
        a disposed pool stays open until that pool is collected, then is deleted open."""
        with self._lock:
            self._epoch += 1
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            if hard:
                with suppress(Exception):
                    conn.invalidate()  # closes the driver's connection; the pool forgets it
            _close(conn)

    # ------------------------------------------------------------------ internals

    def _take(self) -> tuple[Connection, float, int]:
        now = time.monotonic()
        while True:
            with self._lock:
                epoch = self._epoch
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if now - since < self._keep_for and self._checked_out(conn):
                return conn, since, epoch
            _close(conn)
        return self.engine.connect(), now, epoch

    def _checked_out(self, conn: Connection) -> bool:
        """Run the pool's ``checkout`` listeners, as a checkout from the pool would: False if one
        found the connection unusable (and then it is invalidated, never used again)."""
        if conn.closed or conn.invalidated:
            return False
        listeners = self.engine.pool.dispatch.checkout
        if not listeners:
            return True
        proxy = conn.connection
        try:
            # The record is the pool's private object; every listener of the hub ignores it.
            listeners(proxy.dbapi_connection, getattr(proxy, "_connection_record", None), proxy)
        except DisconnectionError as error:
            conn.invalidate(error)
            if error.invalidate_pool:
                self.drop_all()
            return False
        return True

    def _give(self, conn: Connection, since: float, epoch: int) -> None:
        if not (conn.invalidated or conn.in_transaction()):
            with self._lock:
                if epoch == self._epoch and len(self._idle) < self._keep:
                    self._idle.append((conn, since))
                    return
        _close(conn)

    def _discard(self, conn: Connection) -> None:
        """After an error: this connection goes back to the pool, which rolls back what is left of its
        transaction (or drops it); after a disconnect, every kept connection goes with it."""
        if conn.invalidated:
            self.drop_all()
        _close(conn)


def _close(conn: Connection) -> None:
    """Give ``conn`` back to the pool. An error doing so (a dead connection's rollback) is the pool's
    to handle (it invalidates the connection): it must not hide the error that brought us here."""
    with suppress(Exception):
        conn.close()


class _Transaction:
    """:meth:`KeptConnections.transaction`: a class rather than a generator's context manager, which
    costs several Python calls more at each end of every transaction. A block that raises rolls the
    transaction back and its connection is not kept; so is one whose BEGIN or COMMIT failed."""

    __slots__ = ("_conn", "_epoch", "_kept", "_since", "_trans")

    def __init__(self, kept: KeptConnections) -> None:
        self._kept = kept

    def __enter__(self) -> Connection:
        conn, self._since, self._epoch = self._kept._take()
        try:
            self._trans = begin(conn)
        except BaseException:
            self._kept._discard(conn)
            raise
        self._conn = conn
        return conn

    def __exit__(self, _kind: object, error: BaseException | None, _traceback: object) -> None:
        conn = self._conn
        try:
            if error is None:
                commit(conn, self._trans)
            else:
                rollback(self._trans, error)
        except BaseException:
            self._kept._discard(conn)
            raise
        if error is None:
            self._kept._give(conn, self._since, self._epoch)
        else:
            self._kept._discard(conn)  # the error goes on, from the with statement
