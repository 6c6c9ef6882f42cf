"""A claim round's rows and claims (issue 11): SQLite's claim after its SELECT as one UPDATE of the
batch (``id IN (…)``) and one INSERT … SELECT of its attempts stores exactly what the per-row
statements it replaced stored (an ``executemany`` of each), column for column; and the claims,
read from the claim's narrower SELECT as tuples, are the claims the rows say, value for value.

Twin deliveries (one message routed to targets ``a`` and ``b``, so every column but the id and the
target is the same) are brought to the same state: queued, retried after a failure, or in flight
under a lease that ran out. Then, at the same frozen ``now``, the ``a`` twins are claimed by the store
and the ``b`` twins by the former statements, written out here as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, func, insert, select, update
from test_store_contract import EXPIRED, LEASE, SQL_BACKENDS, _sql_store, make_envelope, prepared, routed

from lienthong.envelope import Envelope, MessageKind
from lienthong.store import Claim, DeliveryState, RetryAt, sql, stored_envelope
from lienthong.store._sqlclaim import expired_error
from lienthong.store.schema import UtcDateTime, attempts, deliveries
from lienthong.store.sql import SqlStore

T0 = datetime(2026, 12, 1, 7, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)  # the claim: after the retry is due and the lease has run out


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlStore]:
    backend = _sql_store(request, request.param)
    yield backend
    backend.close()


class _Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = T0
        monkeypatch.setattr(sql, "utcnow", lambda: self.now)


def _twins(store: SqlStore, clock: _Clock) -> dict[str, Envelope]:
    """Three messages to ``a`` and ``b``: in flight under a lease run out, failed and due again, queued."""
    envelopes = {}
    for state in ("retried", "expired", "queued"):  # a lease run out would be claimed by a later claim
        envelope = envelopes[state] = make_envelope()
        store.accept(envelope, routed("a", "b"), prepared("a", "b"))
        if state == "expired":
            assert len(store.claim_due("w0", 2, EXPIRED)) == 2
        elif state == "retried":
            claims = store.claim_due("w0", 2, LEASE)
            assert len(claims) == 2
            for claim in claims:
                store.record_outcome(
                    claim, RetryAt(at=T0 + timedelta(seconds=5), error="HTTP 503", response=b"<Loi/>")
                )
    clock.now = T1
    return envelopes


def _former_claim(conn: Connection, ids: list[int], worker: str, now: datetime, lease: timedelta) -> None:
    """The claim's writes as SQLite made them before (per row, in id order), for the same rows."""
    expired = conn.execute(
        select(deliveries.c.id, deliveries.c.attempts, deliveries.c.claimed_by).where(
            deliveries.c.id.in_(ids), deliveries.c.state == DeliveryState.IN_FLIGHT.value
        )
    ).all()
    if expired:
        conn.execute(
            sql._RELEASE_EXPIRED,
            [
                {"b_id": i, "b_number": n, "b_finished": now, "b_error": expired_error(holder)}
                for i, n, holder in expired
            ],
        )
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(
            state=DeliveryState.IN_FLIGHT.value,
            attempts=deliveries.c.attempts + 1,
            round_attempts=deliveries.c.round_attempts + 1,
            round_started_at=func.coalesce(
                deliveries.c.round_started_at, bindparam("b_now", type_=UtcDateTime)
            ),
            claimed_by=bindparam("b_worker"),
            lease_until=bindparam("b_lease_until", type_=UtcDateTime),
            updated_at=bindparam("b_now", type_=UtcDateTime),
        ),
        [{"b_id": i, "b_now": now, "b_worker": worker, "b_lease_until": now + lease} for i in sorted(ids)],
    )
    numbers = dict(
        conn.execute(select(deliveries.c.id, deliveries.c.attempts).where(deliveries.c.id.in_(ids))).all()
    )
    conn.execute(
        insert(attempts),
        [{"delivery_id": i, "number": numbers[i], "worker": worker, "started_at": now} for i in sorted(ids)],
    )


