"""The auditor's log over the store's database: sealing entries, reading them, and the signed heads.

``AuditLog(engine)`` is a feature store beside ``SqlStore`` on the same engine. Writing is done by
:meth:`AuditLog.seal` (called by the background sealer, never on the request path) and
:meth:`AuditLog.add_head`; everything else reads.

Which rows are still unsealed is decided by the rows themselves, not by id order: PostgreSQL hands out
sequence values before transactions commit, so a row with a lower id may become visible after a higher
one was sealed. Each source row is looked for by its own key in ``audit_entries`` (``source``,
``source_key`` is unique), among the rows stamped since the last sealed entry's time less a grace period
(``SEAL_GRACE``, far longer than any of the hub's transactions). The first seal of a log reads every
row. ``hub audit verify`` checks that no row older than the grace period was left out.

What a tick costs grows with the rows in its window, not with the log: a tick looks back ``TICK_GRACE``
(longer than a transaction of the hub takes to commit), and only every ``FULL_SCAN_INTERVAL`` the
whole ``SEAL_GRACE``, which catches a row that became visible later still (sealed then, at an index
after the entries sealed meanwhile: docs/audit.md says what is guaranteed). At 100 messages a second a
5-minute window is 90,000 rows to look up in the log: every second, that was a sixth of a core on SQLite.
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from time import monotonic
from typing import Any, Final, NamedTuple

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Integer,
    Text,
    and_,
    bindparam,
    cast,
    column,
    create_engine,
    exists,
    func,
    insert,
    or_,
    select,
    table,
    true,
    type_coerce,
)
from sqlalchemy import String as SqlString
from sqlalchemy.sql import Select
from sqlalchemy.types import NullType

from lienthong.audit import entries as build
from lienthong.audit.merkle import CompactRange, leaf_hash
from lienthong.store._sqlcopy import send_copy
from lienthong.store._sqlfast import DriverStatement
from lienthong.store.schema import (
    attempts,
    audit_entries,
    deliveries,
    message_payloads,
    messages,
    operator_actions,
    refusals,
    route_decisions,
    tree_heads,
)

#: How late a row may become visible after the time it carries and still be sealed by the windowed scan.
SEAL_GRACE: Final = timedelta(minutes=5)
#: How far back an ordinary tick looks: a row visible later than this is sealed by the next full scan.
#: A row becomes visible when its transaction commits, a little after the time it carries (an accept's
#: received_at is taken before its group is prepared and committed, an outcome's finished_at before its
#: commit): milliseconds, seconds when the write lock or an fsync is slow. Every tick reads every row of
#: its look-back again (about once a second), so what a tick costs grows with it; 5 s covers the
#: commits of a loaded hub (and clocks of several hub hosts kept in step), and the minute's full scan
#: seals whatever comes later.
TICK_GRACE: Final = timedelta(seconds=5)
#: How often (seconds, per process) a tick looks back the whole SEAL_GRACE.
FULL_SCAN_INTERVAL: Final = 60.0
#: Rows sealed per transaction at most, per source.
SEAL_BATCH: Final = 2000


#: ``audit_entries`` without column types: the sealer writes back the source rows' own values (times
#: and ids as the database gave them), so nothing is converted twice on the way through.
_UNTYPED_ENTRIES: Final = table("audit_entries", *(column(c.name) for c in audit_entries.c))
#: The columns the sealer writes (each entry's row is a dict of them, what DriverStatement takes).
_ENTRY_COLUMNS: Final = tuple(c.name for c in audit_entries.c)
#: A tick's fixed statements, built once (building a statement costs more than running these).
_LAST_ENTRY: Final = (
    select(audit_entries.c.leaf_index, audit_entries.c.at)
    .order_by(audit_entries.c.leaf_index.desc())
    .limit(1)
)
_LOG_END: Final = select(func.max(audit_entries.c.leaf_index))


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the log holds it."""

    leaf_index: int
    kind: str
    at: datetime
    source: str
    source_key: str
    message_id: uuid.UUID | None
    dossier_code: str | None
    document_id: str | None
    agency: str | None
    entry: bytes
    leaf_hash: bytes


class VerifyRow(NamedTuple):
    leaf_index: int
    kind: str
    dossier_code: str | None
    document_id: str | None
    message_id: str | None
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredHead:
    """A signed tree head as the log holds it: ``head`` is its canonical bytes (lienthong.audit.heads)."""

    size: int
    root: bytes
    at: datetime
    previous: bytes | None
    head: bytes
    signature: bytes
    certificate: bytes
    timestamp_token: bytes | None


