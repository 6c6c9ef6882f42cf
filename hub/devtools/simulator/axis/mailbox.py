"""What an edXML simulator holds, in SQLite: every message carried, who has it pending, what is to answer.

The national axis keeps a mailbox per agency: a message sent to three agencies is pending for each
until that agency says ``done`` or ``fail`` (``updateStatus``), and a restarted axis has forgotten
nothing. The status packages a simulated agency is to send are rows too, with the time each is due,
so a restart resumes them. Three tables:

* ``messages`` — the bytes, their SHA-256, the transport headers (from, to, message type) and the
  edXML facts read from them (:mod:`.facts`);
* ``deliveries`` — one row per (message, recipient): ``pending``, ``processing``, ``done``, ``fail``;
* ``answers`` — status packages to send: which agency answers which message with which code, when.

One connection under a lock, as :mod:`lienthong.devtools.simulator.records` does: the handlers and
the answering task share it, and every operation is a few statements.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from lienthong.devtools.simulator.axis.facts import EdocFacts
from lienthong.devtools.simulator.records import now_vn

__all__ = ["Answer", "Mailbox", "StoredMessage"]

PENDING: Final = ("pending", "processing")
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    doc_id TEXT PRIMARY KEY, sender TEXT NOT NULL, recipients TEXT NOT NULL, message_type TEXT NOT NULL,
    service_type TEXT NOT NULL, sender_doc_id TEXT, origin TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL, facts TEXT,
    created_at TEXT NOT NULL, created_ts REAL NOT NULL, seq INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_sender_doc ON messages (sender, sender_doc_id);
CREATE TABLE IF NOT EXISTS deliveries (
    doc_id TEXT NOT NULL, agency TEXT NOT NULL, status TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (doc_id, agency)
);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, agency TEXT NOT NULL, answer_to TEXT NOT NULL,
    code TEXT NOT NULL, due_ts REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, sent_id TEXT, body BLOB, done_at TEXT
);
CREATE INDEX IF NOT EXISTS answers_due ON answers (state, due_ts);
"""
#: A pending answer with no earlier pending answer of the same agency about the same message.
_NEXT_IN_LINE: Final = (
    "a.state = 'pending' AND NOT EXISTS (SELECT 1 FROM answers b WHERE b.doc_id = a.doc_id "
    "AND b.agency = a.agency AND b.state = 'pending' AND b.id < a.id)"
)


@dataclass(frozen=True)
class StoredMessage:
    """One message as the simulator holds it."""

    doc_id: str
    sender: str
    recipients: tuple[str, ...]
    message_type: str
    service_type: str
    sender_doc_id: str | None
    origin: str  # sent (sendEdoc), injected (/_sim/inject), answer (a simulated agency's status)
    sha256: str
    size: int
    created_at: str
    facts: EdocFacts | None
    body: bytes = field(repr=False)

    def public(self, status: str | None = None) -> dict[str, object]:
        """As inspection shows it: the protocol's names, the edXML facts, no bytes."""
        shown: dict[str, object] = {
            "docId": self.doc_id,
            "from": self.sender,
            "to": ",".join(self.recipients),
            "messageType": self.message_type,
            "serviceType": self.service_type,
        }
        if status is not None:
            shown["status"] = status
        shown |= {
            "sha256": self.sha256,
            "size": self.size,
            "createdTime": self.created_at,
            "origin": self.origin,
            "edxml": self.facts.public() if self.facts is not None else None,
        }
        return shown


@dataclass(frozen=True)
class Answer:
    """A status package a simulated agency is to send (or has sent)."""

    id: int
    doc_id: str  # the message answered
    agency: str  # who answers
    answer_to: str  # who gets the answer
    code: str
    due_ts: float
    attempts: int
    body: bytes | None


def _facts(text: str | None) -> EdocFacts | None:
    if not text:
        return None
    data = json.loads(text)
    data["recipients"] = tuple(data["recipients"])
    data["quirks"] = tuple(data.get("quirks", ()))
    return EdocFacts(**data)


