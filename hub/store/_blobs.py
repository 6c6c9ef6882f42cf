"""Large payloads into SQLite and out of it without SQLite's own copies.

Binding a bytes parameter makes SQLite copy it (the binding is ``SQLITE_TRANSIENT``) and copy it again
into the record it builds: inserting a 64 MB payload took the process 130 MB above what it held
(bench/edxml_memory.py, docs/benchmarks.md). So a payload of :data:`STREAMED` bytes or more is
inserted as ``zeroblob(n)`` and its bytes written through SQLite's incremental blob I/O, a megabyte at
a time, from the bytes object the hub already holds; reading goes the same way, straight into one
bytes object. Same transaction, same bytes on disk, same rows: only the way they get there changes.

The ``messages`` trigger that refuses ``UPDATE`` does not fire for blob I/O, and it need not: the row
is written in the transaction that inserts it, before anyone can read it. PostgreSQL keeps bound
parameters (psycopg sends them as they are).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from sqlalchemy import func
from sqlalchemy.engine import Connection

__all__ = ["STREAMED", "read_blob", "streams", "write_blob", "zeroblob"]

#: Payloads from this size on are written and read through blob I/O on SQLite.
STREAMED: Final = 1024 * 1024
_CHUNK: Final = 1024 * 1024


def _sqlite(conn: Connection) -> sqlite3.Connection | None:
    driver = conn.connection.driver_connection
    return driver if isinstance(driver, sqlite3.Connection) else None


def streams(conn: Connection, data: bytes | None) -> bool:
    """Whether ``data`` goes in through blob I/O on this connection."""
    return data is not None and len(data) >= STREAMED and _sqlite(conn) is not None


def zeroblob(data: bytes) -> Any:
    """The SQL value to insert in place of ``data``: as many zero bytes, written over afterwards."""
    return func.zeroblob(len(data))


def write_blob(conn: Connection, table: str, column: str, rowid: int, data: bytes) -> None:
    """Write ``data`` over the zeroblob of ``table.column`` in row ``rowid``, a megabyte at a time."""
    driver = _sqlite(conn)
    assert driver is not None, "blob I/O is for SQLite"
    view = memoryview(data)
    with driver.blobopen(table, column, rowid) as blob:
        for start in range(0, len(data), _CHUNK):
            blob.write(view[start : start + _CHUNK])


def read_blob(conn: Connection, table: str, column: str, rowid: int) -> bytes:
    """The blob of ``table.column`` in row ``rowid``, read into one bytes object."""
    driver = _sqlite(conn)
    assert driver is not None, "blob I/O is for SQLite"
    with driver.blobopen(table, column, rowid, readonly=True) as blob:
        return blob.read()