def _unsealed(source: str, key: Any) -> Any:
    return ~exists().where(audit_entries.c.source == source, audit_entries.c.source_key == key)


def source_key_column(source: str) -> Any:
    """The expression of a source row's ``source_key`` (messages are matched on ``message_id``)."""
    table = {"route_decisions": route_decisions, "attempts": attempts, "refusals": refusals}.get(
        source, operator_actions
    )
    return cast(table.c.id, SqlString)


def _raw(*columns: Any) -> list[Any]:
    """Columns read as the database holds them, with no per-value conversion (see entries.time_text);
    JSON as its text, which the entry builder decodes (cheaper than the driver's own JSON loader).

    Every column of the source queries is read this way: Core then has no result processor for any
    of them (untyped, or Text), so the driver's own rows are the rows Core would give, and the sealer
    reads them from the cursor (see :func:`_fetch`)."""
    return [
        (cast(c, Text) if isinstance(c.type, JSON) else type_coerce(c, NullType())).label(c.name)
        for c in columns
    ]


def source_queries(since: datetime | None, *, unsealed: bool = True) -> dict[str, tuple[Select[Any], Any]]:
    """Per source table: a query of its rows (with what the entry needs) and the column it is stamped by;
    only the rows not yet in the log when ``unsealed``."""

    def fresh(source: str, key: Any) -> Any:
        return _unsealed(source, key) if unsealed else true()

    message_fresh = (
        ~exists().where(audit_entries.c.source == "messages", audit_entries.c.message_id == messages.c.id)
        if unsealed
        else true()
    )
    m = messages.c
    refs = (m.dossier_code, m.document_id, m.sender)
    r, a, d = route_decisions.c, attempts.c, deliveries.c
    queries: dict[str, tuple[Select[Any], Any]] = {
        "messages": (
            select(
                *_raw(
                    m.id,
                    m.received_at,
                    m.correlation_id,
                    m.causation_id,
                    m.headers,
                    m.kind,
                    m.sender,
                    m.sender_message_id,
                    m.recipient,
                    m.procedure_code,
                    m.dossier_code,
                    m.document_id,
                    m.document_type,
                    m.content_type,
                    m.payload_sha256,
                ),
                type_coerce(func.length(message_payloads.c.payload), NullType()).label("payload_size"),
            )
            .select_from(messages.outerjoin(message_payloads, message_payloads.c.message_id == m.id))
            .where(message_fresh),
            m.received_at,
        ),
        "route_decisions": (
            select(*_raw(r.message_id, r.decided_at, r.targets, r.id, r.status, r.rule, r.reason, *refs))
            .join(messages, m.id == r.message_id)
            .where(fresh("route_decisions", cast(r.id, SqlString))),
            r.decided_at,
        ),
        "attempts": (
            select(
                *_raw(
                    d.message_id,
                    a.started_at,
                    a.finished_at,
                    a.id,
                    a.delivery_id,
                    a.number,
                    a.worker,
                    a.outcome,
                    a.error,
                    a.response_status,
                    a.request,
                    a.response,
                    d.target,
                    d.operation,
                    *refs,
                )
            )
            .join(deliveries, d.id == a.delivery_id)
            .join(messages, m.id == d.message_id)
            .where(a.finished_at.is_not(None), fresh("attempts", cast(a.id, SqlString))),
            a.finished_at,
        ),
        "refusals": (
            select(*_raw(refusals.c.at, *(c for c in refusals.c if c.name != "at"))).where(
                fresh("refusals", cast(refusals.c.id, SqlString))
            ),
            refusals.c.at,
        ),
        "operator_actions": (
            select(
                *_raw(
                    operator_actions.c.at,
                    operator_actions.c.detail,
                    *(c for c in operator_actions.c if c.name not in ("at", "detail")),
                )
            ).where(fresh("operator_actions", cast(operator_actions.c.id, SqlString))),
            operator_actions.c.at,
        ),
    }
    if since is not None:
        queries = {name: (query.where(column >= since), column) for name, (query, column) in queries.items()}
    return queries


