"""The auditor's log on both databases: sealing, search, signed heads, and ``verify`` naming the first
altered, missing or reordered entry (issue 12, "Proven")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from audit_log_support import as_attacker, head_signing_key, write_delivered
from sqlalchemy import Engine, select

from lienthong.audit.actions import record_operator_action
from lienthong.audit.heads import TreeHead
from lienthong.audit.log import AuditLog
from lienthong.audit.merkle import leaf_hash
from lienthong.audit.refusals import RefusalRecorder
from lienthong.audit.seal import SEAL_KEY, Sealer, make_head
from lienthong.audit.verify import verify_log
from lienthong.config.models import AuditSettings
from lienthong.intake.callers import audit_refusal
from lienthong.store.migrate import upgrade
from lienthong.store.schema import audit_entries, poll_state
from lienthong.store.sql import SqlStore, create_store_engine
from lienthong.trust.keys import SigningKey

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return head_signing_key(tmp_path_factory.mktemp("audit-keys"))


def _fill(engine: Engine, key: SigningKey, count: int = 8) -> AuditLog:
    """``count`` operator actions and one refusal, sealed, under two signed heads."""
    audit_log = AuditLog(engine)
    for n in range(count // 2):
        record_operator_action(engine, f"operator-{n}", "operator", "replay", str(n), {"n": n})
    assert audit_log.seal() == count // 2
    assert make_head(audit_log, key) is not None
    recorder = RefusalRecorder.install(engine)
    try:
        audit_refusal("unauthenticated", service="rest:submit", remote="192.0.2.7", detail="no API key")
        assert recorder.flush_to_store() == 1
    finally:
        recorder.uninstall()
    for n in range(count // 2, count - 1):
        record_operator_action(engine, f"operator-{n}", "admin", "reroute", str(n))
    assert audit_log.seal() == count - count // 2
    assert audit_log.seal() == 0  # nothing is sealed twice
    assert make_head(audit_log, key) is not None
    return audit_log


def _verify_first(engine: Engine) -> str:
    report = verify_log(AuditLog(engine))
    assert not report.ok
    assert report.first is not None
    return report.first.message


def test_sealed_entries_heads_and_a_clean_verify(engine: Engine, key: SigningKey) -> None:
    audit_log = _fill(engine, key)
    entries = list(audit_log.iter_entries())
    assert [e.leaf_index for e in entries] == list(range(8))
    bodies = [json.loads(e.entry) for e in entries]
    assert [b["index"] for b in bodies] == list(range(8))
    assert [b["kind"] for b in bodies].count("refusal") == 1
    refusal = next(b for b in bodies if b["kind"] == "refusal")
    assert (refusal["reason"], refusal["service"], refusal["remote"]) == (
        "unauthenticated",
        "rest:submit",
        "192.0.2.7",
    )
    assert all(e.leaf_hash == leaf_hash(e.entry) for e in entries)
    heads = audit_log.heads()
    assert [h.size for h in heads] == [4, 8]
    second = TreeHead.from_canonical(heads[1].head)
    assert second.previous == TreeHead.from_canonical(heads[0].head).hash()
    assert second.root == audit_log.root(8)
    report = verify_log(audit_log)
    assert report.ok, report.problems
    assert (report.size, report.heads, report.sources_checked) == (8, 2, 8)


def test_one_altered_byte_is_named(engine: Engine, key: SigningKey) -> None:
    audit_log = _fill(engine, key)
    entry = next(e for e in audit_log.iter_entries() if e.leaf_index == 5)
    altered = entry.entry.replace(b'"reroute"', b'"reroutf"')
    assert altered != entry.entry
    _tamper(engine, "UPDATE audit_entries SET entry = :e WHERE leaf_index = 5", e=altered)
    assert _verify_first(engine).startswith("entry 5 altered")


def test_an_altered_entry_with_its_hash_rewritten_is_still_named(engine: Engine, key: SigningKey) -> None:
    audit_log = _fill(engine, key)
    entry = next(e for e in audit_log.iter_entries() if e.leaf_index == 2)
    forged = entry.entry.replace(b'"operator-2"', b'"operator-X"')
    _tamper(
        engine,
        "UPDATE audit_entries SET entry = :e, leaf_hash = :h WHERE leaf_index = 2",
        e=forged,
        h=leaf_hash(forged),
    )
    report = verify_log(AuditLog(engine))
    kinds = {(p.kind, p.index) for p in report.problems}
    assert ("source", 2) in kinds  # its row says otherwise
    assert ("head", 3) in kinds  # the head of size 4 no longer matches the entries
    assert report.first is not None and report.first.message.startswith("entry 2 differs")


def test_a_deleted_entry_is_named(engine: Engine, key: SigningKey) -> None:
    _fill(engine, key)
    as_attacker(engine, "DELETE FROM audit_entries WHERE leaf_index = 3")
    assert _verify_first(engine).startswith("entry 3 missing")


def test_two_swapped_entries_are_named(engine: Engine, key: SigningKey) -> None:
    audit_log = _fill(engine, key)
    by_index = {e.leaf_index: e for e in audit_log.iter_entries()}
    one, six = by_index[1], by_index[6]
    _tamper(
        engine,
        "UPDATE audit_entries SET entry = :e, leaf_hash = :h WHERE leaf_index = :i",
        rows=[
            {"e": six.entry, "h": six.leaf_hash, "i": 1},
            {"e": one.entry, "h": one.leaf_hash, "i": 6},
        ],
    )
    message = _verify_first(engine)
    assert message.startswith("entry 1 out of order"), message
    assert "sealed as entry 6" in message


def test_search_by_agency_and_message_uses_the_columns(engine: Engine, key: SigningKey) -> None:
    audit_log = _fill(engine, key)
    with engine.connect() as conn:
        kinds = list(
            conn.execute(select(audit_entries.c.kind).order_by(audit_entries.c.leaf_index)).scalars()
        )
    assert kinds.count("operator-action") == 7
    assert audit_log.entries_for(agency="nobody") == []
    with pytest.raises(ValueError, match="name a dossier"):
        audit_log.entries_for()


def _tamper(
    engine: Engine, statement: str, rows: list[dict[str, object]] | None = None, **params: object
) -> None:
    from sqlalchemy import text

    as_attacker(engine)
    with engine.begin() as conn:
        conn.execute(text(statement), rows if rows is not None else params)


def test_one_process_seals_and_keeps_its_turn_without_asking_at_every_tick(engine: Engine) -> None:
    """The sealing lease is taken once and kept (no write to ``poll_state`` per tick); while one
    process holds it another seals nothing; given back at stop, the next process seals at once."""
    store = SqlStore(engine)
    settings = AuditSettings(seal_interval=timedelta(milliseconds=1))
    first = Sealer(store, AuditLog(engine), settings, None, "hub-a")
    second = Sealer(store, AuditLog(engine), settings, None, "hub-b")

    def lease() -> tuple[str | None, object]:
        with engine.connect() as conn:
            row = conn.execute(
                select(poll_state.c.owner, poll_state.c.updated_at).where(poll_state.c.key == SEAL_KEY)
            ).one()
        return row.owner, row.updated_at

    record_operator_action(engine, "operator", "operator", "replay", "1", {})
    assert first.run_once() == 1
    taken = lease()
    assert taken[0] == "hub-a"
    record_operator_action(engine, "operator", "operator", "replay", "2", {})
    assert second.run_once() == 0  # the turn is the first process's
    time.sleep(0.01)
    assert first.run_once() == 1
    assert lease() == taken  # sealed again without touching the lease
    record_operator_action(engine, "operator", "operator", "replay", "3", {})
    first.stop()
    assert lease()[0] is None
    third = Sealer(store, AuditLog(engine), settings, None, "hub-c")
    assert third.run_once() == 1
    assert lease()[0] == "hub-c"
    third.stop()
    second.stop()
    assert verify_log(AuditLog(engine)).ok
    store.close()


def test_refusal_recorder_ignores_other_lines(engine: Engine, tmp_path: Path) -> None:
    import logging

    recorder = RefusalRecorder.install(engine)
    try:
        logging.getLogger("lienthong.audit").warning("not a refusal")
        assert recorder.flush_to_store() == 0
    finally:
        recorder.uninstall()


def test_a_row_that_commits_late_is_still_sealed_and_one_never_sealed_is_reported(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL hands out ids before commit: a row may become visible after later rows were sealed.
    A little late, it is sealed at the next tick; later than a tick looks back (TICK_GRACE) but within
    the grace period, at the next full scan, after them; beyond it, verify names it."""
    from lienthong.audit.log import FULL_SCAN_INTERVAL, SEAL_GRACE, TICK_GRACE
    from lienthong.envelope import utcnow
    from lienthong.store.schema import operator_actions

    audit_log = AuditLog(engine)
    record_operator_action(engine, "lan", "operator", "replay", "1")
    assert audit_log.seal() == 1  # a process's first tick is a full scan; the next ones are not
    slightly = utcnow() - TICK_GRACE / 2
    late = utcnow() - SEAL_GRACE / 2
    lost = utcnow() - SEAL_GRACE * 3
    with engine.begin() as conn:
        for at, target in ((slightly, "slightly"), (late, "late"), (lost, "lost")):
            conn.execute(
                operator_actions.insert().values(
                    at=at, actor="minh", role="admin", action="reroute", target=target, detail={}
                )
            )
    assert audit_log.seal() == 1  # the slightly late one, at an ordinary tick
    assert audit_log.seal() == 0
    later = time.monotonic() + FULL_SCAN_INTERVAL + 1
    monkeypatch.setattr("lienthong.audit.log.monotonic", lambda: later)
    assert audit_log.seal() == 1  # the late one, at the full scan; the lost one is older than the window
    bodies = [json.loads(e.entry) for e in audit_log.iter_entries()]
    assert [(b["index"], b["target"]) for b in bodies] == [(0, "1"), (1, "slightly"), (2, "late")]
    report = verify_log(audit_log)
    assert [p.kind for p in report.problems] == ["unsealed"]
    assert "operator_actions row" in report.problems[0].message


