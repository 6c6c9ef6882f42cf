"""The sealer's entries on PostgreSQL go in by a binary COPY (store/_sqlcopy.py) instead of an
``executemany`` of the INSERT: the rows stored must be the same, column by column and byte by byte,
for odd values too (NULLs, non-ASCII text, long texts, a large entry, times in other zones), in the
same transaction (a failed COPY stores nothing) and with the same errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from audit_log_support import as_attacker, write_delivered
from sqlalchemy import Engine, event, exc

from lienthong.audit import entries as build
from lienthong.audit import log as audit_log_module
from lienthong.audit.actions import record_operator_action
from lienthong.audit.log import (
    _COPY_ENTRIES,
    _COPY_TYPES,
    _ENTRY_COLUMNS,
    _INSERT_ENTRIES,
    AuditLog,
    entry_row,
    entry_values,
)
from lienthong.audit.refusals import RefusalRecorder
from lienthong.audit.verify import verify_log
from lienthong.envelope import utcnow
from lienthong.intake.callers import audit_refusal
from lienthong.store._sqlcopy import send_copy
from lienthong.store.migrate import upgrade
from lienthong.store.sql import create_store_engine

pytestmark = pytest.mark.postgres

#: Every column read back as the database holds it: the driver's values, and each column's text as
#: PostgreSQL prints it (a time to the microsecond in UTC, a UUID, bytea as hex), so two rows that
#: differ in anything the driver might round or convert do not compare equal.
_READ = (
    "SELECT leaf_index, kind, at, source, source_key, message_id, dossier_code, document_id, agency,"
    " entry, leaf_hash, leaf_index::text, kind::text, (at AT TIME ZONE 'UTC')::text, source::text,"
    " source_key::text, message_id::text, dossier_code::text, document_id::text, agency::text,"
    " encode(entry, 'hex'), encode(leaf_hash, 'hex'), octet_length(entry),"
    " octet_length(dossier_code), octet_length(document_id)"
    " FROM audit_entries ORDER BY 1"
)


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_store_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(_READ).all()]


def _erase(engine: Engine) -> None:
    as_attacker(engine, "DELETE FROM audit_entries")


def _odd_entries() -> list[build.Entry]:
    """Entries with every column at an edge: NULLs, non-ASCII (composed and decomposed, outside the
    BMP), the longest texts the columns take, an empty text, a ~1 MB entry, times in other zones."""
    big_detail = {"lý do": "ồ" * 400_000, "n": list(range(2000)), "nested": {"k": [None, True, "é"]}}
    wide = "Hồ sơ đất đai 🏠 " * 20
    return [
        build.Entry(
            kind="message-in",
            at=datetime(2026, 12, 1, 7, 42, 21, 123456, tzinfo=UTC),
            source="messages",
            source_key=str(uuid.UUID(int=1)),
            before_index='{"at":"x","index":',
            after_index=',"kind":"message-in"}',
            message_id=uuid.UUID(int=1),
            dossier_code="000.00.00.H49-261201-00001",
            document_id="VB/2026/ồ",
            agency="000.00.00.H49",
        ),
        build.Entry(
            kind="refusal",
            at=datetime(2026, 12, 1, 14, 0, 0, 1, tzinfo=timezone(timedelta(hours=7))),
            source="refusals",
            source_key="2",
            before_index='{"detail":"Không có khóa API — “thử”","index":',
            after_index="}",
        ),
        build.Entry(
            kind="operator-action",
            at=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
            source="operator_actions",
            source_key="3",
            before_index=build.canonical({"detail": big_detail})[:-1].decode() + ',"index":',
            after_index="}",
            message_id=None,
            dossier_code="",
            document_id=None,
            agency=None,
        ),
        build.Entry(
            kind="route",
            at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            source="route_decisions",
            source_key="4" * 64,
            before_index='{"index":',
            after_index=',"reason":"Ho\u0302\u0300 so\u031b NFD"}',
            message_id=uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"),
            dossier_code=wide[:64],
            document_id=wide[:256],
            agency="Sở Tài nguyên 🌳"[:64],
        ),
    ]


def test_the_copy_types_are_the_columns_types(engine: Engine) -> None:
    """The binary COPY writes each value in the wire format of the type it is told: the table's own."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'audit_entries'"
            " AND table_schema = current_schema() ORDER BY ordinal_position"
        ).all()
    assert tuple(name for name, _ in rows) == _ENTRY_COLUMNS
    assert tuple(udt for _, udt in rows) == _COPY_TYPES
    assert _COPY_ENTRIES.startswith(f"COPY audit_entries ({', '.join(_ENTRY_COLUMNS)}) ")