@cache
def sealer_queries(windowed: bool) -> tuple[tuple[str, Select[Any], type[tuple[Any, ...]]], ...]:
    """The sealer's queries of unsealed rows, per source in ``SOURCES`` order, ordered by time and
    limited by the ``batch`` parameter, stamped since the ``since`` parameter when ``windowed``; with
    each, the named tuple its rows are read as (the query's column names, in its order).

    Built once per process rather than every tick: building the five statements took the sealer
    several milliseconds a tick, more than the database took to run them. A statement built once is
    also compiled once per dialect (SQLAlchemy's cache keys it by the statement, memoised on it)."""
    queries = []
    for source, (rows, stamp) in source_queries(None).items():
        query = rows.where(stamp >= bindparam("since", type_=stamp.type)) if windowed else rows
        query = query.order_by(stamp).limit(bindparam("batch", type_=Integer()))
        queries.append((source, query, _row_type(source, query)))
    return tuple(queries)


def _row_type(source: str, query: Select[Any]) -> type[tuple[Any, ...]]:
    """A named tuple of ``query``'s columns: what the builders read a row as (by attribute)."""
    return namedtuple(f"{source}_row", list(query.selected_columns.keys()))


def _fetch(conn: Connection, query: Select[Any], params: dict[str, Any], row: Any) -> list[Any]:
    """``query``'s rows as ``row`` tuples, straight from the driver's cursor.

    Core would make a Row of each and hand back the same values (no column of a source query has a
    result processor: see :func:`_raw`); its Rows cost the sealer ~5 µs a row, most of it the builders'
    twenty attribute lookups through ``Row.__getattr__``, against a named tuple's C field access.
    The statement still runs through Core (its compiled cache, bind processors, events, errors)."""
    result = conn.execute(query, params)
    try:
        return list(map(row._make, result.cursor.fetchall()))
    finally:
        result.close()


#: Per source, the entry builder of its rows.
_BUILDERS: Final = {
    "messages": lambda row: build.message_in(row, row.payload_size),
    "route_decisions": build.route,
    "attempts": build.attempt,
    "refusals": build.refusal,
    "operator_actions": build.operator_action,
}
_SOURCE_RANK: Final = {source: rank for rank, source in enumerate(build.SOURCES)}


def entry_of(source: str, row: Any) -> build.Entry:
    """The entry a source row is sealed as (before its index is known)."""
    return _BUILDERS[source](row)


def entry_row(entry: build.Entry, index: int) -> dict[str, Any]:
    """The ``audit_entries`` row of ``entry`` sealed as leaf ``index`` as the mapping
    ``DriverStatement`` inserts (:func:`entry_values` by column name)."""
    return dict(zip(_ENTRY_COLUMNS, entry_values(entry, index), strict=True))


def entry_values(entry: build.Entry, index: int) -> tuple[Any, ...]:
    """The ``audit_entries`` row of ``entry`` sealed as leaf ``index``, in the table's column order (a
    row of the COPY): its bytes, their leaf hash and the columns it is searched by."""
    data = entry.sealed(index)
    return (
        index,
        entry.kind,
        entry.at,
        entry.source,
        entry.source_key,
        entry.message_id,
        entry.dossier_code,
        entry.document_id,
        entry.agency,
        data,
        leaf_hash(data),
    )


def _seal_order(entry: build.Entry) -> tuple[Any, int, str]:
    """Time, then the source's place in ``SOURCES``, then the source key: the order entries are sealed in."""
    return (entry.at, _SOURCE_RANK[entry.source], entry.source_key)


#: The sealer's insert, sent as driver SQL (the store's DriverStatement): the values are already the
#: database's own (``_UNTYPED_ENTRIES`` has no column types), and Core's per-row parameter building cost
#: the sealer as much as the database's insert.
_INSERT_ENTRIES: Final = DriverStatement(insert(_UNTYPED_ENTRIES).inline(), _ENTRY_COLUMNS)
#: On PostgreSQL (psycopg) two entries or more go in by one binary COPY instead (store/_sqlcopy.py):
#: per row, entry building included, ~12 µs of the hub's CPU against ~4 (150 rows), ~50 against ~28
#: (3 rows). The values are those the INSERT would be given (the source rows' own: an aware datetime
#: for ``at``, a UUID for ``message_id``), written by psycopg's binary dumpers of the column types
#: below (tests/integration/test_audit_copy.py compares the rows stored both ways, column by column,
#: and these types with the table's).
_COPY_ENTRIES: Final = f"COPY audit_entries ({', '.join(_ENTRY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES: Final = (
    "int8",  # leaf_index
    "varchar",  # kind
    "timestamptz",  # at
    "varchar",  # source
    "varchar",  # source_key
    "uuid",  # message_id
    "varchar",  # dossier_code
    "varchar",  # document_id
    "varchar",  # agency
    "bytea",  # entry
    "bytea",  # leaf_hash
)


