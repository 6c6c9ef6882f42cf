"""Table definitions. Alembic migrations must equal this metadata (a test compares them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def driver_processor(self, dialect: Dialect) -> Callable[[datetime | None], datetime | str | None]:
        """What SQLAlchemy's bind processor for this type gives the driver, in one call: the hot
        statements (_sqlfast.py) convert several datetimes a row, and the processor SQLAlchemy builds
        is two Python functions deep (process_bind_param, then the dialect's DateTime), SQLite's
        second one formatting through a dict. _sqlfast uses this one only where it gives the same
        values (it checks; tests/unit/test_sql_fast_values.py compares many)."""
        return _sqlite_text if dialect.name == "sqlite" else _utc_or_none

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return _as_utc(value)

    def driver_result_processor(self, dialect: Dialect) -> Callable[[Any], datetime | None]:
        """What SQLAlchemy's result processor for this type makes of the driver's value, in one call:
        the claim's rows (_sqlfast.DriverQuery) convert several datetimes each, through three Python
        calls a value (TypeDecorator's wrapper, the dialect's DateTime processor, process_result_value).
        _sqlfast uses this one only where it gives the same values (it checks; tests compare)."""
        return _utc_from_sqlite if dialect.name == "sqlite" else _as_utc


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return value.astimezone(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    """A datetime read back, in UTC: a naive one (SQLite's) is UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_from_sqlite(value: str | None) -> datetime | None:
    """SQLite's DATETIME text (:func:`_sqlite_text`) read back in UTC, as SQLAlchemy's processor
    (``datetime.fromisoformat``) and :meth:`UtcDateTime.process_result_value` read it."""
    if value is None:
        return None
    read = datetime.fromisoformat(value)
    return read.replace(tzinfo=UTC) if read.tzinfo is None else read.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _sqlite_text(value: datetime | None) -> str | None:
    """UTC as SQLite's DATETIME stores it: 'YYYY-MM-DD HH:MM:SS.ffffff' (datetime's own isoformat,
    not a subclass's)."""
    if value is None:
        return None
    return datetime.isoformat(_utc(value).replace(tzinfo=None), " ", "microseconds")


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Accepted messages. Rows are inserted once and never updated or deleted.
messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("sender_message_id", String(200), nullable=False),
    Column("recipient", String(64)),
    Column("procedure_code", String(64)),
    Column("dossier_code", String(64)),
    Column("document_id", String(256)),
    Column("document_type", String(64)),
    Column("correlation_id", Uuid, nullable=False),
    Column("causation_id", Uuid),
    Column("content_type", String(200), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Index(None, "correlation_id"),
    Index(None, "dossier_code"),
    Index(None, "document_id"),
    Index(None, "received_at"),
)

#: A message's payload, in a table of its own with the blob its last column: SQLite builds a record in
#: memory when a blob it must expand (``zeroblob``, _blobs.py) is not the last column of its row, and
#: readers of a message's metadata never need its bytes. Written with the message, never changed.
message_payloads = Table(
    "message_payloads",
    metadata,
    Column("message_id", Uuid, ForeignKey("messages.id"), primary_key=True),
    Column("payload", LargeBinary, nullable=False),
)

#: Every document an edXML message is about, beyond the one in ``messages.document_id``: a document's
#: own DocumentId (``self``), the documents a revocation, update or replacement names (``revokes``,
#: ``updates``, ``replaces``: a replacement may name several), a status package's document
#: (``answers``). Written with the message, from its ``edxml.*`` headers, never changed.
document_links = Table(
    "document_links",
    metadata,
    Column("message_id", Uuid, ForeignKey("messages.id"), primary_key=True),
    Column("document_id", String(256), primary_key=True),
    Column("role", String(16), primary_key=True),
    Index(None, "document_id"),
)

#: (sender, sender's message id) → the message it created: what makes intake idempotent.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("sender", String(64), primary_key=True),
    Column("sender_message_id", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("message_id", Uuid, ForeignKey("messages.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: Every routing decision taken for a message, oldest first; the newest is the one in force.
route_decisions = Table(
    "route_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", Uuid, ForeignKey("messages.id"), nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("rule", String(100)),
    Column("targets", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Index(None, "message_id"),
    Index(None, "status"),
)

#: One row per message × target: the outbox that workers drain.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", Uuid, ForeignKey("messages.id"), nullable=False),
    Column("target", String(63), nullable=False),
    Column("operation", String(100)),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("round_attempts", Integer, nullable=False),
    Column("round_started_at", UtcDateTime),
    Column("next_attempt_at", UtcDateTime),
    Column("claimed_by", String(200)),
    Column("lease_until", UtcDateTime),
    Column("last_error", Text),
    Column("content_type", String(200), nullable=False),
    Column("response", LargeBinary),
    Column("response_status", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    UniqueConstraint("message_id", "target"),
    Index(None, "state", "next_attempt_at"),
    Index(None, "target", "state"),
)

#: The deliveries a worker may claim, in the order it claims them (0010). Partial, so that it holds
#: only the queued and failed rows, not the delivered ones that pile up; the claim walks it in
#: ``next_attempt_at`` order and stops at its limit, where the (state, next_attempt_at) index, read for
#: two states, had the database sort every due row first (a backlog of 300,000: a sort per claim).
#: With the target in it, a claim that leaves out the targets whose circuit is open skips their rows
#: in the index itself, without reading each row. The claim's WHERE must repeat the condition word for
#: word (_sqlclaim.py) for the index to apply.
DUE_STATES_SQL = "state IN ('queued', 'failed')"
Index(
    "ix_deliveries_due",
    deliveries.c.next_attempt_at,
    deliveries.c.target,
    sqlite_where=text(DUE_STATES_SQL),
    postgresql_where=text(DUE_STATES_SQL),
)

#: A delivery's payload, apart from its row: a delivery row is updated at its claim, every lease
#: heartbeat and its outcome, and SQLite rewrites every column of a row it updates, overflow pages
#: included. Written once when the delivery is created, read only when it is attempted (or shown).
delivery_payloads = Table(
    "delivery_payloads",
    metadata,
    Column("delivery_id", BigId, ForeignKey("deliveries.id"), primary_key=True, autoincrement=False),
    Column("payload", LargeBinary, nullable=False),
)

#: Attempt history: who tried, when, and what came back. Never rewritten once finished.
attempts = Table(
    "attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", BigId, ForeignKey("deliveries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("worker", String(200), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("outcome", String(16)),
    Column("error", Text),
    Column("response_status", Integer),
    Column("request", LargeBinary),
    Column("response", LargeBinary),
    UniqueConstraint("delivery_id", "number"),
)

#: One row per polled group (``<adapter>/<poll>/<group>``): who polls it now and when it is next due,
#: so that several hub processes poll each group once per interval, never two at a time.
poll_state = Table(
    "poll_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("owner", String(200)),
    Column("lease_until", UtcDateTime),
    Column("next_due_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# ---------------------------------------------------------------- reconciliation (hub/reconcile, 0008)

#: One reconciliation run of one adapter: when, by whom, over which window, and what it found.
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("adapter", String(63), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("until", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("state", String(16), nullable=False),
    Column("held", Integer, nullable=False),
    Column("compared", Integer, nullable=False),
    Column("found", Integer, nullable=False),
    Column("new", Integer, nullable=False),
    Column("healed", Integer, nullable=False),
    Column("reported", Integer, nullable=False),
    Column("error", Text),
    Index(None, "adapter", "started_at"),
)

#: One difference a run found: its kind, what each side holds, the cause, the healing (or none).
reconciliation_findings = Table(
    "reconciliation_findings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId, ForeignKey("reconciliation_runs.id"), nullable=False),
    Column("adapter", String(63), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("new", Boolean, nullable=False),
    Column("dossier_code", String(64)),
    Column("message_id", String(200)),
    Column("system_status", String(64)),
    Column("hub_status", String(64)),
    Column("one_stop_status", String(64)),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("cause", Text, nullable=False),
    Column("healing_message_id", Uuid),
    Column("delivery_id", BigInteger),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "run_id"),
    Index(None, "dossier_code"),
    Index(None, "fingerprint"),
)

# ---- notify (docs/notify.md)

#: Every status report examined for a citizen's notice, once: the notices themselves are messages
#: (kind status, from the hub, routed to the email and SMS adapters), keyed by dossier, status and
#: channel in ``idempotency_keys``; this table only says the report was looked at, and what came of it
#: (sent, repeat, no-contact, no-template, unreadable, refused), so a round never reads it again.
notice_checks = Table(
    "notice_checks",
    metadata,
    Column("message_id", Uuid, ForeignKey("messages.id"), primary_key=True),
    Column("dossier_code", String(64)),
    Column("status", String(8)),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
    Column("checked_at", UtcDateTime, nullable=False),
    Index(None, "dossier_code"),
)

# ---------------------------------------------------------------- the auditor's log (issue 12, 0006)

#: The log itself: one canonical JSON entry per leaf of the RFC 6962 tree, in sealing order. The sealer
#: (lienthong.audit.seal) writes entries from the immutable rows below; ``source``/``source_key`` name
#: the row an entry was sealed from, so that no row is sealed twice and none is forgotten. Never updated
#: or deleted: payloads and metadata age out, entries (which hold only hashes) stay.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("source_key", String(64), nullable=False),
    Column("message_id", Uuid),
    Column("dossier_code", String(64)),
    Column("document_id", String(256)),
    Column("agency", String(64)),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    UniqueConstraint("source", "source_key"),
    Index(None, "dossier_code"),
    Index(None, "document_id"),
    Index(None, "agency"),
    Index(None, "message_id"),
)

#: Signed tree heads, each naming the hash of the one before: what an auditor holds the hub to.
tree_heads = Table(
    "tree_heads",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("previous", LargeBinary),
    Column("head", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("certificate", LargeBinary, nullable=False),
    Column("timestamp_token", LargeBinary),
)

#: Refusals at the hub's edge (REST and SOAP): reason, who, what — never a payload nor a key.
refusals = Table(
    "refusals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("agency", String(64)),
    Column("service", String(200)),
    Column("remote", String(200)),
    Column("detail", Text, nullable=False),
    Column("payload_sha256", String(64)),
    Index(None, "at"),
)

#: What operators did (replay, re-route, key change, console actions): who, in which role, to what.
operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256)),
    Column("detail", JSON, nullable=False),
    Index(None, "at"),
)

# What the sealer reads by time: decisions and finished attempts since the last sealed entry.
Index("ix_route_decisions_decided_at", route_decisions.c.decided_at)
Index("ix_attempts_finished_at", attempts.c.finished_at)

# ---------------------------------------------------------------- console (issue 12: the web console)

#: People who may sign in to the web console (hub/console/): a role and an argon2 hash of the password,
#: never the password. A user is disabled, never deleted, so the operator actions naming them stay
#: attributable.
console_users = Table(
    "console_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
)

#: Console sessions, server-side: the cookie holds a random token, the row only its SHA-256, so a copy
#: of the database opens no session. Logout deletes the row; a session past ``expires_at`` is refused.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_name", String(64), ForeignKey("console_users.name"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "user_name"),
)