def test_copy_stores_what_the_insert_stores(engine: Engine) -> None:
    """The same entries through the executemany INSERT and through the COPY: the same rows, every
    column, as values and as PostgreSQL's text of them."""
    entries = _odd_entries()
    with engine.begin() as conn:
        _INSERT_ENTRIES.execute(conn, [entry_row(e, i) for i, e in enumerate(entries)])
    inserted = _stored(engine)
    _erase(engine)
    assert _stored(engine) == []
    with engine.begin() as conn:
        assert (
            send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, [entry_values(e, i) for i, e in enumerate(entries)])
            == 4
        )
    copied = _stored(engine)
    assert copied == inserted
    assert len(copied) == 4
    assert copied[2][22] > 1_000_000  # the large entry, whole
    assert [row[5] for row in copied] == [e.message_id for e in entries]  # the NULLs are NULL
    assert copied[1][13] == "2026-12-01 07:00:00.000001"  # +07:00 stored as its instant


def test_a_sealed_log_is_the_same_by_copy_and_by_insert(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer end to end, on source rows with odd values: sealed by the COPY, then (the log erased)
    by the INSERT the sealer falls back to: the same log, and it verifies."""
    now = utcnow()
    with engine.begin() as conn:
        write_delivered(
            conn,
            now,
            "H49-ồ-1",
            "<a>ồ</a>".encode(),
            message={"recipient": "000.00.00.G13", "document_id": "VB-ồ", "causation_id": uuid.uuid4()},
            attempt={"outcome": "retry", "error": "HTTP 503 — thử lại", "response_status": 503},
        )
        write_delivered(
            conn,
            now - timedelta(seconds=1),
            "H49-2",
            None,
            message={"headers": {"signature": "valid", "người gọi": "Một cửa " * 500}},
            attempt={"response": None, "worker": "w:1"},
        )
    record_operator_action(
        engine, "lan", "operator", "replay", None, {"lý do": "thử " * 50_000, "n": [1, None]}
    )
    recorder = RefusalRecorder.install(engine)
    try:
        audit_refusal("unauthenticated", service="rest:submit", remote=None, detail="không có khóa")
        assert recorder.flush_to_store() == 1
    finally:
        recorder.uninstall()

    copies: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        copies.extend([statement] if statement.startswith("COPY ") else [])

    assert AuditLog(engine).seal() == 8
    assert copies == [_COPY_ENTRIES]  # one COPY, seen by the statement listeners
    by_copy = _stored(engine)
    _erase(engine)
    monkeypatch.setattr(audit_log_module, "send_copy", lambda *_args: None)
    assert AuditLog(engine).seal() == 8
    assert copies == [_COPY_ENTRIES]
    assert _stored(engine) == by_copy
    monkeypatch.undo()
    record_operator_action(engine, "lan", "operator", "replay", "one")
    assert AuditLog(engine).seal() == 1  # one row: the INSERT (cheaper than a COPY's setup)
    assert copies == [_COPY_ENTRIES]
    assert verify_log(AuditLog(engine)).ok
    assert {row[1] for row in by_copy} == {
        "message-in",
        "route",
        "delivery-attempt",
        "operator-action",
        "refusal",
    }


def test_a_failed_copy_stores_nothing_and_raises_as_the_insert_does(engine: Engine) -> None:
    """A repeated leaf index: SQLAlchemy's IntegrityError, as from the INSERT; the transaction rolls
    back whole (the rows before the repeat are not kept), and the connection serves on."""
    entries = _odd_entries()
    with engine.begin() as conn:
        send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, [entry_values(entries[0], 0)])
    before = _stored(engine)
    rows = [entry_values(entries[1], 1), entry_values(entries[3], 0)]
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, rows)
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        _INSERT_ENTRIES.execute(conn, [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows])
    assert _stored(engine) == before
    with engine.begin() as conn:
        assert send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, [entry_values(entries[1], 1)]) == 1
    assert [row[0] for row in _stored(engine)] == [0, 1]


def test_no_copy_outside_a_transaction_or_with_echo(engine: Engine, pg_url: str) -> None:
    """Where SQLAlchemy's own execution is wanted (no transaction yet, ``echo``), nothing is sent and
    the sealer inserts as before."""
    row = entry_values(_odd_entries()[0], 0)
    with engine.connect() as conn:
        assert send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, [row]) is None
    echoing = create_store_engine(pg_url, echo=True)
    try:
        with echoing.begin() as conn:
            assert send_copy(conn, _COPY_ENTRIES, _COPY_TYPES, [row]) is None
        record_operator_action(echoing, "lan", "operator", "replay", "1")
        assert AuditLog(echoing).seal() == 1
    finally:
        echoing.dispose()
    assert [r[0] for r in _stored(engine)] == [0]
