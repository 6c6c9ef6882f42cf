"""What a simulated system remembers, in SQLite: every accepted request and every pending step.

A real ministry system does not forget a dossier when it restarts, and the hub's retries rely on that
(a repeated message id gets the first answer, not a second case). So every accepted request is a row —
message id, operation, business key, status, the request and answer bytes, times — and every later step
(a callback to the hub, a status change) is a row with the time it is due, written in the same
transaction as the record. A restarted simulator answers duplicates as before and resumes its steps.

One connection, used under a lock: the simulator's handlers and its callback task share it, and every
operation here is a few statements long.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final

__all__ = ["Accepted", "Record", "RecordFilter", "RecordStore", "Step", "now_vn"]

VN_TZ: Final = timezone(timedelta(hours=7))  # Vietnam keeps +07:00 all year
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS records (
    endpoint TEXT NOT NULL, message_id TEXT NOT NULL, operation TEXT NOT NULL, key TEXT,
    status TEXT NOT NULL, sequence INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 1,
    correlation_id TEXT, client TEXT, service TEXT,
    request BLOB NOT NULL, request_hash TEXT NOT NULL,
    answer BLOB NOT NULL, answer_status INTEGER NOT NULL, answer_type TEXT NOT NULL,
    received_at TEXT NOT NULL, received_ts REAL NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (endpoint, message_id)
);
CREATE INDEX IF NOT EXISTS records_key ON records (key);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, message_id TEXT NOT NULL, step INTEGER NOT NULL,
    due_ts REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, callback_id TEXT, body BLOB, done_at TEXT,
    UNIQUE (endpoint, message_id, step)
);
CREATE INDEX IF NOT EXISTS steps_due ON steps (state, due_ts);
"""


def now_vn() -> str:
    """The simulated systems' clock as they write it: seconds, with the +07:00 offset."""
    return datetime.now(VN_TZ).isoformat(timespec="seconds")


@dataclass
class Record:
    """One accepted request and where its case stands."""

    endpoint: str
    message_id: str
    operation: str
    key: str | None
    status: str
    sequence: int
    count: int
    correlation_id: str | None
    client: str | None
    service: str | None
    received_at: str
    updated_at: str
    request_hash: str
    request: bytes = field(repr=False)
    answer: bytes = field(repr=False)
    answer_status: int = field(repr=False)
    answer_type: str = field(repr=False)
    received_ts: float = field(repr=False)

    def public(self) -> dict[str, object]:
        """The record as the control API and the query operation show it (no bytes)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.repr}


@dataclass(frozen=True)
class Accepted:
    """What a handler decided for a new request: the answer to send and remember, and the case."""

    operation: str
    key: str | None
    status: str
    answer: bytes
    answer_status: int
    answer_type: str
    first_step_after: float | None  # None: no later steps


@dataclass(frozen=True)
class RecordFilter:
    """The query operation's filters; every one given must match."""

    endpoint: str | None = None
    status: str | None = None
    key: str | None = None
    operation: str | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    limit: int = 1000


@dataclass(frozen=True)
class Step:
    """A pending step of a case, as stored."""

    id: int
    endpoint: str
    message_id: str
    step: int
    due_ts: float
    attempts: int
    body: bytes | None
    callback_id: str | None


