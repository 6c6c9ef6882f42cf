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

    def guard(self, operation: str) -> _Guard:
        """A context in which an unavailable database is a StoreUnavailableError for ``operation``."""
        return _Guard(self, operation)

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
        if not self._failed_operations:  # no outage: the common case, without the lock
            return
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


class _Guard:
    """:meth:`Availability.guard` as a class, not a generator's context manager: it wraps every
    transaction, and a generator's costs several Python calls more at each end."""

    __slots__ = ("_availability", "_operation")

    def __init__(self, availability: Availability, operation: str) -> None:
        self._availability = availability
        self._operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, error: BaseException | None, _traceback: object) -> None:
        availability = self._availability
        if error is None:
            availability._succeeded(self._operation)
        elif isinstance(error, sa.SQLAlchemyError) and is_unavailable(error):
            cause = _cause(error)
            availability._failed(self._operation, cause)
            retry_after = availability.retry_after
            raise StoreUnavailableError(self._operation, cause, retry_after=retry_after) from error
