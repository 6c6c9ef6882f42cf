"""Claim at accept, from the intake to the delivery threads: an accept made while delivery threads
are free stores its deliveries claimed and hands them to those threads from memory — no claim round
reads them back. What each test holds is what the store was asked and what its rows say.

Careless and hostile cases: the circuit is open, every thread is taken or offered already, the
accept fails (its threads must come back), the hub stops between the offer and the commit.
"""

from __future__ import annotations

import pytest
from test_deliver import ScriptedAdapter, workers
from test_delivery_loop import SpyStore, delivered, deliveries, wait_for

from lienthong.config.models import RouteRule, RoutesConfig
from lienthong.delivery.workers import RELEASED_ON_SHUTDOWN, DeliveryWorkers
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.errors import IdempotencyConflictError
from lienthong.intake.service import Intake
from lienthong.pipeline.prepare import Preparation
from lienthong.pipeline.route import Router
from lienthong.store import AttemptOutcome, DeliveryState, RouteDecision, RouteStatus


def dossier(n: int, payload: bytes | None = None) -> Envelope:
    return new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id=f"ho-so-{n}",
        payload=payload or f"<HoSo><MaHoSo>H49-{n}</MaHoSo></HoSo>".encode(),
        content_type="application/xml",
    )


def intake_for(store: SpyStore, w: DeliveryWorkers, *targets: str) -> Intake:
    router = Router(RoutesConfig(routes=[RouteRule(name="all", targets=list(targets))]))
    stages = {
        t: Preparation(target=t, target_agency="000.00.00.G13", hub_agency="000.00.00.H49") for t in targets
    }
    return Intake(store, router, stages, dispatch=w)


def drained(store: SpyStore) -> bool:
    """The dispatcher's first claim (at start) has come back with less than it asked for."""
    return bool(store.rounds) and store.rounds[0][1] < store.asked[0][1]


def test_an_accept_below_saturation_hands_its_delivery_to_a_free_thread_without_a_claim_round() -> None:
    store = SpyStore()
    w = workers(
        store,
        ScriptedAdapter("land", [b"<ok/>"] * 3),
        count=2,
        poll_interval="60s",
        lease="120s",
        settle_wait="0s",
    )
    intake = intake_for(store, w, "land")
    w.start()
    try:
        wait_for(lambda: drained(store), "the first claim found nothing")
        results = []
        for n in range(3):
            results.append(intake.submit(dossier(n)))
            wait_for(delivered(store, n + 1), f"dossier {n} delivered")
        wait_for(lambda: sum(o for o, _ in store.rounds) == 3, "every outcome settled")
    finally:
        w.stop()
    assert [len(r.claims) for r in results] == [1, 1, 1]
    # Only the first round (at start) claimed; the others recorded outcomes and claimed nothing.
    assert [limit for _, limit in store.asked if limit] == [2]
    assert store.claim_due_calls == []
    for d in deliveries(store):
        assert [(a.worker, a.outcome) for a in d.history] == [(w.identity, AttemptOutcome.DELIVERED)]


def test_deliveries_left_unclaimed_wake_the_dispatcher() -> None:
    """Two targets, one free thread: one delivery is handed over, the other stored queued and
    claimed by the dispatcher, woken by the accept."""
    store = SpyStore()
    w = workers(
        store,
        ScriptedAdapter("land", [b"<ok/>"]),
        ScriptedAdapter("thue", [b"<ok/>"]),
        count=1,
        poll_interval="60s",
        lease="120s",
        settle_wait="0s",
    )
    intake = intake_for(store, w, "land", "thue")
    w.start()
    try:
        wait_for(lambda: drained(store), "the first claim found nothing")
        result = intake.submit(dossier(1))
        wait_for(delivered(store, 2), "both delivered")
    finally:
        w.stop()
    assert [c.target for c in result.claims] == ["land"]
    assert [d.state for d in deliveries(store)] == [DeliveryState.DELIVERED] * 2


def test_no_offer_for_an_open_circuit_nor_beyond_the_free_threads() -> None:
    store = SpyStore()
    w = workers(
        store,
        ScriptedAdapter("land", []),
        ScriptedAdapter("thue", []),
        count=2,
        threshold=1,
        poll_interval="60s",
        lease="120s",
    )
    assert w.offer(["land"]) is None  # not started: no thread to hand anything to
    w.start()
    try:
        wait_for(lambda: drained(store), "the first claim found nothing")
        first = w.offer(["land", "thue", "land"])
        assert first is not None and (first.slots, first.targets) == (2, frozenset({"land", "thue"}))
        assert w.offer(["land"]) is None  # both threads are offered already
        w.accepted(first, (), 0)  # the accept stored nothing (it failed): the threads come back
        w.targets["thue"].breaker.record_failure("thuế không trả lời")
        assert w.offer(["thue"]) is None  # open circuit: its deliveries wait for the dispatcher
        again = w.offer(["thue", "land"])
        assert again is not None and (again.slots, again.targets) == (1, frozenset({"land"}))
        w.accepted(again, (), 0)
    finally:
        w.stop()


def test_a_failed_accept_gives_its_threads_back() -> None:
    store = SpyStore()
    w = workers(
        store,
        ScriptedAdapter("land", [b"<ok/>"]),
        count=1,
        poll_interval="60s",
        lease="120s",
        settle_wait="0s",
    )
    intake = intake_for(store, w, "land")
    w.start()
    try:
        wait_for(lambda: drained(store), "the first claim found nothing")
        intake.submit(dossier(1))
        wait_for(delivered(store, 1), "delivered")
        with pytest.raises(IdempotencyConflictError):  # same sender id, other content
            intake.submit(dossier(1, payload=b"<HoSo><MaHoSo>khac</MaHoSo></HoSo>"))
        again = w.offer(["land"])  # the thread the failed accept was offered is free again
        assert again is not None and again.slots == 1
        w.accepted(again, (), 0)
    finally:
        w.stop()


def test_claims_handed_over_after_stop_are_released_not_lost() -> None:
    """The hub stops between an offer and its accept's commit: stop() waits for the accept (up to
    its grace), and claims handed over once the threads are gone are handed back to the store."""
    store = SpyStore()
    w = workers(
        store, ScriptedAdapter("land", []), count=1, poll_interval="60s", lease="120s", shutdown_grace="50ms"
    )
    w.start()
    wait_for(lambda: drained(store), "the first claim found nothing")
    offer = w.offer(["land"])
    assert offer is not None
    w.stop()  # the reservation outlives the grace
    envelope = dossier(1)
    route = RouteDecision(RouteStatus.ROUTED, "all", ("land",), "test")
    result = store.accept(envelope, route, intake_for(store, w, "land").route(envelope).prepared, offer)
    assert len(result.claims) == 1
    w.accepted(offer, result.claims, 0)
    (record,) = deliveries(store)
    assert record.state is DeliveryState.QUEUED
    assert [(a.outcome, a.error) for a in record.history] == [(AttemptOutcome.RELEASED, RELEASED_ON_SHUTDOWN)]
