"""The retry policy's decisions and the circuit breaker's states, with time under the test's control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lienthong.breaker import BreakerState, CircuitBreaker
from lienthong.config import CircuitBreakerConfig, RetryPolicyConfig
from lienthong.envelope import MessageKind, new_envelope
from lienthong.errors import PermanentDeliveryError, TransientDeliveryError
from lienthong.retry import RetryPolicy
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
        envelope=env,
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


def test_breaker_opens_after_threshold_and_allows_one_trial_after_reset() -> None:
    clock = Clock()
    b = CircuitBreaker(CircuitBreakerConfig(failure_threshold=3, reset_after=timedelta(seconds=10)), clock)
    for _ in range(2):
        assert b.before_call()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allows_claims() and not b.before_call()
    clock.now += 10
    assert b.state is BreakerState.HALF_OPEN
    assert b.allows_claims()
    assert b.before_call()  # the single trial
    assert not b.allows_claims() and not b.before_call()
    b.record_failure()  # trial failed: open again for a full period
    assert b.state is BreakerState.OPEN
    clock.now += 10
    assert b.before_call()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert b.before_call()


def test_breaker_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(CircuitBreakerConfig(failure_threshold=2, reset_after=timedelta(seconds=1)), Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
