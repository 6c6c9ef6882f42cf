"""Claim at accept (``ClaimOffer``): an accept stores the deliveries free threads can start already
claimed, and hands their claims back. Every backend, through the Store protocol: the rows and the
claims must be what a claim round (``claim_due``) right after the accept would have made, and a
delivery claimed this way lives on as any claimed one does (recorded, taken over when its lease
runs out, never claimed twice).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from test_store_contract import (
    BACKENDS,
    EXPIRED,
    LEASE,
    SQL_BACKENDS,
    _sql_store,
    delivery,
    make_envelope,
    prepared,
    routed,
)

from lienthong.envelope import utcnow
from lienthong.store import (
    AttemptOutcome,
    Claim,
    ClaimOffer,
    Delivered,
    DeliveryState,
    Store,
)
from lienthong.store.memory import MemoryStore
from lienthong.store.sql import SqlStore


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    backend: Store = MemoryStore() if request.param == "memory" else _sql_store(request, request.param)
    yield backend
    backend.close()


@pytest.fixture(params=SQL_BACKENDS)
def sql_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    backend = _sql_store(request, request.param)
    yield backend
    backend.close()


def offer(slots: int, *targets: str, lease: timedelta = LEASE, worker: str = "w1") -> ClaimOffer:
    return ClaimOffer(worker=worker, lease=lease, slots=slots, targets=frozenset(targets))


def test_an_offer_stores_its_deliveries_claimed_as_a_claim_round_would(store: Store) -> None:
    envelope = make_envelope()
    before = utcnow()
    result = store.accept(
        envelope, routed("vpdk", "thue"), prepared("vpdk", "thue"), offer(1, "vpdk", "thue")
    )
    after = utcnow()

    assert result.created is True
    (at_accept,) = result.claims  # one slot: the first delivery to an offered target
    assert at_accept.target == "vpdk"
    # The other delivery, queued, claimed by a claim round: the same message, read back.
    by_round = store.claim_due("w1", 5, LEASE)
    assert [c.target for c in by_round] == ["thue"]
    (later,) = by_round
    assert at_accept.envelope == later.envelope  # the header as the store gives it back (UTC, …)
    assert at_accept.envelope.created_at is not None and at_accept.envelope.created_at.tzinfo is not None
    assert replace(
        at_accept, delivery_id=0, target="", payload=b"", first_attempt_at=before, lease_until=before
    ) == replace(later, delivery_id=0, target="", payload=b"", first_attempt_at=before, lease_until=before)
    assert at_accept.payload == prepared("vpdk")[0].payload
    assert (at_accept.attempt, at_accept.round_attempt, at_accept.worker) == (1, 1, "w1")
    assert before <= at_accept.first_attempt_at <= after
    assert at_accept.lease_until == at_accept.first_attempt_at + LEASE

    record = delivery(store, envelope.message_id, "vpdk")
    assert record.id == at_accept.delivery_id
    assert (record.state, record.attempts) == (DeliveryState.IN_FLIGHT, 1)
    assert record.next_attempt_at == record.created_at == at_accept.first_attempt_at
    (attempt,) = record.history
    assert (attempt.number, attempt.worker, attempt.started_at) == (1, "w1", at_accept.first_attempt_at)
    assert attempt.finished_at is None and attempt.outcome is None
    counts = store.counts().by_target
    assert counts["vpdk"] == {DeliveryState.IN_FLIGHT: 1}


def test_only_the_offered_targets_and_slots_are_claimed(store: Store) -> None:
    envelope = make_envelope()
    targets = ("vpdk", "thue", "tuphap")
    result = store.accept(envelope, routed(*targets), prepared(*targets), offer(1, "thue", "tuphap"))
    assert [c.target for c in result.claims] == ["thue"]
    states = {t: delivery(store, envelope.message_id, t).state for t in targets}
    assert states == {
        "vpdk": DeliveryState.QUEUED,
        "thue": DeliveryState.IN_FLIGHT,
        "tuphap": DeliveryState.QUEUED,
    }
    # Two slots for a target the message does not go to: nothing claimed.
    other = make_envelope()
    assert store.accept(other, routed("vpdk"), prepared("vpdk"), offer(2, "thue")).claims == ()
    assert delivery(store, other.message_id).state is DeliveryState.QUEUED


def test_a_repeat_claims_nothing(store: Store) -> None:
    envelope = make_envelope()
    first = store.accept(envelope, routed("vpdk"), prepared("vpdk"))
    again = store.accept(envelope, routed("vpdk"), prepared("vpdk"), offer(1, "vpdk"))
    assert (first.claims, again.created, again.claims) == ((), False, ())
    assert delivery(store, envelope.message_id).state is DeliveryState.QUEUED


def test_a_delivery_claimed_at_accept_is_not_claimed_again_and_its_outcome_is_recorded(store: Store) -> None:
    envelope = make_envelope()
    (claim,) = store.accept(envelope, routed("vpdk"), prepared("vpdk"), offer(1, "vpdk")).claims
    assert store.claim_due("w2", 5, LEASE) == []
    assert store.extend_leases([claim], LEASE) == {claim.delivery_id}
    store.record_outcome(claim, Delivered(response=b"<ok/>", response_status=200, request=claim.payload))
    record = delivery(store, envelope.message_id)
    assert (record.state, record.attempts) == (DeliveryState.DELIVERED, 1)
    assert [a.outcome for a in record.history] == [AttemptOutcome.DELIVERED]


def test_a_claim_made_at_accept_whose_holder_died_is_taken_over(store: Store) -> None:
    """The process that accepted dies before the call: its lease runs out, another worker takes
    the delivery over and the history says why, as for any claim."""
    envelope = make_envelope()
    (lost,) = store.accept(envelope, routed("vpdk"), prepared("vpdk"), offer(1, "vpdk", lease=EXPIRED)).claims
    (taken,) = store.claim_due("w2", 5, LEASE)
    assert (taken.delivery_id, taken.attempt, taken.round_attempt, taken.worker) == (
        lost.delivery_id,
        2,
        2,
        "w2",
    )
    assert taken.first_attempt_at == lost.first_attempt_at  # the round began with the first attempt
    record = delivery(store, envelope.message_id)
    first, second = record.history
    assert (first.worker, first.outcome) == ("w1", AttemptOutcome.RELEASED)
    assert first.error == "lease expired: worker w1 did not finish"
    assert (second.worker, second.outcome) == ("w2", None)


def test_concurrent_accepts_each_get_their_own_claims(store: Store) -> None:
    """Accepts that share a transaction (the SQL store's group commit) each get the claims of
    their own deliveries, under the ids the store gave them."""
    results: dict[uuid.UUID, list[Claim]] = {}
    errors: list[BaseException] = []

    def submit() -> None:
        envelope = make_envelope()
        try:
            result = store.accept(
                envelope, routed("vpdk", "thue"), prepared("vpdk", "thue"), offer(2, "vpdk", "thue")
            )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        else:
            results[envelope.message_id] = list(result.claims)

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 12
    for message_id, claims in results.items():
        assert [c.target for c in claims] == ["vpdk", "thue"]
        for claim in claims:
            assert claim.envelope.message_id == message_id
            assert delivery(store, message_id, claim.target).id == claim.delivery_id
    assert store.claim_due("w2", 100, LEASE) == []


def test_the_rows_of_a_delivery_claimed_at_accept_are_a_claimed_ones(sql_store: SqlStore) -> None:
    """Column for column, the row and its attempt are what a claim round leaves: compared with the
    message's other delivery, claimed by ``claim_due`` (times and ids aside, checked on their own)."""
    envelope = make_envelope()
    (at_accept,) = sql_store.accept(
        envelope, routed("vpdk", "thue"), prepared("vpdk", "thue"), offer(1, "vpdk")
    ).claims
    (by_round,) = sql_store.claim_due("w1", 5, LEASE)
    columns = (
        "state, attempts, round_attempts, claimed_by, last_error, response, response_status, delivered_at"
    )
    with sql_store.engine.connect() as conn:
        rows = {
            row.target: row
            for row in conn.execute(
                text(
                    f"SELECT target, {columns}, round_started_at, next_attempt_at, lease_until, created_at,"
                    " updated_at FROM deliveries ORDER BY id"
                )
            )
        }
        attempts = {
            row.delivery_id: row
            for row in conn.execute(
                text(
                    "SELECT delivery_id, number, worker, finished_at, outcome, error,"
                    " response_status, request, response, started_at FROM attempts"
                )
            )
        }
    vpdk, thue = rows["vpdk"], rows["thue"]
    assert tuple(vpdk)[1:9] == tuple(thue)[1:9]
    assert tuple(attempts[at_accept.delivery_id])[1:9] == tuple(attempts[by_round.delivery_id])[1:9]
    # Every time of the claimed-at-accept row is the accept's instant, and its lease runs from it.
    instant = vpdk.created_at
    assert vpdk.round_started_at == vpdk.next_attempt_at == vpdk.updated_at == instant
    assert _instant(vpdk.lease_until) - _instant(instant) == LEASE
    assert attempts[at_accept.delivery_id].started_at == instant


def _instant(value: datetime | str) -> datetime:
    """A timestamp as the driver reads it: a datetime (PostgreSQL) or SQLite's text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