def test_the_sealer_reads_from_the_cursor_what_core_would_give(engine: Engine, key: SigningKey) -> None:
    """The sealer takes each source row straight from the driver's cursor (no Core Row): the values
    must be those Core's rows hold, for every source and column, on both databases, and the entries
    the same bytes that verify rebuilds from Core's rows."""
    import uuid

    from lienthong.audit.log import _fetch, sealer_queries
    from lienthong.envelope import utcnow

    _fill(engine, key, count=4)  # refusals and operator actions, sealed
    record_operator_action(engine, "lan", "operator", "replay", "ồ", {"lý do": "thử", "n": [1, None]})
    now = utcnow()
    with engine.begin() as conn:
        write_delivered(
            conn,
            now,
            "H49-0",
            "<a>ồ</a>".encode(),
            message={"recipient": "000.00.00.G13", "document_id": "VB-1", "causation_id": uuid.uuid4()},
            attempt={"outcome": "retry", "error": "HTTP 503 — thử lại", "response_status": 503},
        )
        write_delivered(
            conn,
            now,
            "H49-1",
            None,
            message={"headers": {"signature": "valid", "người gọi": "Một cửa"}},
            attempt={"response": None, "worker": "w:1"},
        )
    compared = 0
    with engine.connect() as conn:
        for windowed in (False, True):
            for source, query, row in sealer_queries(windowed):
                params = {"batch": 100, "since": now - timedelta(days=1)}
                core = conn.execute(query, params).all()
                fetched = _fetch(conn, query, params, row)
                assert [tuple(r) for r in fetched] == [tuple(r) for r in core], source
                assert [r._fields for r in fetched[:1]] == [tuple(r._fields) for r in core[:1]]
                compared += len(core)
    assert compared == 2 * 7  # two messages, two routes, two attempts, one operator action
    audit_log = AuditLog(engine)
    assert audit_log.seal() == 7
    assert verify_log(audit_log).ok
