"""Group commit and round trips (issue 11): what several concurrent callers of the SQL store get.

Concurrent accepts share one transaction: a batch of messages is written with one statement per table,
counted here with the benchmark's StatementCounter, and each caller still gets its own answer — a
repeat its original id, a conflicting repeat its own 409 error, a fresh message its row — whatever else
was in the batch. Concurrent outcomes likewise, with a lost claim reported to its worker only.

To make a batch deterministically, the test holds the batch writer's lock while the callers queue,
as a leader busy writing the previous batch would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any, cast

import pytest
from test_store_contract import SQL_BACKENDS, XML, make_envelope, prepared, routed

from lienthong.adapter import Adapter
from lienthong.config.models import CircuitBreakerConfig, RetryPolicyConfig, WorkerSettings
from lienthong.delivery.breaker import CircuitBreaker
from lienthong.delivery.retry import RetryPolicy
from lienthong.delivery.workers import DeliveryWorkers, Target
from lienthong.errors import ClaimLostError, IdempotencyConflictError
from lienthong.store import AcceptResult, Claim, Delivered, DeliveryState, MessageFilter, RetryAt
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, StatementCounter, create_store_engine

LEASE = timedelta(minutes=5)


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    sql = SqlStore(engine)
    yield sql
    sql.close()


def in_one_batch(group: Any, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads that all queue behind ``group``'s writer lock, then release it: the
    first thread to take the lock writes them all in one batch. Each answer is a result or an error."""
    answers: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            answers[i] = calls[i]()
        except Exception as error:
            answers[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    with group._writing:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(group._queue) < len(calls) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(group._queue) == len(calls), "every caller queued"
    for t in threads:
        t.join(30)
    return answers


def test_a_batch_of_accepts_is_one_transaction_with_one_statement_per_table(store: SqlStore) -> None:
    envelopes = [make_envelope() for _ in range(10)]
    with StatementCounter(store.engine) as counter:
        before = counter.snapshot()
        results = in_one_batch(
            store._accepts,
            [partial(store.accept, e, routed("land", "tax"), prepared("land", "tax")) for e in envelopes],
        )
        used = counter.snapshot() - before
    assert [r.message_id for r in results] == [e.message_id for e in envelopes]
    assert all(isinstance(r, AcceptResult) and r.created for r in results)
    assert used.commits == 1
    # messages, payloads, idempotency keys, routes, deliveries, their payloads (+ BEGIN) on SQLite;
    # on PostgreSQL all of them in one statement (sql._insert_at_once)
    assert used.statements == (7 if store.engine.dialect.name == "sqlite" else 1), used.as_dict()
    records = store.list_messages(MessageFilter(message_ids=[e.message_id for e in envelopes]))
    assert len(records) == 10
    for record in records:
        assert sorted((d.target, d.payload) for d in record.deliveries) == [
            ("land", b"<GoiTin dich='land'/>"),
            ("tax", b"<GoiTin dich='tax'/>"),
        ]


def test_a_repeat_or_a_conflict_in_a_batch_is_its_own_answer_only(store: SqlStore) -> None:
    first = make_envelope(sender_message_id="ho-so-1")
    original = store.accept(first, routed("land"), prepared("land"))
    repeat = replace(first, message_id=uuid.uuid4())  # the same submission again: a new hub id at intake
    conflict = replace(repeat, message_id=uuid.uuid4(), payload=b"<HoSo>khac</HoSo>")
    fresh = [make_envelope() for _ in range(3)]
    twice = make_envelope(sender_message_id="ho-so-2")  # a new message submitted twice in one batch
    batch = [repeat, conflict, *fresh, twice, replace(twice, message_id=uuid.uuid4())]
    answers = in_one_batch(
        store._accepts, [partial(store.accept, e, routed("land"), prepared("land")) for e in batch]
    )
    assert isinstance(answers[0], AcceptResult) and not answers[0].created
    assert answers[0].message_id == original.message_id
    assert isinstance(answers[1], IdempotencyConflictError)
    assert all(isinstance(a, AcceptResult) and a.created for a in answers[2:6])
    assert [a.message_id for a in answers[2:5]] == [e.message_id for e in fresh]
    assert isinstance(answers[6], AcceptResult) and not answers[6].created
    assert answers[6].message_id == twice.message_id
    assert store.counts().messages == 5


def _claims(store: SqlStore, n: int) -> list[Claim]:
    for _ in range(n):
        store.accept(make_envelope(), routed("land"), prepared("land"))
    return store.claim_due("worker-a", n, LEASE)


def test_a_claim_is_a_fixed_number_of_statements_whatever_its_size(store: SqlStore) -> None:
    for _ in range(6):
        store.accept(make_envelope(), routed("land"), prepared("land"))
    with StatementCounter(store.engine) as counter:
        claims = store.claim_due("worker-a", 6, LEASE)
        used = counter.snapshot()
    assert len(claims) == 6 and all(c.payload == b"<GoiTin dich='land'/>" for c in claims)
    assert all(c.envelope.sender == "motcua-dongnai" and c.content_type == XML for c in claims)
    assert used.commits == 1
    # SQLite: BEGIN, the SELECT, one UPDATE, one INSERT; PostgreSQL: one statement (_sqlclaim.py)
    assert used.statements == (4 if store.engine.dialect.name == "sqlite" else 1), used.as_dict()


def test_a_batch_of_outcomes_is_two_statements_or_one(store: SqlStore) -> None:
    """SQLite: BEGIN and an ``executemany`` of each UPDATE; PostgreSQL: one statement for both."""
    claims = _claims(store, 3)
    with StatementCounter(store.engine) as counter:
        answers = in_one_batch(
            store._outcomes,
            [
                partial(store.record_outcome, c, Delivered(response=b"<ok/>", response_status=200))
                for c in claims
            ],
        )
        used = counter.snapshot()
    assert answers == [None, None, None]
    assert used.commits == 1
    assert used.statements == (3 if store.engine.dialect.name == "sqlite" else 1), used.as_dict()
    states = [d.state for r in store.list_messages(MessageFilter(limit=10)) for d in r.deliveries]
    assert states == [DeliveryState.DELIVERED] * 3


def test_a_lost_claim_in_a_batch_of_outcomes_fails_only_its_own(store: SqlStore) -> None:
    claims = _claims(store, 3)
    store.release([claims[1]], "handed back")
    retry = RetryAt(at=claims[0].lease_until, error="HTTP 503", response_status=503)
    answers = in_one_batch(
        store._outcomes,
        [
            lambda: store.record_outcome(claims[0], retry),
            lambda: store.record_outcome(claims[1], Delivered(response=None, response_status=200)),
            lambda: store.record_outcome(claims[2], Delivered(response=b"<ok/>", response_status=200)),
        ],
    )
    assert answers[0] is None and isinstance(answers[1], ClaimLostError) and answers[2] is None
    by_id = {d.id: d for r in store.list_messages(MessageFilter(limit=10)) for d in r.deliveries}
    first, second, third = (by_id[c.delivery_id] for c in claims)
    assert (first.state, first.last_error) == (DeliveryState.FAILED, "HTTP 503")
    assert first.history[-1].outcome is not None and first.history[-1].outcome.value == "retry"
    assert second.state is DeliveryState.QUEUED
    assert (third.state, third.response) == (DeliveryState.DELIVERED, b"<ok/>")
    assert third.delivered_at is not None


def test_a_round_of_the_delivery_loop_is_one_transaction(store: SqlStore) -> None:
    """Store.settle: the outcomes of a round (one statement on PostgreSQL, two on SQLite) and the
    claims for the free threads (one statement on PostgreSQL, three on SQLite) in one transaction,
    one commit."""
    claims = _claims(store, 3)
    for _ in range(2):
        store.accept(make_envelope(), routed("land"), prepared("land"))
    with StatementCounter(store.engine) as counter:
        settled = store.settle(
            "worker-a", [(c, Delivered(response=b"<ok/>", response_status=200)) for c in claims], 4, LEASE
        )
        used = counter.snapshot()
    assert settled.errors == (None, None, None)
    assert len(settled.claims) == 2 and {c.delivery_id for c in claims}.isdisjoint(ids(settled.claims))
    assert (used.commits, used.rollbacks) == (1, 0)
    # SQLite: BEGIN, two UPDATEs of outcomes, the claim's SELECT, UPDATE, INSERT; PostgreSQL: 1 + 1
    assert used.statements == (6 if store.engine.dialect.name == "sqlite" else 2), used.as_dict()
    states = sorted(d.state for r in store.list_messages(MessageFilter(limit=10)) for d in r.deliveries)
    assert states == sorted([DeliveryState.DELIVERED] * 3 + [DeliveryState.IN_FLIGHT] * 2)


def test_a_lost_claim_in_a_round_is_its_own_answer_and_the_round_still_claims(store: SqlStore) -> None:
    claims = _claims(store, 3)
    store.release([claims[0]], "handed back")  # due again: the round's claim takes it
    with StatementCounter(store.engine) as counter:
        # Handed in out of id order: each answer still at its outcome's place.
        outcomes = [(c, Delivered(response_status=200)) for c in reversed(claims)]
        settled = store.settle("worker-a", outcomes, 1, LEASE)
        used = counter.snapshot()
    assert settled.errors[:2] == (None, None) and isinstance(settled.errors[2], ClaimLostError)
    assert f"delivery {claims[0].delivery_id} " in str(settled.errors[2])
    assert ids(settled.claims) == [claims[0].delivery_id]
    assert settled.claims[0].attempt == 2
    # The batch found the lost claim and was rolled back; then one transaction, one by one.
    assert (used.commits, used.rollbacks) == (1, 1), used.as_dict()
    by_id = {d.id: d for r in store.list_messages(MessageFilter(limit=10)) for d in r.deliveries}
    assert [by_id[c.delivery_id].state for c in claims] == [
        DeliveryState.IN_FLIGHT,
        DeliveryState.DELIVERED,
        DeliveryState.DELIVERED,
    ]
    assert [a.outcome for a in by_id[claims[0].delivery_id].history] == ["released", None]


def ids(claims: list[Claim]) -> list[int]:
    return [c.delivery_id for c in claims]


class _Answering:
    """An adapter that answers every delivery at once."""

    name = "land"

    def deliver(self, claim: Claim) -> Delivered:
        return Delivered(response=b"<ok/>", response_status=200)


def test_the_delivery_loop_records_each_outcome_in_the_transaction_that_claims_the_next(
    store: SqlStore,
) -> None:
    """One thread, five deliveries: six transactions (a claim, then four rounds that each record an
    outcome and claim the next, then the last outcome), where a claim and an outcome apiece took ten."""
    for _ in range(5):
        store.accept(make_envelope(), routed("land"), prepared("land"))
    settings = WorkerSettings.model_validate({"count": 1, "poll_interval": "1h", "lease": "3h"})
    never = CircuitBreakerConfig(failure_threshold=100, reset_after=timedelta(hours=1))
    target = Target(
        adapter=cast(Adapter, _Answering()),
        policy=RetryPolicy(RetryPolicyConfig()),
        breaker=CircuitBreaker(never),
    )
    workers = DeliveryWorkers(store, {"land": target}, settings)
    # The test watches through an engine of its own, which the counter does not count.
    watcher = SqlStore(create_store_engine(store.engine.url.render_as_string(hide_password=False)))
    with StatementCounter(store.engine) as counter:
        workers.start()
        try:
            deadline = time.monotonic() + 30
            while watcher.counts().by_target["land"].get(DeliveryState.DELIVERED, 0) < 5:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        finally:
            workers.stop()
            watcher.close()
        used = counter.snapshot()
    assert (used.commits, used.rollbacks) == (6, 0), used.as_dict()
    for record in store.list_messages(MessageFilter(limit=10)):
        assert [a.outcome for a in record.deliveries[0].history] == ["delivered"]