class Mailbox:
    """The simulator's messages, deliveries and answers in one SQLite database (a file, or ``:memory:``)."""

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

    def reset(self) -> None:
        with self._transaction() as db:
            for table in ("messages", "deliveries", "answers"):
                db.execute(f"DELETE FROM {table}")

    # ------------------------------------------------------------ messages

    def put(
        self,
        *,
        sender: str,
        recipients: Sequence[str],
        message_type: str,
        body: bytes,
        sha256: str,
        facts: EdocFacts | None,
        origin: str,
        service_type: str = "eDoc",
        sender_doc_id: str | None = None,
        answers: Sequence[tuple[str, str, float]] = (),
    ) -> tuple[StoredMessage, bool]:
        """Keep a message, pending for each recipient, with the answers it calls for
        (``(agency, code, due_ts)``) in the same transaction. A ``sender_doc_id`` already sent by
        ``sender`` is a retry: the message held is returned (True) and nothing is added; the caller
        compares its hash."""
        with self._transaction() as db:
            if sender_doc_id is not None:
                row = db.execute(
                    "SELECT * FROM messages WHERE sender = ? AND sender_doc_id = ?", (sender, sender_doc_id)
                ).fetchone()
                if row is not None:
                    return self._message(row), True
            doc_id = self._insert(
                db, sender, recipients, message_type, body, sha256, facts, origin, service_type, sender_doc_id
            )
            db.executemany(
                "INSERT INTO answers (doc_id, agency, answer_to, code, due_ts) VALUES (?, ?, ?, ?, ?)",
                [(doc_id, agency, sender, code, due) for agency, code, due in answers],
            )
            row = db.execute("SELECT * FROM messages WHERE doc_id = ?", (doc_id,)).fetchone()
            return self._message(row), False

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        sender: str,
        recipients: Sequence[str],
        message_type: str,
        body: bytes,
        sha256: str,
        facts: EdocFacts | None,
        origin: str,
        service_type: str,
        sender_doc_id: str | None,
    ) -> str:
        doc_id = str(uuid.uuid4())
        seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM messages").fetchone()[0]
        now, now_ts = now_vn(), time.time()
        db.execute(
            "INSERT INTO messages (doc_id, sender, recipients, message_type, service_type, sender_doc_id, "
            "origin, sha256, size, body, facts, created_at, created_ts, seq) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                doc_id, sender, ",".join(recipients), message_type, service_type, sender_doc_id, origin,
                sha256, len(body), body, json.dumps(facts.public()) if facts else None, now, now_ts, seq,
            ),
        )  # fmt: skip
        db.executemany(
            "INSERT OR IGNORE INTO deliveries (doc_id, agency, status, updated_at) VALUES (?, ?, ?, ?)",
            [(doc_id, agency, "pending", now) for agency in recipients],
        )
        return doc_id

    def post_answer(self, answer: Answer, body: bytes, sha256: str, facts: EdocFacts | None) -> str:
        """Put a simulated agency's status package in the mailbox of the one it answers, mark the
        answer sent and the message answered as taken by that agency (it read it), all at once."""
        with self._transaction() as db:
            doc_id = self._insert(
                db, answer.agency, [answer.answer_to], "status", body, sha256, facts, "answer", "eDoc", None
            )
            db.execute(
                "UPDATE answers SET state = 'done', attempts = attempts + 1, last_error = NULL, sent_id = ?, "
                "done_at = ? WHERE id = ?",
                (doc_id, now_vn(), answer.id),
            )
            db.execute(
                "UPDATE deliveries SET status = 'done', updated_at = ? WHERE doc_id = ? AND agency = ? "
                "AND status IN ('pending', 'processing')",
                (now_vn(), answer.doc_id, answer.agency),
            )
            return doc_id

    @staticmethod
    def _message(row: sqlite3.Row) -> StoredMessage:
        return StoredMessage(
            doc_id=row["doc_id"],
            sender=row["sender"],
            recipients=tuple(r for r in row["recipients"].split(",") if r),
            message_type=row["message_type"],
            service_type=row["service_type"],
            sender_doc_id=row["sender_doc_id"],
            origin=row["origin"],
            sha256=row["sha256"],
            size=row["size"],
            created_at=row["created_at"],
            facts=_facts(row["facts"]),
            body=row["body"],
        )

    def get(self, doc_id: str) -> StoredMessage | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE doc_id = ?", (doc_id,)).fetchone()
            return self._message(row) if row is not None else None

    def messages(self, limit: int = 1000) -> list[StoredMessage]:
        """Everything held, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages ORDER BY seq LIMIT ?", (limit,)).fetchall()
            return [self._message(row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    # ------------------------------------------------------------ deliveries

    def mailbox(
        self, agency: str, *, pending_only: bool = False, message_type: str | None = None
    ) -> list[tuple[StoredMessage, str]]:
        """The messages addressed to ``agency`` with its delivery status, oldest first."""
        sql = (
            "SELECT m.*, d.status AS delivery_status FROM deliveries d JOIN messages m USING (doc_id) "
            "WHERE d.agency = ?"
        )
        params: list[object] = [agency]
        if pending_only:
            sql += " AND d.status IN (?, ?)"
            params += PENDING
        if message_type is not None:
            sql += " AND m.message_type = ?"
            params.append(message_type)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY m.seq", params).fetchall()
            return [(self._message(row), row["delivery_status"]) for row in rows]

    def delivery(self, doc_id: str, agency: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status FROM deliveries WHERE doc_id = ? AND agency = ?", (doc_id, agency)
            ).fetchone()
            return str(row[0]) if row is not None else None

    def set_delivery(self, doc_id: str, agency: str, status: str) -> bool:
        """Record ``agency``'s status of a message addressed to it; False when it is not."""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE deliveries SET status = ?, updated_at = ? WHERE doc_id = ? AND agency = ?",
                (status, now_vn(), doc_id, agency),
            ).rowcount
            return bool(changed)

    # ------------------------------------------------------------ answers

    def next_due(self) -> float | None:
        with self._lock:
            value = self._db.execute(f"SELECT min(due_ts) FROM answers a WHERE {_NEXT_IN_LINE}").fetchone()[0]
            return float(value) if value is not None else None

    def due_answers(self, now: float) -> list[Answer]:
        """The answers due, each the first still pending of its (message, agency): an agency's packages
        about one message go out in order, a retried 03 before the 05 after it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, doc_id, agency, answer_to, code, due_ts, attempts, body FROM answers a "
                f"WHERE {_NEXT_IN_LINE} AND due_ts <= ? ORDER BY due_ts, id",
                (now,),
            ).fetchall()
            return [Answer(**dict(row)) for row in rows]

    def answers(self, doc_id: str | None = None) -> list[dict[str, object]]:
        """Every answer, pending and done, for the control API (no bytes)."""
        sql = (
            "SELECT id, doc_id, agency, answer_to, code, due_ts, state, attempts, last_error, sent_id, "
            "done_at FROM answers"
        )
        with self._lock:
            if doc_id is None:
                rows = self._db.execute(sql + " ORDER BY id").fetchall()
            else:
                rows = self._db.execute(sql + " WHERE doc_id = ? ORDER BY id", (doc_id,)).fetchall()
            return [dict(row) for row in rows]

    def keep_answer_body(self, answer_id: int, body: bytes) -> None:
        """Fix what an answer sends before its first attempt, so every retry sends the same bytes."""
        with self._transaction() as db:
            db.execute("UPDATE answers SET body = ? WHERE id = ?", (body, answer_id))

    def answer_failed(self, answer_id: int, error: str, retry_at: float | None) -> None:
        """One attempt failed: try again at ``retry_at``, or never (None: the answer was refused)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET attempts = attempts + 1, last_error = ?, due_ts = coalesce(?, due_ts), "
                "state = CASE WHEN ? IS NULL THEN 'refused' ELSE state END WHERE id = ?",
                (error[:2000], retry_at, retry_at, answer_id),
            )

    def answer_done(self, answer_id: int, sent_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET state = 'done', attempts = attempts + 1, last_error = NULL, sent_id = ?, "
                "done_at = ? WHERE id = ?",
                (sent_id, now_vn(), answer_id),
            )
