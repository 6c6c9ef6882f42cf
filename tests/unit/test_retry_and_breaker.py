"""The retry policy's decisions and the circuit breaker's states, with time under the test's control."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from lienthong.config.models import CircuitBreakerConfig, RetryPolicyConfig
from lienthong.delivery.breaker import BreakerState, BreakerView, CircuitBreaker
from lienthong.delivery.retry import RetryPolicy
from lienthong.envelope import MessageKind, new_envelope
from lienthong.errors import PermanentDeliveryError, TransientDeliveryError
from lienthong.store import Claim, Dead, RetryAt

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def claim(round_attempt: int, first_attempt_at: datetime = T0) -> Claim:
    env = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="s",
        sender_message_id="m",
        payload=b"<x/>",
        content_type="application/xml",
    )
    return Claim(
        delivery_id=1,
        target="land",
        attempt=round_attempt,
        round_attempt=round_attempt,
        first_attempt_at=first_attempt_at,
        payload=b"<x/>",
        content_type="application/xml",
        envelope=env.header(),
        worker="w",
        lease_until=T0,
    )


def policy(**kw: object) -> RetryPolicy:
    base: dict[str, object] = {"initial_backoff": "1s", "max_backoff": "60s", "multiplier": 2, "jitter": "0s"}
    base.update(kw)
    return RetryPolicy(RetryPolicyConfig.model_validate(base))


def test_backoff_grows_exponentially_and_is_capped() -> None:
    p = policy()
    waits = [p.backoff(n).total_seconds() for n in range(1, 9)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


def test_jitter_spreads_retries_within_its_bound() -> None:
    p = policy(jitter="500ms")
    waits = {p.backoff(3).total_seconds() for _ in range(50)}
    assert len(waits) > 1
    assert all(4.0 <= w <= 4.5 for w in waits)


def test_transient_error_is_retried_at_now_plus_backoff() -> None:
    decision = policy().decide(claim(3), TransientDeliveryError("HTTP 503", response_status=503), T0)
    assert isinstance(decision, RetryAt)
    assert decision.at == T0 + timedelta(seconds=4)
    assert decision.error == "HTTP 503"
    assert decision.response_status == 503


def test_permanent_error_is_dead_at_once() -> None:
    decision = policy().decide(claim(1), PermanentDeliveryError("SOAP fault Client: bad parcel"), T0)
    assert isinstance(decision, Dead)
    assert "rejected by land" in decision.error and "bad parcel" in decision.error


def test_max_attempts_exhausted() -> None:
    decision = policy(max_attempts=3).decide(claim(3), TransientDeliveryError("timeout"), T0)
    assert isinstance(decision, Dead)
    assert "after 3 attempts" in decision.error and "timeout" in decision.error


def test_max_age_exceeded() -> None:
    p = policy(max_age="10s")
    decision = p.decide(
        claim(2, first_attempt_at=T0 - timedelta(seconds=9)), TransientDeliveryError("503"), T0
    )
    assert isinstance(decision, Dead)
    assert "undelivered after" in decision.error


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state_of(b: CircuitBreaker) -> BreakerState:
    """The breaker's state now; read through a call, since each call changes it (mypy would otherwise
    take two reads of the property for the same value)."""
    return b.state


def test_breaker_opens_after_threshold_and_allows_one_trial_after_reset() -> None:
    clock = Clock()
    b = CircuitBreaker(CircuitBreakerConfig(failure_threshold=3, reset_after=timedelta(seconds=10)), clock)
    for _ in range(2):
        assert b.before_call()
        b.record_failure("HTTP 503")
    assert state_of(b) is BreakerState.CLOSED
    b.record_failure("HTTP 503")
    assert state_of(b) is BreakerState.OPEN
    assert not b.allows_claims() and not b.before_call() and not b.reserve_trial()
    clock.now += 10
    assert state_of(b) is BreakerState.HALF_OPEN
    assert not b.allows_claims()  # only the trial may be claimed, and only once
    assert b.reserve_trial()
    assert not b.reserve_trial() and not b.before_call()
    b.record_failure("timeout", trial=True)  # trial failed: open again for a full period
    assert state_of(b) is BreakerState.OPEN
    clock.now += 10
    assert b.reserve_trial()
    b.cancel_trial()  # nothing was due: the trial is free again
    assert b.reserve_trial()
    b.record_success()
    assert state_of(b) is BreakerState.CLOSED
    assert b.allows_claims() and b.before_call()


def test_breaker_transitions_are_warnings_and_its_view_tells_the_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    wall = [T0]
    b = CircuitBreaker(
        CircuitBreakerConfig(failure_threshold=2, reset_after=timedelta(seconds=30)),
        clock,
        name="land",
        wall_clock=lambda: wall[0],
    )
    assert b.view() == BreakerView(BreakerState.CLOSED, None, 0, None)
    caplog.set_level(logging.WARNING, "lienthong.breaker")
    b.record_failure("connection refused")
    assert not caplog.records  # one failure is not an outage
    b.record_failure("connection refused")
    wall[0] = T0 + timedelta(seconds=1)
    assert b.view() == BreakerView(BreakerState.OPEN, T0, 2, "connection refused")
    clock.now += 30
    assert b.view().state is BreakerState.HALF_OPEN
    assert b.view().since == T0 + timedelta(seconds=30)
    assert b.reserve_trial()
    b.start_trial(17)
    b.record_failure("HTTP 502", trial=True)
    clock.now += 35
    wall[0] = T0 + timedelta(seconds=65)
    assert b.reserve_trial()
    b.record_success()
    assert b.view() == BreakerView(BreakerState.CLOSED, T0 + timedelta(seconds=65), 0, "HTTP 502")
    messages = [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert len(messages) == 4, messages
    opened, trial, again, closed = messages
    assert "circuit for land opened after 2 consecutive failed calls" in opened
    assert "connection refused" in opened
    assert "half-open after 30.0s" in trial and "delivery 17" in trial
    assert "open again" in again and "HTTP 502" in again and "down for 30.0s" in again
    assert "circuit for land closed" in closed and "outage lasted 65.0s" in closed


def test_breaker_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(CircuitBreakerConfig(failure_threshold=2, reset_after=timedelta(seconds=1)), Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert state_of(b) is BreakerState.CLOSED