class RecordStore:
    """The simulator's records and steps in one SQLite database (a file, or ``:memory:``)."""

    def __init__(self, location: str) -> None:
        if location != ":memory:":
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        self.location = location
        self._db = sqlite3.connect(location, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            if location != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ records

    def accept(
        self,
        endpoint: str,
        message_id: str,
        request: bytes,
        request_hash: str,
        meta: dict[str, str | None],
        decide: Callable[[int, str], Accepted | None],
    ) -> tuple[Record | None, bool]:
        """The record for ``message_id``: the one already held (True: a duplicate, its count raised), or
        a new one made by ``decide(sequence, received_at)`` together with its first step. ``decide``
        returning None (a rejection) records nothing. Look-up, decision and insert are one transaction,
        so a racing duplicate never runs twice."""
        with self._transaction() as db:
            known = self._get(db, endpoint, message_id)
            if known is not None:
                db.execute(
                    "UPDATE records SET count = count + 1 WHERE endpoint = ? AND message_id = ?",
                    (endpoint, message_id),
                )
                known.count += 1
                return known, True
            sequence = db.execute("SELECT coalesce(max(sequence), 0) + 1 FROM records").fetchone()[0]
            received_at, received_ts = now_vn(), time.time()
            accepted = decide(sequence, received_at)
            if accepted is None:
                return None, False
            db.execute(
                "INSERT INTO records (endpoint, message_id, operation, key, status, sequence, "
                "correlation_id, "
                "client, service, request, request_hash, answer, answer_status, answer_type, "
                "received_at, received_ts, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    endpoint, message_id, accepted.operation, accepted.key, accepted.status, sequence,
                    meta.get("correlationId"), meta.get("client"), meta.get("service"), request, request_hash,
                    accepted.answer, accepted.answer_status, accepted.answer_type, received_at, received_ts,
                    received_at,
                ),
            )  # fmt: skip
            if accepted.first_step_after is not None:
                db.execute(
                    "INSERT INTO steps (endpoint, message_id, step, due_ts) VALUES (?, ?, 0, ?)",
                    (endpoint, message_id, received_ts + accepted.first_step_after),
                )
            record = self._get(db, endpoint, message_id)
            assert record is not None
            return record, False

    def get(self, endpoint: str, message_id: str) -> Record | None:
        with self._lock:
            return self._get(self._db, endpoint, message_id)

    @staticmethod
    def _get(db: sqlite3.Connection, endpoint: str, message_id: str) -> Record | None:
        row = db.execute(
            "SELECT * FROM records WHERE endpoint = ? AND message_id = ?", (endpoint, message_id)
        ).fetchone()
        return Record(**dict(row)) if row is not None else None

    def query(self, where: RecordFilter = RecordFilter()) -> list[Record]:
        """The records matching every filter given, oldest first."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("endpoint", where.endpoint),
            ("status", where.status),
            ("key", where.key),
            ("operation", where.operation),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if where.since is not None:
            clauses.append("received_ts >= ?")
            params.append(where.since)
        if where.until is not None:
            clauses.append("received_ts < ?")
            params.append(where.until)
        sql = "SELECT * FROM records" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY received_ts, sequence LIMIT ?", (*params, where.limit))
            return [Record(**dict(row)) for row in rows]

    def forget(self, endpoint: str, message_id: str) -> None:
        """Drop a record and its steps, as a system that lost what it had answered (a divergence)."""
        with self._transaction() as db:
            db.execute("DELETE FROM steps WHERE endpoint = ? AND message_id = ?", (endpoint, message_id))
            db.execute("DELETE FROM records WHERE endpoint = ? AND message_id = ?", (endpoint, message_id))

    def set_status(self, key: str, status: str) -> Record | None:
        """Change the status of the latest record under ``key``, with no callback (a divergence)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT endpoint, message_id FROM records WHERE key = ? ORDER BY sequence DESC LIMIT 1",
                (key,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE records SET status = ?, updated_at = ? WHERE endpoint = ? AND message_id = ?",
                (status, now_vn(), row["endpoint"], row["message_id"]),
            )
            return self._get(db, row["endpoint"], row["message_id"])

    def duplicate(self, key: str, message_id: str) -> Record | None:
        """The first record under ``key`` entered again as a new case under ``message_id`` (a divergence)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT * FROM records WHERE key = ? ORDER BY sequence LIMIT 1", (key,)
            ).fetchone()
            if row is None:
                return None
            sequence = db.execute("SELECT coalesce(max(sequence), 0) + 1 FROM records").fetchone()[0]
            values = dict(row) | {
                "message_id": message_id,
                "sequence": sequence,
                "count": 1,
                "received_at": now_vn(),
                "received_ts": time.time(),
                "updated_at": now_vn(),
            }
            db.execute(
                f"INSERT INTO records ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                tuple(values.values()),
            )
            return self._get(db, row["endpoint"], message_id)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def reset(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM records")
            db.execute("DELETE FROM steps")

    # ------------------------------------------------------------ steps

    def next_due(self) -> float | None:
        with self._lock:
            value = self._db.execute("SELECT min(due_ts) FROM steps WHERE state = 'pending'").fetchone()[0]
            return float(value) if value is not None else None

    def due_steps(self, now: float) -> list[Step]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, endpoint, message_id, step, due_ts, attempts, body, callback_id FROM steps "
                "WHERE state = 'pending' AND due_ts <= ? ORDER BY due_ts, id",
                (now,),
            )
            return [Step(**dict(row)) for row in rows]

    def steps(self, endpoint: str | None = None, message_id: str | None = None) -> list[dict[str, object]]:
        """Every step (pending and done), for the control API."""
        sql = (
            "SELECT id, endpoint, message_id, step, due_ts, state, attempts, last_error, callback_id, "
            "done_at "
            "FROM steps"
        )
        clauses = [
            c for c, v in (("endpoint = ?", endpoint), ("message_id = ?", message_id)) if v is not None
        ]
        params = [v for v in (endpoint, message_id) if v is not None]
        with self._lock:
            rows = self._db.execute(
                sql + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY id", params
            )
            return [dict(row) for row in rows]

    def hold(self, step_id: int, why: str) -> None:
        """Set a step aside until a simulator that can run it starts (one that knows the hub's URL)."""
        with self._transaction() as db:
            db.execute("UPDATE steps SET state = 'held', last_error = ? WHERE id = ?", (why, step_id))

    def release_held(self) -> int:
        """Make held steps due again; how many there were."""
        with self._transaction() as db:
            return db.execute("UPDATE steps SET state = 'pending' WHERE state = 'held'").rowcount

    def keep_body(self, step_id: int, body: bytes, callback_id: str) -> None:
        """Fix what a callback sends before its first attempt, so every retry sends the same bytes."""
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET body = ?, callback_id = ? WHERE id = ?", (body, callback_id, step_id)
            )

    def step_failed(self, step_id: int, error: str, retry_at: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET attempts = attempts + 1, last_error = ?, due_ts = ? WHERE id = ?",
                (error[:2000], retry_at, step_id),
            )

    def step_done(self, step: Step, status: str | None, next_after: float | None, *, called: bool) -> None:
        """Mark ``step`` done, set the record's status, and schedule the next step (if any), at once."""
        now = now_vn()
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET state = 'done', done_at = ?, attempts = attempts + ?, last_error = NULL "
                "WHERE id = ?",
                (now, int(called), step.id),
            )
            if status is not None:
                db.execute(
                    "UPDATE records SET status = ?, updated_at = ? WHERE endpoint = ? AND message_id = ?",
                    (status, now, step.endpoint, step.message_id),
                )
            if next_after is not None:
                db.execute(
                    "INSERT INTO steps (endpoint, message_id, step, due_ts) VALUES (?, ?, ?, ?)",
                    (step.endpoint, step.message_id, step.step + 1, time.time() + next_after),
                )
