"""Delivery workers: claim due deliveries, call the adapter, record exactly one outcome per attempt.

One dispatcher thread per hub process claims only as many deliveries as it has free threads, so a
claimed delivery starts at once and its lease measures a real call, never time spent queueing.
Every attempt ends in exactly one recorded outcome (delivered, retry at T, dead, or released with
its reason); an attempt cut short by a crash is recognised by its expired lease and taken over.

A heartbeat renews the leases of the calls in flight every lease/3, so a lease can be short (15 s by
default) whatever an adapter's timeout: a live call, however slow, keeps its delivery, and a dead
process's deliveries are taken over one lease after its last heartbeat.

Failures show at the default log level without flooding it: the circuit breaker logs its
transitions, dead deliveries are one WARNING each, and transient failures are summarised per adapter
at most once a minute.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from lienthong.adapter import Adapter
from lienthong.config.models import WorkerSettings
from lienthong.delivery.breaker import BreakerView, CircuitBreaker
from lienthong.delivery.retry import RetryPolicy
from lienthong.envelope import utcnow
from lienthong.errors import (
    ClaimLostError,
    PermanentDeliveryError,
    StoreUnavailableError,
    TransientDeliveryError,
)
from lienthong.store import Claim, Dead, Outcome, Store

log = logging.getLogger("lienthong.deliver")

#: What the history of a delivery handed back says, by why it was handed back.
RELEASED_ON_SHUTDOWN = "released on shutdown before an answer"
#: Transient failures of one adapter are summarised in one log line at most this often.
SUMMARY_INTERVAL = 60.0


class AttemptObserver(Protocol):
    def attempted(self, claim: Claim, outcome: Outcome, seconds: float) -> None:
        """One attempt decided; ``seconds`` the adapter call took. Must not raise, nor block."""


@dataclass(frozen=True)
class Target:
    """Everything the workers need to deliver to one adapter."""

    adapter: Adapter
    policy: RetryPolicy
    breaker: CircuitBreaker


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _FailureSummary:
    """Transient failures of one adapter, logged as a WARNING at most once per ``interval``.

    The first failure after a quiet interval is logged at once (an outage shows within a call);
    later ones are counted and reported together, also when the failures stop (``flush``)."""

    def __init__(self, target: str, interval: float = SUMMARY_INTERVAL) -> None:
        self.target = target
        self.interval = interval
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._count = 0
        self._deliveries: set[int] = set()
        self._last_error = ""

    def failed(self, delivery_id: int, error: str) -> None:
        with self._lock:
            self._count += 1
            self._deliveries.add(delivery_id)
            self._last_error = error
        self.flush()

    def flush(self) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._count or (self._logged_at is not None and now - self._logged_at < self.interval):
                return
            count, deliveries, error = self._count, len(self._deliveries), self._last_error
            since = None if self._logged_at is None else now - self._logged_at
            self._count, self._deliveries, self._logged_at = 0, set(), now
        if since is None or since >= 2 * self.interval:
            log.warning(
                "deliveries to %s failing (%d failed attempts of %d deliveries); last error: %s; "
                "retried per its retry policy, further failures summarised every %.0fs",
                self.target,
                count,
                deliveries,
                error,
                self.interval,
            )
        else:
            log.warning(
                "deliveries to %s: %d failed attempts (%d deliveries) in the last %.0fs; last error: %s",
                self.target,
                count,
                deliveries,
                since,
                error,
            )


class DeliveryWorkers:
    def __init__(
        self,
        store: Store,
        targets: Mapping[str, Target],
        settings: WorkerSettings,
        *,
        observer: AttemptObserver | None = None,
    ) -> None:
        self.store = store
        #: Told of every attempt's outcome and call duration (the metrics, ``observe/metrics.py``).
        self.observer = observer
        self.targets = dict(targets)
        self.settings = settings
        self.identity = worker_identity()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, Claim] = {}
        self._trials: set[int] = set()  # deliveries claimed as a half-open circuit's one trial
        self._calls: dict[int, Claim] = {}  # attempts under way, whose leases the heartbeat renews
        self._failures = {name: _FailureSummary(name) for name in self.targets}
        self._halt = threading.Event()  # set once stop() has handed back what was still running
        self._executor: ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.settings.count == 0 or self._dispatcher is not None:
            return
        self._executor = ThreadPoolExecutor(self.settings.count, thread_name_prefix="hub-delivery")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="hub-dispatcher", daemon=True)
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="hub-heartbeat", daemon=True)
        self._dispatcher.start()
        self._heartbeat.start()
        log.info("delivery workers started: %s (%d threads)", self.identity, self.settings.count)

    def wake(self) -> None:
        """New work was just committed in this process: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming, let running deliveries finish within the grace period, release the rest."""
        self._stopping.set()
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.join()
        executor = self._executor
        if executor is not None:
            deadline = threading.Event()
            timer = threading.Timer(self.settings.shutdown_grace.total_seconds(), deadline.set)
            timer.start()
            while not deadline.is_set():
                with self._lock:
                    if not self._running:
                        break
                deadline.wait(0.05)
            timer.cancel()
            with self._lock:
                unfinished = list(self._running.values())
            if unfinished:
                log.warning("releasing %d deliveries still running after the grace period", len(unfinished))
                try:
                    self.store.release(unfinished, RELEASED_ON_SHUTDOWN)
                except StoreUnavailableError:
                    log.warning("could not hand them back: their leases expire, then they are taken over")
            executor.shutdown(wait=False, cancel_futures=True)
        self._halt.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        for target in self.targets.values():
            close = getattr(target.adapter, "close", None)
            if callable(close):
                close()

    # ------------------------------------------------------------------ dispatching

    def breakers(self) -> dict[str, BreakerView]:
        """Each adapter's circuit as this process sees it (for ``/healthz``)."""
        return {name: target.breaker.view() for name, target in self.targets.items()}

    def alive(self) -> bool | None:
        """None when this process runs no workers (never started, or none configured); otherwise
        whether they still run: False once stopping, or if a thread of theirs died (``/readyz``)."""
        if self._dispatcher is None or self._heartbeat is None:
            return None
        return not self._stopping.is_set() and self._dispatcher.is_alive() and self._heartbeat.is_alive()

    def claim(self, limit: int) -> list[Claim]:
        """Claim up to ``limit`` deliveries: freely for closed circuits, and one trial for each
        half-open one, reserved before it is claimed so that no second delivery is claimed for it."""
        excluded = [name for name, t in self.targets.items() if not t.breaker.allows_claims()]
        lease = self.settings.lease
        claims: list[Claim] = []
        for name in excluded:
            breaker = self.targets[name].breaker
            if not breaker.reserve_trial():
                continue
            try:
                trial = self.store.claim_due(self.identity, 1, lease, only_targets=[name])
            except BaseException:
                breaker.cancel_trial()
                raise
            if not trial:
                breaker.cancel_trial()
                continue
            with self._lock:
                self._trials.add(trial[0].delivery_id)
            breaker.start_trial(trial[0].delivery_id)
            claims += trial
        if limit > len(claims):
            try:
                claims += self.store.claim_due(
                    self.identity, limit - len(claims), lease, exclude_targets=excluded
                )
            except Exception:
                if not claims:
                    raise
                # The trials are claimed: make them (their breakers wait on them), claim more later.
        return claims

    def _dispatch_loop(self) -> None:
        poll = self.settings.poll_interval.total_seconds()
        while not self._stopping.is_set():
            free = self._free_slots()
            if free == 0:
                self._wake.wait(poll)
                self._wake.clear()
                continue
            try:
                claims = self.claim(min(free, self.settings.batch_size))
            except StoreUnavailableError:
                claims = []  # the store has logged the outage, once; try again after a poll interval
            except Exception:
                log.exception("claiming deliveries failed; retrying after %.1fs", poll)
                claims = []
            if not claims:
                self._wake.wait(poll)
                self._wake.clear()
                continue
            for claim in claims:
                self._submit(claim)

    def _free_slots(self) -> int:
        with self._lock:
            return self.settings.count - len(self._running)

    def _submit(self, claim: Claim) -> None:
        assert self._executor is not None
        with self._lock:
            self._running[claim.delivery_id] = claim
        future: Future[None] = self._executor.submit(self.process, claim)
        future.add_done_callback(partial(self._finished, claim.delivery_id))

    def _finished(self, delivery_id: int, _future: Future[None]) -> None:
        with self._lock:
            claim = self._running.pop(delivery_id, None)
        if claim is not None:
            self._end_trial(claim, resolved=False)  # a trial cancelled at shutdown never ran: free it
        self._wake.set()

    def _is_trial(self, claim: Claim) -> bool:
        with self._lock:
            return claim.delivery_id in self._trials

    def _end_trial(self, claim: Claim, *, resolved: bool) -> None:
        """Forget a trial claim; unless its call told the breaker how it went, free the trial."""
        with self._lock:
            if claim.delivery_id not in self._trials:
                return
            self._trials.discard(claim.delivery_id)
        target = self.targets.get(claim.target)
        if target is not None and not resolved:
            target.breaker.cancel_trial()

    # ------------------------------------------------------------------ heartbeat

    def _heartbeat_loop(self) -> None:
        """Renew the leases of the calls in flight every lease/3, until stop() is done with them."""
        interval = self.settings.lease.total_seconds() / 3
        while not self._halt.wait(interval):
            self.heartbeat()

    def heartbeat(self) -> None:
        with self._lock:
            running = list(self._calls.values())
        if running:
            try:
                held = self.store.extend_leases(running, self.settings.lease)
            except StoreUnavailableError:
                pass  # logged by the store; the leases still run, and the next beat tries again
            except Exception:
                log.exception("renewing the leases of %d deliveries failed", len(running))
            else:
                for claim in running:
                    if claim.delivery_id not in held:
                        with self._lock:
                            still_running = claim.delivery_id in self._calls
                        if still_running:
                            log.warning(
                                "delivery %s to %s: its claim was lost while the call was in flight "
                                "(its lease ran out unrenewed); the answer will not be recorded",
                                claim.delivery_id,
                                claim.target,
                            )
        for summary in self._failures.values():
            summary.flush()

    # ------------------------------------------------------------------ one attempt

    def process(self, claim: Claim) -> None:
        """Make one attempt and record its outcome. Never raises: a worker thread must not die."""
        target = self.targets.get(claim.target)
        if target is None:
            self._record(claim, Dead(error=f"adapter '{claim.target}' is not configured in this hub"))
            return
        trial = self._is_trial(claim)
        resolved = False  # has the breaker been told how the call went?
        with self._lock:
            self._calls[claim.delivery_id] = claim
        try:
            if not trial and not target.breaker.before_call():
                reason = f"not sent: the circuit for {claim.target} opened after it was claimed"
                # If the database is down (the store logged it), the lease expires and it is taken over.
                with suppress(StoreUnavailableError):
                    self.store.release([claim], reason)
                return
            started = time.perf_counter()
            outcome = self._attempt(target, claim, trial)
            resolved = True
            if self.observer is not None:
                self.observer.attempted(claim, outcome, time.perf_counter() - started)
            self._record(claim, outcome)
        finally:
            with self._lock:
                self._calls.pop(claim.delivery_id, None)
            if trial:
                self._end_trial(claim, resolved=resolved)

    def _attempt(self, target: Target, claim: Claim, trial: bool) -> Outcome:
        """Call the adapter once and tell the breaker how it went."""
        try:
            outcome: Outcome = target.adapter.deliver(claim)
        except PermanentDeliveryError as exc:
            target.breaker.record_success()  # the system is up: it answered, and said no
            return target.policy.decide(claim, exc, utcnow())
        except TransientDeliveryError as exc:
            target.breaker.record_failure(exc.message, trial=trial)
            self._failures[claim.target].failed(claim.delivery_id, exc.message)
            return target.policy.decide(claim, exc, utcnow())
        except Exception as exc:
            log.exception("adapter %s failed on delivery %s", claim.target, claim.delivery_id)
            error = TransientDeliveryError(f"internal error in adapter: {type(exc).__name__}: {exc}")
            target.breaker.record_failure(error.message, trial=trial)
            return target.policy.decide(claim, error, utcnow())
        target.breaker.record_success()
        return outcome

    def _record(self, claim: Claim, outcome: Outcome) -> None:
        try:
            self.store.record_outcome(claim, outcome)
        except ClaimLostError as exc:
            if self._stopping.is_set():
                log.warning("%s: it was handed back at shutdown and will be attempted again", exc)
            else:
                log.warning("%s: its lease expired and another worker has taken it over", exc)
        except StoreUnavailableError:
            log.warning(
                "could not record the outcome of delivery %s (database unavailable): its lease will "
                "expire and it will be attempted again",
                claim.delivery_id,
            )
        except Exception:
            # The lease will expire and another attempt will be made: at-least-once, never lost.
            log.exception("could not record the outcome of delivery %s", claim.delivery_id)
        else:
            log.log(
                logging.WARNING if isinstance(outcome, Dead) else logging.INFO,
                "delivery %s to %s attempt %d: %s%s",
                claim.delivery_id,
                claim.target,
                claim.attempt,
                type(outcome).__name__.lower(),
                f" ({outcome.error})" if isinstance(outcome, Dead) else "",
            )
