"""A circuit breaker per adapter: stop hammering a ministry system that is down, and notice by itself
when it is back.

Closed → (``failure_threshold`` consecutive transient failures) → open: its deliveries are not even
claimed → after ``reset_after`` → half-open: one trial delivery is let through; success closes the
circuit, failure opens it again. State is per hub process: each process learns on its own, which
costs at most ``failure_threshold`` extra calls per process and needs no shared state.

The trial is reserved when the dispatcher claims it (:meth:`reserve_trial`), not when the call starts:
between claiming and calling, the dispatcher would otherwise see "half-open, no trial running" again
and claim a second delivery that could then only be handed back unsent.

Every transition is a WARNING on ``lienthong.breaker`` (an outage must show at the default level), and
:meth:`view` is what ``/healthz`` reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lienthong.config.models import CircuitBreakerConfig
from lienthong.envelope import utcnow

log = logging.getLogger("lienthong.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerView:
    """One adapter's circuit as this process sees it, for ``/healthz``."""

    state: BreakerState
    #: When the circuit entered this state (for closed: when it last closed, or None if never opened).
    since: datetime | None
    consecutive_failures: int
    last_error: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "circuit": self.state.value,
            "since": None if self.since is None else self.since.isoformat(),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
        }


class CircuitBreaker:
    def __init__(
        self,
        config: CircuitBreakerConfig,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "adapter",
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.threshold = config.failure_threshold
        self.reset_after = config.reset_after.total_seconds()
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._failures = 0
        self._last_error: str | None = None
        self._opened_at: float | None = None
        self._opened_wall: datetime | None = None
        self._outage_started: float | None = None  # first opening of this outage, for the closing log
        self._closed_wall: datetime | None = None
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

    def view(self) -> BreakerView:
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                since = self._closed_wall
            elif state is BreakerState.OPEN or self._opened_wall is None:
                since = self._opened_wall
            else:
                since = self._opened_wall + timedelta(seconds=self.reset_after)
            return BreakerView(state, since, self._failures, self._last_error)

    def allows_claims(self) -> bool:
        """May workers claim deliveries for this adapter freely? Only while the circuit is closed.

        Asked for every adapter in every round of the delivery loop, so read without the lock: the
        circuit is closed exactly while it has no opening time (:meth:`_state`), one attribute read
        is atomic, and a transition that races with it is seen at the next round, as if it had come
        just after this one."""
        return self._opened_at is None

    def reserve_trial(self) -> bool:
        """Half-open and no trial yet: reserve the one trial for the delivery about to be claimed.

        The caller must follow with :meth:`start_trial` (a delivery was claimed) or
        :meth:`cancel_trial` (none was due, or the claim never ran).
        """
        with self._lock:
            if self._state() is not BreakerState.HALF_OPEN or self._trial_running:
                return False
            self._trial_running = True
            return True

    def start_trial(self, delivery: object) -> None:
        assert self._opened_at is not None
        with self._lock:
            opened_for = self._clock() - self._opened_at
        log.warning(
            "circuit for %s half-open after %.1fs: delivery %s is the one trial call",
            self.name,
            opened_for,
            delivery,
        )

    def cancel_trial(self) -> None:
        """The reserved trial was not made (nothing due, or handed back at shutdown): free it."""
        with self._lock:
            self._trial_running = False

    def before_call(self) -> bool:
        """Called just before an ordinary (non-trial) delivery; False means the circuit opened since
        the delivery was claimed, so do not call."""
        with self._lock:
            return self._state() is BreakerState.CLOSED

    def record_success(self) -> None:
        """The system answered (delivered, or rejected the data): whatever call it was, it is up."""
        with self._lock:
            was_open = self._opened_at is not None
            outage = 0.0 if self._outage_started is None else self._clock() - self._outage_started
            failures = self._failures
            self._failures = 0
            self._opened_at = None
            self._opened_wall = None
            self._outage_started = None
            self._trial_running = False
            if was_open:
                self._closed_wall = self._wall()
        if was_open:
            log.warning(
                "circuit for %s closed: a call succeeded; the outage lasted %.1fs "
                "(%d consecutive failed calls); its deliveries are being sent again",
                self.name,
                outage,
                failures,
            )

    def record_failure(self, error: str | None = None, *, trial: bool = False) -> None:
        """A transient failure; ``trial`` when it was the half-open trial call. A rejection of data
        does not count: the system answered."""
        with self._lock:
            self._failures += 1
            self._last_error = error
            if trial:
                self._trial_running = False
            reopen = trial and self._opened_at is not None
            if not reopen and (self._opened_at is not None or self._failures < self.threshold):
                return  # still closed; or a call that started before the circuit opened
            self._opened_at = self._clock()
            self._opened_wall = self._wall()
            if self._outage_started is None:
                self._outage_started = self._opened_at
            outage = self._opened_at - self._outage_started
            failures = self._failures
        if not reopen:
            log.warning(
                "circuit for %s opened after %d consecutive failed calls; last error: %s; its "
                "deliveries wait (not even claimed) until a trial call in %.1fs succeeds",
                self.name,
                failures,
                error,
                self.reset_after,
            )
        else:
            log.warning(
                "circuit for %s open again: the trial call failed (%s); down for %.1fs so far, "
                "%d consecutive failed calls; next trial in %.1fs",
                self.name,
                error,
                outage,
                failures,
                self.reset_after,
            )
