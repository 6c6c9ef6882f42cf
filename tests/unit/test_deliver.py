"""Delivery workers against the in-memory store and a scripted adapter: one recorded outcome per
attempt, whatever the adapter does, and a shutdown that hands unfinished work back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree

from lienthong.config.models import CircuitBreakerConfig, RetryPolicyConfig, WorkerSettings
from lienthong.delivery.breaker import CircuitBreaker
from lienthong.delivery.retry import RetryPolicy
from lienthong.delivery.workers import DeliveryWorkers, Target
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.errors import PermanentDeliveryError, TransientDeliveryError
from lienthong.store import (
    AttemptOutcome,
    Claim,
    Delivered,
    DeliveryRecord,
    DeliveryState,
    MessageFilter,
    PreparedDelivery,
    RouteDecision,
    RouteStatus,
)
from lienthong.store.memory import MemoryStore


class ScriptedAdapter:
    """Plays back a list of behaviours, one per call: bytes to answer with, or an exception to raise."""

    def __init__(self, name: str, script: list[bytes | Exception | Callable[[], bytes]]) -> None:
        self.name = name
        self.script = list(script)
        self.calls: list[Claim] = []

    def prepare(
        self, envelope: Envelope, tree: etree._Element | None, *, handed_over: bool = False
    ) -> PreparedDelivery:
        return PreparedDelivery(target=self.name, payload=envelope.payload, content_type="application/xml")

    def deliver(self, claim: Claim) -> Delivered:
        self.calls.append(claim)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        body = step() if callable(step) else step
        return Delivered(response=body, response_status=200, request=claim.payload)


def accept(store: MemoryStore, *targets: str, n: int = 1) -> None:
    for i in range(n):
        env = new_envelope(
            kind=MessageKind.DOSSIER,
            sender="000.00.00.H49",
            sender_message_id=f"m{i}",
            payload=f"<HoSo n='{i}'/>".encode(),
            content_type="application/xml",
        )
        route = RouteDecision(RouteStatus.ROUTED, "r", targets, "test")
        store.accept(env, route, [PreparedDelivery(t, env.payload, "application/xml") for t in targets])


def workers(
    store: MemoryStore, *adapters: ScriptedAdapter, threshold: int = 5, **settings: object
) -> DeliveryWorkers:
    retry = RetryPolicy(RetryPolicyConfig(initial_backoff=timedelta(0), jitter=timedelta(0), max_attempts=3))
    targets = {
        a.name: Target(
            adapter=a,
            policy=retry,
            breaker=CircuitBreaker(
                CircuitBreakerConfig(failure_threshold=threshold, reset_after=timedelta(hours=1))
            ),
        )
        for a in adapters
    }
    base: dict[str, object] = {"count": 2, "poll_interval": "20ms", "lease": "30s", "shutdown_grace": "5s"}
    base.update(settings)
    return DeliveryWorkers(store, targets, WorkerSettings.model_validate(base))


def only_delivery(store: MemoryStore, target: str = "land") -> DeliveryRecord:
    [record] = store.list_messages(MessageFilter())
    return next(d for d in record.deliveries if d.target == target)


def test_each_outcome_is_recorded_once() -> None:
    store = MemoryStore()
    accept(store, "land")
    adapter = ScriptedAdapter("land", [TransientDeliveryError("HTTP 503"), RuntimeError("bug"), b"<ok/>"])
    w = workers(store, adapter)
    for _ in range(3):
        [c] = w.claim(1)
        w.process(c)
    d = only_delivery(store)
    assert d.state is DeliveryState.DELIVERED
    assert d.response == b"<ok/>"
    outcomes = [(a.outcome, a.error or "") for a in d.history]
    assert outcomes[0] == (AttemptOutcome.RETRY, "HTTP 503")
    assert (
        outcomes[1][0] is AttemptOutcome.RETRY
        and "internal error in adapter: RuntimeError: bug" in outcomes[1][1]
    )
    assert outcomes[2] == (AttemptOutcome.DELIVERED, "")


def test_permanent_rejection_is_dead_after_one_attempt() -> None:
    store = MemoryStore()
    accept(store, "land")
    w = workers(
        store, ScriptedAdapter("land", [PermanentDeliveryError("SOAP fault Client: thửa đất không tồn tại")])
    )
    [c] = w.claim(1)
    w.process(c)
    d = only_delivery(store)
    assert d.state is DeliveryState.DEAD
    assert "thửa đất không tồn tại" in (d.last_error or "")
    assert w.claim(1) == []


def test_open_circuit_stops_claims_for_that_target_only() -> None:
    store = MemoryStore()
    accept(store, "land", "tax", n=3)
    land = ScriptedAdapter("land", [TransientDeliveryError("down")] * 2)
    tax = ScriptedAdapter("tax", [b"<ok/>"] * 3)
    w = workers(store, land, tax, threshold=1)
    for c in w.claim(10):
        w.process(c)
    # land failed once (threshold 1): its circuit is open, so only its retries wait; tax is done.
    assert w.claim(10) == []
    assert len(land.calls) == 1  # the first failure opened it; the other land claims were handed back
    counts = store.counts().by_target
    assert counts["tax"][DeliveryState.DELIVERED] == 3
    assert DeliveryState.DELIVERED not in counts["land"]


def test_threads_deliver_everything_then_stop() -> None:
    store = MemoryStore()
    accept(store, "land", n=20)
    w = workers(store, ScriptedAdapter("land", [b"<ok/>"] * 20))
    w.start()
    try:
        deadline = time.monotonic() + 10
        while store.counts().by_target["land"].get(DeliveryState.DELIVERED, 0) < 20:
            assert time.monotonic() < deadline, store.counts()
            time.sleep(0.02)
    finally:
        w.stop()


def test_shutdown_releases_what_did_not_finish_within_grace() -> None:
    store = MemoryStore()
    accept(store, "land")
    started, release = threading.Event(), threading.Event()

    def slow() -> bytes:
        started.set()
        release.wait(10)
        return b"<late/>"

    w = workers(store, ScriptedAdapter("land", [slow]), shutdown_grace="200ms")
    w.start()
    assert started.wait(5)
    w.stop()
    d = only_delivery(store)
    assert d.state is DeliveryState.QUEUED
    assert d.history[-1].outcome is AttemptOutcome.RELEASED
    release.set()  # the late answer must not overwrite the released state
    time.sleep(0.1)
    assert only_delivery(store).state is DeliveryState.QUEUED


@pytest.mark.parametrize("count", [0])
def test_zero_workers_never_start(count: int) -> None:
    w = workers(MemoryStore(), count=count)
    w.start()
    w.stop()


def test_a_call_longer_than_the_lease_is_not_taken_over() -> None:
    """The heartbeat renews the lease of a call in flight: another process polling the same store
    does not take a slow delivery over, so the ministry is called once."""
    store = MemoryStore()
    accept(store, "land")
    started = threading.Event()

    def slow() -> bytes:
        started.set()
        time.sleep(1.2)  # four leases
        return b"<ok/>"

    adapter = ScriptedAdapter("land", [slow, b"<duplicate/>"])
    first = workers(store, adapter, lease="300ms")
    second = workers(store, adapter, lease="300ms")
    first.start()
    try:
        assert started.wait(5)
        second.start()
        deadline = time.monotonic() + 10
        while only_delivery(store).state is not DeliveryState.DELIVERED:
            assert time.monotonic() < deadline, only_delivery(store)
            time.sleep(0.02)
    finally:
        second.stop()
        first.stop()
    d = only_delivery(store)
    assert len(adapter.calls) == 1
    assert [a.outcome for a in d.history] == [AttemptOutcome.DELIVERED]
    assert d.response == b"<ok/>"


def test_a_circuit_that_opens_after_a_claim_hands_it_back_saying_why() -> None:
    store = MemoryStore()
    accept(store, "land", n=2)
    adapter = ScriptedAdapter("land", [TransientDeliveryError("HTTP 503")])
    w = workers(store, adapter, threshold=1)
    first, second = w.claim(2)
    w.process(first)  # fails: the circuit opens
    w.process(second)  # claimed while it was closed, not sent now
    assert len(adapter.calls) == 1
    [record] = [r for r in store.list_messages(MessageFilter()) if r.deliveries[0].id == second.delivery_id]
    (attempt,) = record.deliveries[0].history
    assert attempt.outcome is AttemptOutcome.RELEASED
    assert attempt.error == "not sent: the circuit for land opened after it was claimed"