class AuditLog:
    """The log's tables on ``engine`` (the store's own)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._plain: Engine | None = None
        #: When this process's next tick looks back the whole SEAL_GRACE (the first one does).
        self._full_scan_at = 0.0

    def _reader(self) -> Engine:
        """What the sealer reads through. The store's SQLite engine begins every transaction with
        BEGIN IMMEDIATE (the write lock); a plain engine on the same file reads a WAL snapshot beside
        the writers instead. Other backends (and in-memory SQLite) read through the store's engine."""
        url = self.engine.url
        if self.engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
            return self.engine
        if self._plain is None:
            self._plain = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        return self._plain

    def close(self) -> None:
        """Let go of the reader's connections (the store's engine is the store's to close)."""
        if self._plain is not None:
            self._plain.dispose()
            self._plain = None

    # ------------------------------------------------------------------ sealing

    def size(self) -> int:
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(audit_entries.c.leaf_index))).scalar()
        return 0 if last is None else int(last) + 1

    def seal(self, batch: int = SEAL_BATCH) -> int:
        """Seal every source row not yet in the log (up to ``batch`` per source) at consecutive leaf
        indices in the order of their times. Returns how many were sealed.

        The rows are read and the entries built outside the write transaction (on SQLite through a
        reader that does not take the write lock), so intake waits for the log only while the entries
        are inserted. Two sealers at once cannot both succeed: the write checks that the log has not
        grown since the read, and leaf indices and source keys are unique; the loser seals nothing."""
        with self._reader().connect() as conn:
            last = conn.execute(_LAST_ENTRY).first()
            start = 0 if last is None else int(last.leaf_index) + 1
            full = monotonic() >= self._full_scan_at
            params = {"batch": batch}
            if last is not None:
                params["since"] = last.at - (SEAL_GRACE if full else TICK_GRACE)
            found: list[build.Entry] = []
            cutoff: Any = None
            for source, query, row in sealer_queries(last is not None):
                rows = _fetch(conn, query, params, row)
                if not rows:
                    continue
                built = _BUILDERS[source]
                found.extend(map(built, rows))
                if len(rows) == batch:  # more wait: nothing later than its last may be sealed yet
                    cutoff = found[-1].at if cutoff is None else min(cutoff, found[-1].at)
        if cutoff is not None:
            found = [entry for entry in found if entry.at <= cutoff]
        elif full:  # the whole window was read to its end: ordinary ticks until the next full scan
            self._full_scan_at = monotonic() + FULL_SCAN_INTERVAL
        if not found:
            return 0
        found.sort(key=_seal_order)
        # One row: the INSERT (a COPY's setup costs more than one row's INSERT, ~74 against ~58 µs).
        copying = self.engine.dialect.driver == "psycopg" and len(found) > 1
        make = entry_values if copying else entry_row
        values: list[Any] = [make(entry, index) for index, entry in enumerate(found, start)]
        with self.engine.begin() as conn:
            now = conn.execute(_LOG_END).scalar()
            if (0 if now is None else int(now) + 1) != start:
                return 0  # another sealer was quicker: read again at the next tick
            if not copying:
                _INSERT_ENTRIES.execute(conn, values)
            elif send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, values) is None:  # echo, events: Core's way
                _INSERT_ENTRIES.execute(conn, [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in values])
        return len(values)

    # ------------------------------------------------------------------ reading

    def entries_for(
        self,
        *,
        dossier_code: str | None = None,
        document_id: str | None = None,
        message_id: uuid.UUID | None = None,
        agency: str | None = None,
        limit: int = 10_000,
    ) -> list[StoredEntry]:
        """The entries about one dossier, document, message or agency, in log order (indexed lookups)."""
        conditions = []
        if dossier_code is not None:
            conditions.append(audit_entries.c.dossier_code == dossier_code)
        if document_id is not None:
            conditions.append(audit_entries.c.document_id == document_id)
        if message_id is not None:
            conditions.append(audit_entries.c.message_id == message_id)
        if agency is not None:
            conditions.append(audit_entries.c.agency == agency)
        if not conditions:
            raise ValueError("name a dossier code, document id, message id or agency")
        query = (
            select(audit_entries).where(and_(*conditions)).order_by(audit_entries.c.leaf_index).limit(limit)
        )
        with self.engine.connect() as conn:
            return [StoredEntry(**row._mapping) for row in conn.execute(query)]

    def entries_with_message_ids(self, message_ids: Sequence[uuid.UUID]) -> list[StoredEntry]:
        """Entries about any of these messages (a dossier's attempts and routes carry them too)."""
        if not message_ids:
            return []
        query = (
            select(audit_entries)
            .where(or_(*(audit_entries.c.message_id == m for m in message_ids)))
            .order_by(audit_entries.c.leaf_index)
        )
        with self.engine.connect() as conn:
            return [StoredEntry(**row._mapping) for row in conn.execute(query)]

    def iter_entries(self, start: int = 0, chunk: int = 20_000) -> Iterator[StoredEntry]:
        """Every entry in leaf order, read in chunks (verify streams a million of these)."""
        columns = [audit_entries.c[name] for name in StoredEntry.__dataclass_fields__]
        after = start - 1
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(*columns)
                    .where(audit_entries.c.leaf_index > after)
                    .order_by(audit_entries.c.leaf_index)
                    .limit(chunk)
                ).all()
                if not rows:
                    return
                for row in rows:
                    yield StoredEntry(*row)
                after = rows[-1].leaf_index

    def iter_for_verify(self, chunk: int = 20_000) -> Iterator[VerifyRow]:
        """What ``hub audit verify`` reads of each entry, in leaf order, untyped (a million rows: the
        ORM's per-value conversions would cost more than the hashing)."""
        c = audit_entries.c
        columns = [
            c.leaf_index,
            c.kind,
            c.dossier_code,
            c.document_id,
            type_coerce(c.message_id, NullType()).label("message_id"),
            c.entry,
            c.leaf_hash,
        ]
        after = -1
        with self._reader().connect() as conn:
            while True:
                rows = conn.execute(
                    select(*columns).where(c.leaf_index > after).order_by(c.leaf_index).limit(chunk)
                ).all()
                if not rows:
                    return
                for row in rows:
                    yield VerifyRow(
                        row[0], row[1], row[2], row[3], build.uuid_text(row[4]), bytes(row[5]), bytes(row[6])
                    )
                after = rows[-1][0]

    def leaf_hashes(self, size: int | None = None) -> list[bytes]:
        """Stored leaf hashes ``[0, size)`` in order (what proofs are computed from)."""
        query = select(audit_entries.c.leaf_hash).order_by(audit_entries.c.leaf_index)
        if size is not None:
            query = query.where(audit_entries.c.leaf_index < size)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def heads(self) -> list[StoredHead]:
        with self.engine.connect() as conn:
            return [
                StoredHead(**row._mapping)
                for row in conn.execute(select(tree_heads).order_by(tree_heads.c.size))
            ]

    def latest_head(self) -> StoredHead | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tree_heads).order_by(tree_heads.c.size.desc()).limit(1)).first()
        return None if row is None else StoredHead(**row._mapping)

    def head(self, size: int) -> StoredHead | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tree_heads).where(tree_heads.c.size == size)).first()
        return None if row is None else StoredHead(**row._mapping)

    # ------------------------------------------------------------------ heads

    def root(self, size: int) -> bytes:
        """The Merkle root over the stored leaf hashes ``[0, size)``."""
        compact = CompactRange()
        compact.extend(self.leaf_hashes(size))
        if compact.size != size:
            raise ValueError(f"the log holds {compact.size} entries, not {size}")
        return compact.root()

    def add_head(self, signed: Any, timestamp_token: bytes | None = None) -> StoredHead:
        """Store a signed head (``lienthong.audit.heads.SignedHead``) made over this log."""
        head = signed.head
        row = {
            "size": head.size,
            "root": head.root,
            "at": head.at,
            "previous": head.previous,
            "head": head.canonical(),
            "signature": signed.signature,
            "certificate": signed.certificate,
            "timestamp_token": timestamp_token,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(tree_heads).values(row))
        return StoredHead(**row)
