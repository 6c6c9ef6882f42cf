"""The delivery loop (workers.py): threads only call adapters and hand their outcomes in; the
dispatcher records the outcomes of a round and claims for the free threads in one store call
(``Store.settle``). What each test holds is what the store saw and what its rows say, never a time.

Attacks on the loop: a store outage while outcomes are queued, a lost claim among queued outcomes,
stop() with outcomes queued, a half-open circuit's one trial, an adapter that raises, a round that
fails for a reason other than an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from test_deliver import ScriptedAdapter, accept, workers

from lienthong.delivery.workers import DeliveryWorkers
from lienthong.envelope import MessageKind, new_envelope
from lienthong.errors import StoreUnavailableError
from lienthong.store import (
    AttemptOutcome,
    Claim,
    Delivered,
    DeliveryRecord,
    DeliveryState,
    MessageFilter,
    Outcome,
    PreparedDelivery,
    RouteDecision,
    RouteStatus,
    Settled,
)
from lienthong.store.memory import MemoryStore


class SpyStore(MemoryStore):
    """A MemoryStore that notes the workers' calls; a round can be held (``hold``) or made to fail."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(**({} if clock is None else {"clock": clock}))
        #: (outcomes handed in, claims made) of each settle that returned.
        self.rounds: list[tuple[int, int]] = []
        #: (outcomes handed in, claims asked for) of each settle.
        self.asked: list[tuple[int, int]] = []
        self.claim_due_calls: list[Collection[str] | None] = []  # each call's only_targets
        self.record_outcome_calls = 0
        self.extended: list[list[int]] = []
        #: While set, a settle with outcomes waits for ``go``, after setting ``holding``.
        self.hold = threading.Event()
        self.holding, self.go = threading.Event(), threading.Event()
        #: Raised by the next settles with outcomes, one each.
        self.failures: list[Exception] = []

    def settle(
        self,
        worker: str,
        outcomes: Sequence[tuple[Claim, Outcome]],
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> Settled:
        self.asked.append((len(outcomes), limit))
        if outcomes and self.hold.is_set():
            self.hold.clear()
            self.holding.set()
            assert self.go.wait(10)
        if outcomes and self.failures:
            raise self.failures.pop(0)
        settled = super().settle(worker, outcomes, limit, lease, exclude_targets, only_targets)
        self.rounds.append((len(outcomes), len(settled.claims)))
        return settled

    def claim_due(
        self,
        worker: str,
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> list[Claim]:
        self.claim_due_calls.append(only_targets)
        return super().claim_due(worker, limit, lease, exclude_targets, only_targets)

    def record_outcome(self, claim: Claim, outcome: Outcome) -> None:
        self.record_outcome_calls += 1
        super().record_outcome(claim, outcome)

    def extend_leases(self, claims: Sequence[Claim], lease: timedelta) -> set[int]:
        self.extended.append(sorted(c.delivery_id for c in claims))
        return super().extend_leases(claims, lease)


class GatedAdapter(ScriptedAdapter):
    """Answers ``<ok/>``; the calls after the first ``free`` wait for ``go``."""

    def __init__(self, name: str, free: int) -> None:
        super().__init__(name, [])
        self.free = free
        self.go = threading.Event()
        self.waiting: list[Claim] = []
        self._lock = threading.Lock()

    def deliver(self, claim: Claim) -> Delivered:
        with self._lock:
            self.calls.append(claim)
            gated = len(self.calls) > self.free
            if gated:
                self.waiting.append(claim)
        if gated:
            assert self.go.wait(10)
        return Delivered(response=b"<ok/>", response_status=200, request=claim.payload)


def deliveries(store: MemoryStore) -> list[DeliveryRecord]:
    return sorted(
        (d for r in store.list_messages(MessageFilter(limit=100)) for d in r.deliveries), key=lambda d: d.id
    )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def delivered(store: MemoryStore, n: int) -> Callable[[], bool]:
    return lambda: sum(d.state is DeliveryState.DELIVERED for d in deliveries(store)) >= n


def test_each_round_records_the_outcome_and_claims_the_next_in_one_store_call() -> None:
    store = SpyStore()
    accept(store, "land", n=5)
    w = workers(store, ScriptedAdapter("land", [b"<ok/>"] * 5), count=1)
    w.start()
    try:
        wait_for(delivered(store, 5), "every delivery delivered")
        wait_for(lambda: sum(o for o, _ in store.rounds) == 5, "every outcome settled")
    finally:
        w.stop()
    # One thread: the first round claims; each later round records one outcome and, in the same
    # store call, claims the next delivery; the last finds nothing more.
    assert store.rounds[0] == (0, 1)
    assert [r for r in store.rounds if r[0]] == [(1, 1)] * 4 + [(1, 0)]
    assert store.claim_due_calls == [] and store.record_outcome_calls == 0
    for d in deliveries(store):
        assert [a.outcome for a in d.history] == [AttemptOutcome.DELIVERED]


def test_after_a_claim_that_found_less_than_it_asked_for_outcome_rounds_claim_only_once_woken() -> None:
    """Below saturation the last claim drained what was due: the rounds that record the outcomes
    ask for nothing more until new work is committed here (``wake``) or the poll comes."""
    store = SpyStore()
    accept(store, "land", n=2)
    w = workers(
        store,
        ScriptedAdapter("land", [b"<ok/>"] * 3),
        count=4,
        lease="120s",
        poll_interval="60s",
        settle_wait="0s",
    )
    w.start()
    try:
        wait_for(delivered(store, 2), "both deliveries delivered")
        wait_for(lambda: sum(o for o, _ in store.rounds) == 2, "both outcomes settled")
        later = new_envelope(
            kind=MessageKind.DOSSIER,
            sender="000.00.00.H49",
            sender_message_id="later",
            payload=b"<HoSo/>",
            content_type="application/xml",
        )
        # Committed without a wake: found at the next poll, a minute away, or once woken.
        store.accept(
            later,
            RouteDecision(RouteStatus.ROUTED, "r", ("land",), "test"),
            [PreparedDelivery("land", later.payload, "application/xml")],
        )
        assert store.asked[0] == (0, 4) and store.rounds[0] == (0, 2)
        assert all(limit == 0 for outcomes, limit in store.asked if outcomes)
        assert sum(d.state is DeliveryState.QUEUED for d in deliveries(store)) == 1
        w.wake()
        wait_for(delivered(store, 3), "the new delivery claimed once woken, and delivered")
    finally:
        w.stop()
    assert [a.outcome for d in deliveries(store) for a in d.history] == [AttemptOutcome.DELIVERED] * 3


def test_outcomes_handed_in_during_a_round_are_recorded_together_and_a_lost_one_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SpyStore()
    accept(store, "land", n=3)
    adapter = GatedAdapter("land", free=1)
    w = workers(store, adapter, count=3)
    store.hold.set()  # the first round with an outcome waits inside the store
    w.start()
    try:
        assert store.holding.wait(10)
        wait_for(lambda: len(adapter.waiting) == 2, "two calls in flight")
        lost = adapter.waiting[0]
        store.release([lost], "taken over")  # as another process would, after its lease ran out
        adapter.go.set()
        wait_for(lambda: len(w._outcomes) == 2, "both outcomes handed in while the round is held")
        with caplog.at_level(logging.INFO, logger="lienthong.deliver"):
            store.go.set()
            # the held round claimed the lost delivery again (due, and a thread free): a third call
            wait_for(delivered(store, 3), "every delivery delivered")
    finally:
        w.stop()
    # the held round's one outcome, then the two handed in meanwhile together, then the retaken one
    assert [o for o, _ in store.rounds if o] == [1, 2, 1]
    by_id = {d.id: d for d in deliveries(store)}
    assert [a.outcome for a in by_id[lost.delivery_id].history] == [
        AttemptOutcome.RELEASED,  # handed back before its answer was recorded: the answer is dropped
        AttemptOutcome.DELIVERED,
    ]
    assert len(adapter.calls) == 4
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        f"delivery {lost.delivery_id} attempt 1" in m and "another worker has taken it over" in m
        for m in messages
    ), messages
    assert store.record_outcome_calls == 0


def test_a_store_outage_while_outcomes_are_queued_leaves_them_to_their_leases(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [datetime(2026, 3, 1, 8, 0, tzinfo=UTC)]
    store = SpyStore(clock=lambda: now[0])
    accept(store, "land")
    adapter = ScriptedAdapter("land", [b"<first/>", b"<second/>"])
    store.failures.append(StoreUnavailableError("settle", "OperationalError: server closed the connection"))
    w = workers(store, adapter, count=1, poll_interval="10ms")
    with caplog.at_level(logging.WARNING, logger="lienthong.deliver"):
        w.start()
        try:
            wait_for(lambda: not store.failures, "the round with the outcome failed")
            wait_for(lambda: "database unavailable" in caplog.text, "the lost outcome is logged")
            [d] = deliveries(store)
            assert d.state is DeliveryState.IN_FLIGHT  # nothing recorded: the answer is not kept
            w.heartbeat()
            assert store.extended == []  # not held any more: its lease is left to run out
            now[0] += timedelta(minutes=1)  # its 30 s lease runs out; the loop takes it over
            w.wake()
            wait_for(delivered(store, 1), "delivered after the outage")
        finally:
            w.stop()
    [d] = deliveries(store)
    assert [a.outcome for a in d.history] == [AttemptOutcome.RELEASED, AttemptOutcome.DELIVERED]
    assert "lease expired" in (d.history[0].error or "")
    assert d.response == b"<second/>"  # at-least-once: the ministry was called twice
    assert any(
        f"could not record the outcome of delivery {d.id} (database unavailable)" in r.getMessage()
        for r in caplog.records
    )


def test_a_round_that_fails_otherwise_records_each_outcome_on_its_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SpyStore()
    accept(store, "land", n=2)
    store.failures.append(RuntimeError("a bug in the batch"))
    w = workers(store, ScriptedAdapter("land", [b"<ok/>"] * 2), count=1)
    with caplog.at_level(logging.ERROR, logger="lienthong.deliver"):
        w.start()
        try:
            wait_for(delivered(store, 2), "both delivered")
        finally:
            w.stop()
    assert store.record_outcome_calls == 1  # the outcome of the failed round, on its own
    assert "recording 1 outcomes and claiming in one transaction failed" in caplog.text
    for d in deliveries(store):
        assert [a.outcome for a in d.history] == [AttemptOutcome.DELIVERED]


def test_stop_records_the_outcomes_handed_in_before_it_returns() -> None:
    store = SpyStore()
    accept(store, "land", n=3)
    adapter = GatedAdapter("land", free=1)
    w = workers(store, adapter, count=3, shutdown_grace="10s")
    store.hold.set()
    w.start()
    assert store.holding.wait(10)
    wait_for(lambda: len(adapter.waiting) == 2, "two calls in flight")
    stopper = threading.Thread(target=w.stop)
    stopper.start()
    wait_for(w._stopping.is_set, "stopping")
    adapter.go.set()  # the two calls end while stop() waits: their outcomes are queued
    wait_for(lambda: len(w._outcomes) == 2, "both outcomes handed in")
    store.go.set()
    stopper.join(10)
    assert not stopper.is_alive()
    for d in deliveries(store):
        assert [a.outcome for a in d.history] == [AttemptOutcome.DELIVERED]
    assert [r for r in store.rounds if r[0]] == [(1, 0), (2, 0)]  # stopping: no claim in them


def test_the_heartbeat_renews_calls_in_flight_and_outcomes_not_yet_recorded() -> None:
    store = SpyStore()
    accept(store, "land", n=2)
    adapter = GatedAdapter("land", free=1)
    w = workers(store, adapter, count=2, lease="30s")
    store.hold.set()
    w.start()
    try:
        assert store.holding.wait(10)  # the first call's outcome is in a round, not yet recorded
        wait_for(lambda: len(adapter.waiting) == 1, "the second call in flight")
        w.heartbeat()
        assert store.extended[-1] == [d.id for d in deliveries(store)]
    finally:
        adapter.go.set()
        store.go.set()
        w.stop()


def test_a_half_open_circuit_lets_one_trial_through_then_the_rest() -> None:
    store = SpyStore()
    accept(store, "land", n=3)
    adapter = ScriptedAdapter("land", [RuntimeError("adapter bug"), b"<ok/>", b"<ok/>", b"<ok/>"])
    w = workers(store, adapter, threshold=1, count=1)
    w.targets["land"].breaker.reset_after = 0.0  # half-open as soon as it opens
    w.start()
    try:
        wait_for(delivered(store, 3), "every delivery delivered")
    finally:
        w.stop()
    assert store.claim_due_calls == [["land"]]  # the one trial, on its own: the breaker waits on it
    first, *rest = deliveries(store)
    assert [a.outcome for a in first.history] == [AttemptOutcome.RETRY, AttemptOutcome.DELIVERED]
    assert "internal error in adapter: RuntimeError: adapter bug" in (first.history[0].error or "")
    for d in rest:
        assert [a.outcome for a in d.history] == [AttemptOutcome.DELIVERED]
    assert w.breakers()["land"].state.value == "closed"


def test_without_a_dispatcher_a_thread_records_its_own_outcome() -> None:
    """``process`` outside the loop (no workers started, or stopped) records at once, as before."""
    store = SpyStore()
    accept(store, "land")
    w: DeliveryWorkers = workers(store, ScriptedAdapter("land", [b"<ok/>"]))
    [claim] = w.claim(1)
    w.process(claim)
    assert store.record_outcome_calls == 1 and store.rounds == []
    assert [d.state for d in deliveries(store)] == [DeliveryState.DELIVERED]


def test_an_outcome_waits_for_the_calls_in_flight_to_share_their_round() -> None:
    """``settle_wait``: the first outcome is held while another call is in flight, and both are
    recorded in one round once that call hands its outcome in, not one round each."""
    store = SpyStore()
    accept(store, "land", n=2)
    adapter = GatedAdapter("land", free=1)
    # A wait far longer than the test: only the second outcome can end it.
    w = workers(store, adapter, count=2, lease="120s", poll_interval="60s", settle_wait="30s")
    w.start()
    try:
        wait_for(lambda: len(adapter.waiting) == 1 and len(w._outcomes) == 1, "one outcome in, one call out")
        adapter.go.set()
        wait_for(delivered(store, 2), "both deliveries delivered")
    finally:
        w.stop()
    assert [o for o, _ in store.rounds if o] == [2]


def test_the_wait_for_calls_in_flight_is_bounded() -> None:
    """A call that does not end does not hold the outcome of another: it is recorded after
    ``settle_wait`` while that call is still in flight."""
    store = SpyStore()
    accept(store, "land", n=2)
    adapter = GatedAdapter("land", free=1)
    w = workers(store, adapter, count=2, settle_wait="1ms")
    w.start()
    try:
        wait_for(lambda: len(adapter.waiting) == 1, "one call in flight")
        wait_for(delivered(store, 1), "the first outcome recorded, the other call still in flight")
        assert len(adapter.waiting) == 1 and not adapter.go.is_set()
    finally:
        adapter.go.set()
        w.stop()
    assert [o for o, _ in store.rounds if o] == [1, 1]


def test_stop_ends_the_wait_for_calls_in_flight() -> None:
    """stop() does not wait out ``settle_wait``: the outcome handed in is recorded, the call still
    in flight is released after the grace period."""
    store = SpyStore()
    accept(store, "land", n=2)
    adapter = GatedAdapter("land", free=1)
    w = workers(
        store, adapter, count=2, lease="120s", poll_interval="60s", settle_wait="30s", shutdown_grace="0s"
    )
    w.start()
    try:
        wait_for(lambda: len(adapter.waiting) == 1 and len(w._outcomes) == 1, "one outcome in, one call out")
        [still_out] = adapter.waiting
        w.stop()
        assert [o for o, _ in store.rounds if o] == [1]
        history = {d.id: [a.outcome for a in d.history] for d in deliveries(store)}
        assert history.pop(still_out.delivery_id) == [AttemptOutcome.RELEASED]
        assert list(history.values()) == [[AttemptOutcome.DELIVERED]]
    finally:
        adapter.go.set()


def test_settle_wait_must_be_shorter_than_the_poll_interval() -> None:
    with pytest.raises(ValueError, match="settle_wait must be shorter than poll_interval"):
        workers(SpyStore(), ScriptedAdapter("land", []), poll_interval="10ms", settle_wait="10ms")
