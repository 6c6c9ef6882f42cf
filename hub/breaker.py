"""A circuit breaker per adapter: stop hammering a ministry system that is down, and notice by itself
when it is back.

Closed → (``failure_threshold`` consecutive transient failures) → open: its deliveries are not even
claimed → after ``reset_after`` → half-open: one trial delivery is let through; success closes the
circuit, failure opens it again. State is per hub process: each process learns on its own, which
costs at most ``failure_threshold`` extra calls per process and needs no shared state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from .config import CircuitBreakerConfig


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(self, config: CircuitBreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = config.failure_threshold
        self.reset_after = config.reset_after.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows_claims(self) -> bool:
        """May workers claim deliveries for this adapter now? In half-open, only for one trial."""
        with self._lock:
            state = self._state()
            return state is BreakerState.CLOSED or (
                state is BreakerState.HALF_OPEN and not self._trial_running
            )

    def before_call(self) -> bool:
        """Called just before a delivery; False means the circuit opened meanwhile, so do not call."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        """A transient failure. A rejection of data does not count: the system answered."""
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial_running = False