def _rows(store: SqlStore, target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """The target's deliveries and their attempts, all columns but the rows' own identity, in the
    messages' order; and the ids of the attempts started at T1, in their deliveries' order."""
    with store.engine.connect() as conn:
        found = [
            r._asdict()
            for r in conn.execute(
                select(deliveries).where(deliveries.c.target == target).order_by(deliveries.c.id)
            )
        ]
        ids = [d["id"] for d in found]
        tried = conn.execute(
            select(attempts)
            .where(attempts.c.delivery_id.in_(ids))
            .order_by(attempts.c.delivery_id, attempts.c.number)
        ).all()
    position = {i: n for n, i in enumerate(ids)}
    rows = [{k: v for k, v in d.items() if k not in ("id", "target")} for d in found]
    history = [
        {
            **{k: v for k, v in a._asdict().items() if k not in ("id", "delivery_id")},
            "of": position[a.delivery_id],
        }
        for a in tried
    ]
    return rows, history, [a.id for a in tried if a.started_at == T1]


def test_sqlite_claims_a_batch_as_the_per_row_statements_did(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store._is_postgres:
        pytest.skip("PostgreSQL claims in one statement of its own (_sqlclaim.py), unchanged")
    _twins(store, _Clock(monkeypatch))
    sent: list[str] = []

    def catch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.split(None, 1)[0])

    from sqlalchemy import event

    event.listen(store.engine, "before_cursor_execute", catch)
    try:
        claims = store.claim_due("w1", 10, LEASE, only_targets=["a"])
    finally:
        event.remove(store.engine, "before_cursor_execute", catch)
    assert len(claims) == 3
    # BEGIN, the SELECT, the expired attempt closed, one UPDATE and one INSERT for the three.
    assert sent == ["BEGIN", "SELECT", "UPDATE", "UPDATE", "INSERT"], sent
    with store._tx("reference") as conn:
        ids = [i for (i,) in conn.execute(select(deliveries.c.id).where(deliveries.c.target == "b"))]
        _former_claim(conn, ids, "w1", T1, LEASE)
    mine, theirs = _rows(store, "a"), _rows(store, "b")
    assert mine[0] == theirs[0]
    assert mine[1] == theirs[1]
    assert len(mine[2]) == 3 and mine[2] == sorted(mine[2])  # inserted in their deliveries' order
    # And those are claims (not two paths equally wrong): in flight, counted, each attempt open.
    assert all(
        d["state"] == "in-flight" and d["claimed_by"] == "w1" and d["updated_at"] == T1 for d in mine[0]
    )
    assert [d["attempts"] for d in mine[0]] == [2, 2, 1]  # retried, expired, queued
    assert [(a["number"], a["outcome"]) for a in mine[1]] == [
        (1, "retry"),
        (2, None),
        (1, "released"),
        (2, None),
        (1, None),
    ]


def _typed(value: Any) -> Any:
    """A value with its type, and a datetime's zone: equal values of another type must not pass."""
    if isinstance(value, (Claim,)):
        return [(name, _typed(getattr(value, name))) for name in value.__dataclass_fields__]
    if hasattr(value, "__dataclass_fields__"):
        return [(name, _typed(getattr(value, name))) for name in value.__dataclass_fields__]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return (type(value).__name__, value, getattr(value, "tzinfo", None))


def test_a_rounds_claims_are_what_the_rows_say(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of every claim, of the type and in the zone it had: the envelope as accepted and
    given back by a store (UTC, ``stored_envelope``), the rows' counts and times as claimed."""
    envelopes = _twins(store, _Clock(monkeypatch))
    claims = store.claim_due("w1", 10, LEASE, only_targets=["a"])
    by_message = {c.envelope.message_id: c for c in claims}
    assert set(by_message) == {e.message_id for e in envelopes.values()}
    expected = {
        "expired": (2, 2, T0),  # attempt, round attempt, the round's start
        "retried": (2, 2, T0),
        "queued": (1, 1, T1),
    }
    for state, envelope in envelopes.items():
        claim = by_message[envelope.message_id]
        attempt, round_attempt, first = expected[state]
        reference = Claim(
            delivery_id=claim.delivery_id,
            target="a",
            attempt=attempt,
            round_attempt=round_attempt,
            first_attempt_at=first,
            payload=prepared("a")[0].payload,
            content_type=prepared("a")[0].content_type,
            envelope=stored_envelope(envelope).header(),
            worker="w1",
            lease_until=T1 + LEASE,
            operation=None,
        )
        assert _typed(claim) == _typed(reference), state
        assert claim == reference
        assert isinstance(claim.envelope.kind, MessageKind) and isinstance(
            claim.envelope.message_id, uuid.UUID
        )
