"""Which database errors mean "the database is unavailable, try again" rather than "a bug".

A caller cannot tell a dropped connection from a programming error by a 500; it can act on a 503 with
``Retry-After``. SqlStore turns the first kind into :class:`StoreUnavailableError` here, in one place,
and lets everything else through untouched (an IntegrityError still means a race or a broken rule).

Unavailable: the driver's OperationalError (connection refused or lost, server shutting down, SQLite
"database or disk is full", "database is locked", "attempt to write a readonly database", disk I/O
error), InterfaceError (a connection already closed), any error SQLAlchemy marks as a disconnect, a
pool with no free connection in time, and on PostgreSQL the SQLSTATE classes that name a state of the
server rather than of the statement (08 connection, 40 rollback, 53 resources, 57 operator
intervention, 58 system, 25006 read-only transaction after a failover).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa

from lienthong.errors import StoreUnavailableError

log = logging.getLogger("lienthong.store")

_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")
_TRANSIENT_SQLSTATES = ("25006", "55P03")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa.IntegrityError):
        return False
    if isinstance(error, sa.OperationalError | sa.InterfaceError | sa.TimeoutError | sa.DisconnectionError):
        return True
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated:
            return True
        state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if isinstance(state, str):
            return state.startswith(_TRANSIENT_SQLSTATE_CLASSES) or state in _TRANSIENT_SQLSTATES
    return False


def _cause(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    return f"{type(orig).__name__}: {str(orig).strip().splitlines()[0] if str(orig).strip() else ''}"


class Availability:
    """Turns unavailability into StoreUnavailableError and logs an outage once, not once per call.

    The first failure is a WARNING with its cause; while the database stays down, further failures
    are counted, not logged. The outage is over when an operation that failed during it succeeds (a
    read succeeding on a full disk says nothing about writes): a WARNING says how long it lasted.
    """

    def __init__(self, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._failed_operations: set[str] = set()
        self._failures = 0

    @contextmanager
    def guard(self, operation: str) -> Iterator[None]:
        try:
            yield
        except sa.SQLAlchemyError as error:
            if not is_unavailable(error):
                raise
            cause = _cause(error)
            self._failed(operation, cause)
            raise StoreUnavailableError(operation, cause, retry_after=self.retry_after) from error
        else:
            self._succeeded(operation)

    def _failed(self, operation: str, cause: str) -> None:
        with self._lock:
            self._failures += 1
            self._failed_operations.add(operation)
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.warning(
            "database unavailable (%s): %s; requests are answered 503 with Retry-After %ds until it is back",
            operation,
            cause,
            self.retry_after,
        )

    def _succeeded(self, operation: str) -> None:
        with self._lock:
            if operation not in self._failed_operations:
                return
            down_since, self._down_since = self._down_since, None
            failures, self._failures = self._failures, 0
            self._failed_operations.clear()
        if down_since is not None:
            log.warning(
                "database available again after %.1fs (%d operations failed meanwhile)",
                time.monotonic() - down_since,
                failures,
            )
