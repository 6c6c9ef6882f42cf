"""Retry as a policy value: given a failed attempt, decide "retry at T" or "dead". The worker applies it.

The back-off curve is tenacity's exponential-with-jitter strategy; the schedule itself is persisted
in the store (``next_attempt_at``), so a retry planned before a crash still happens after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from tenacity import RetryCallState, wait_exponential_jitter

from lienthong.config.models import RetryPolicyConfig
from lienthong.errors import DeliveryError, PermanentDeliveryError
from lienthong.store import Claim, Dead, RetryAt


class RetryPolicy:
    def __init__(self, config: RetryPolicyConfig) -> None:
        self.config = config
        self._wait = wait_exponential_jitter(
            multiplier=config.initial_backoff.total_seconds(),
            max=config.max_backoff.total_seconds(),
            exp_base=config.multiplier,
            jitter=config.jitter.total_seconds(),
        )

    def backoff(self, attempt: int) -> timedelta:
        """Wait after the ``attempt``-th failure (1-based)."""
        state = RetryCallState(cast(Any, None), None, (), {})
        state.attempt_number = attempt
        return timedelta(seconds=self._wait(state))

    def decide(self, claim: Claim, error: DeliveryError, now: datetime) -> RetryAt | Dead:
        if isinstance(error, PermanentDeliveryError):
            return Dead(
                error=f"rejected by {claim.target}: {error.message}",
                response=error.response,
                response_status=error.response_status,
                request=error.request,
            )
        if claim.round_attempt >= self.config.max_attempts:
            return Dead(
                error=f"gave up after {claim.round_attempt} attempts; last error: {error.message}",
                response=error.response,
                response_status=error.response_status,
                request=error.request,
            )
        at = now + self.backoff(claim.round_attempt)
        if at - claim.first_attempt_at > self.config.max_age:
            return Dead(
                error=f"gave up: undelivered after {self.config.max_age}; last error: {error.message}",
                response=error.response,
                response_status=error.response_status,
                request=error.request,
            )
        return RetryAt(
            at=at,
            error=error.message,
            response=error.response,
            response_status=error.response_status,
            request=error.request,
        )
