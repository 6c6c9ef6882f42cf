"""Delivery workers: claim due deliveries, call the adapter, record exactly one outcome per attempt.

One dispatcher thread per hub process owns the store's side of delivery; the threads of a pool only
call adapters. A thread hands its call's outcome to the dispatcher and is free at once. Each round,
the dispatcher records every outcome handed in since the last one and claims as many deliveries as
it has free threads, in ONE transaction (``Store.settle``), then hands the claims out: under steady
load a delivery costs one transaction instead of two (a claim, an outcome), and a round's outcomes
and claims share it (docs/benchmarks.md). Once a claim finds less due than it asked for, rounds
only record, until new work is committed here or the poll comes: below saturation a claim in every
round would mostly find nothing. It waits only when it has nothing to record and no free
thread or nothing due, until an outcome is handed in, a thread is freed, new work is committed
(``wake``) or the poll interval passes: an outcome is recorded as soon as the dispatcher is free,
never a poll interval later.

Below saturation most deliveries are not claimed by the dispatcher at all: the intake's accept stores
them already claimed for threads that are free (``offer``, ``accepted``; ``ClaimOffer``), and they go
to those threads from memory, without a claim round reading back what was just written. That happens
only while the last claim found nothing more due, so a new delivery never overtakes an older one
waiting for a thread, and only for targets whose circuit is closed.

It claims only as many deliveries as it has free threads, so a claimed delivery starts at once and
its lease measures a real call, never time spent queueing; hub processes sharing a PostgreSQL
database never hoard work another could start. Every attempt ends in exactly one recorded outcome
(delivered, retry at T, dead, or released with its reason); an attempt cut short by a crash is
recognised by its expired lease and taken over.

A heartbeat renews every lease this process holds every lease/3, the calls in flight and the
outcomes not yet recorded, so a lease can be short (15 s by default) whatever an adapter's timeout:
a live call, however slow, keeps its delivery, and a dead process's deliveries are taken over one
lease after its last heartbeat.

The threads take their claims from a plain queue, not a ``ThreadPoolExecutor``: the dispatcher knows
how many are free and hands out no more claims than that, so the executor's work (a ``Future``, its
condition, a done-callback, the idle-thread semaphore) bought nothing and cost the dispatcher, the
hub's busiest thread, about a tenth of its CPU (py-spy). They are daemon threads, as the lean
submit's are: stop() ends them; a process that exits without it leaves its claims to their leases.

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
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from queue import Empty, SimpleQueue
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
from lienthong.store import Claim, ClaimOffer, Dead, Outcome, Settled, Store

log = logging.getLogger("lienthong.deliver")

#: What the history of a delivery handed back says, by why it was handed back.
RELEASED_ON_SHUTDOWN = "released on shutdown before an answer"
#: Transient failures of one adapter are summarised in one log line at most this often.
SUMMARY_INTERVAL = 60.0
#: At most this many outcomes are recorded in one round: one transaction should not hold the write
#: lock for long (there are rarely more than the threads handed in meanwhile).
MAX_OUTCOMES = 64


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
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        #: The dispatcher waits on it; whatever gives it something to do notifies it.
        self._changed = threading.Condition(self._lock)
        self._woken = False  # new work was committed, or a thread was freed without an outcome
        self._next_poll = 0.0  # when, by time.monotonic(), to look for due work unprompted
        self._claims_failing = False  # the last claim failed: claim again after a poll interval
        #: The last claim found less due than it asked for: until woken or the next poll, a round
        #: that records outcomes does not look again (see _round).
        self._drained = False
        #: True while the dispatcher takes outcomes in; otherwise (no dispatcher, or it has stopped)
        #: a thread records its outcome itself.
        self._accepting = False
        self._held: dict[int, Claim] = {}  # every claim this process holds: the heartbeat renews them
        self._busy: dict[int, Claim] = {}  # handed to a thread whose call has not ended
        self._reserved = 0  # free threads offered to accepts under way (offer)
        self._claiming = 0  # free threads the dispatcher is claiming for, outside the lock
        self._outcomes: list[tuple[Claim, Outcome]] = []  # calls ended, outcomes not yet recorded
        self._trials: set[int] = set()  # deliveries claimed as a half-open circuit's one trial
        self._calls: dict[int, Claim] = {}  # attempts under way
        self._failures = {name: _FailureSummary(name) for name in self.targets}
        self._halt = threading.Event()  # set once stop() has handed back what was still running
        #: Claims for the delivery threads; None tells one to end (stop()).
        self._jobs: SimpleQueue[Claim | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._dispatcher: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.settings.count == 0 or self._dispatcher is not None:
            return
        self._threads = [
            threading.Thread(target=self._work, name=f"hub-delivery_{number}", daemon=True)
            for number in range(self.settings.count)
        ]
        for thread in self._threads:
            thread.start()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="hub-dispatcher", daemon=True)
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="hub-heartbeat", daemon=True)
        with self._lock:
            self._accepting = True
        self._dispatcher.start()
        self._heartbeat.start()
        log.info("delivery workers started: %s (%d threads)", self.identity, self.settings.count)

    def wake(self) -> None:
        """New work was just committed in this process: look now instead of at the next poll."""
        with self._changed:
            self._woken = True
            self._changed.notify_all()

    def stop(self) -> None:
        """Stop claiming, let running deliveries finish within the grace period and record their
        outcomes, release the rest."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._dispatcher is not None:
            deadline = time.monotonic() + self.settings.shutdown_grace.total_seconds()
            with self._changed:
                # The dispatcher claims no more; it records the outcomes of the calls that end (and
                # the accepts under way hand over or give back the threads offered to them).
                while self._busy or self._outcomes or self._reserved:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(min(remaining, 0.05))
                self._accepting = False  # the dispatcher records what it has, then ends
                self._changed.notify_all()
            self._dispatcher.join()
        if self._threads:
            with self._lock:
                unfinished = list(self._busy.values())
            if unfinished:
                log.warning("releasing %d deliveries still running after the grace period", len(unfinished))
                try:
                    self.store.release(unfinished, RELEASED_ON_SHUTDOWN)
                except StoreUnavailableError:
                    log.warning("could not hand them back: their leases expire, then they are taken over")
            self._cancel_queued()
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

    # ------------------------------------------------------------------ claims made at accept

    def offer(self, targets: Sequence[str]) -> ClaimOffer | None:
        """Free threads for an accept about to store deliveries to ``targets`` (see ClaimOffer),
        reserved until :meth:`accepted`. None unless the last claim found nothing more due (a new
        delivery must not overtake an older one waiting for a thread; when that claim failed, the
        store is in doubt), while stopping, or when no target's circuit is closed."""
        if not self._drained or self._claims_failing or self._stopping.is_set():
            return None  # read without the lock: a stale answer only means one more claim round
        allowed = [t for t in targets if (target := self.targets.get(t)) and target.breaker.allows_claims()]
        if not allowed:
            return None
        with self._lock:
            if not self._accepting:
                return None
            slots = min(len(allowed), self.settings.count - len(self._busy) - self._reserved - self._claiming)
            if slots <= 0:
                return None
            self._reserved += slots
        return ClaimOffer(self.identity, self.settings.lease, slots, frozenset(allowed))

    def accepted(self, offer: ClaimOffer | None, claims: Sequence[Claim], left: int) -> None:
        """An accept has committed (or failed: no claims, ``left`` 0): its ``claims`` go to the
        threads reserved for them, the slots it did not use are given back, and the dispatcher is
        woken for the ``left`` deliveries it stored queued."""
        if offer is None and not left:
            return
        with self._changed:
            if offer is not None:
                self._reserved -= offer.slots
            started = self._accepting  # else stop() is past waiting: the threads take no more work
            if started:
                for claim in claims:
                    self._held[claim.delivery_id] = claim
                    self._busy[claim.delivery_id] = claim
            if left:
                self._woken = True
            if left or (offer is not None and offer.slots > len(claims)):
                self._changed.notify_all()  # work left for the dispatcher, or threads given back
        if not started:
            if claims:
                with suppress(StoreUnavailableError):  # logged by the store; their leases expire
                    self.store.release(claims, RELEASED_ON_SHUTDOWN)
            return
        for claim in claims:
            self._jobs.put(claim)

    # ------------------------------------------------------------------ claims made by the dispatcher

    def claim(self, limit: int) -> list[Claim]:
        """Claim up to ``limit`` deliveries: freely for closed circuits, and one trial for each
        half-open one, reserved before it is claimed so that no second delivery is claimed for it."""
        excluded = self._excluded()
        claims = self._claim_trials(excluded, limit)
        if limit > len(claims):
            try:
                claims += self.store.claim_due(
                    self.identity, limit - len(claims), self.settings.lease, exclude_targets=excluded
                )
            except Exception:
                if not claims:
                    raise
                # The trials are claimed: make them (their breakers wait on them), claim more later.
        return claims

    def _excluded(self) -> list[str]:
        """Targets whose circuit allows no claim but, when half-open, one trial."""
        return [name for name, t in self.targets.items() if not t.breaker.allows_claims()]

    def _claim_trials(self, excluded: Sequence[str], limit: int) -> list[Claim]:
        """One trial delivery for each half-open circuit among ``excluded`` (at most ``limit``)."""
        claims: list[Claim] = []
        for name in excluded:
            if len(claims) >= limit:
                break
            breaker = self.targets[name].breaker
            if not breaker.reserve_trial():
                continue
            try:
                trial = self.store.claim_due(self.identity, 1, self.settings.lease, only_targets=[name])
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
        return claims

    def _dispatch_loop(self) -> None:
        try:
            while self._round():
                pass
        finally:
            # Stopped (or, by a bug, died): from now on each thread records its own outcome.
            with self._changed:
                self._accepting = False
                left, self._outcomes = self._outcomes, []
            for claim, outcome in left:
                self._record(claim, outcome)
                self._forget(claim)

    def _round(self) -> bool:
        """Wait for something to do, then record the outcomes handed in and claim for the free
        threads in one transaction, and hand the claims out. False once stopped."""
        poll = self.settings.poll_interval.total_seconds()
        with self._changed:
            while True:
                stopping = self._stopping.is_set()
                free = 0 if stopping else self.settings.count - len(self._busy) - self._reserved
                now = time.monotonic()
                if self._outcomes or (free > 0 and (self._woken or now >= self._next_poll)):
                    break
                if stopping and not self._accepting:
                    return False
                self._changed.wait(self._next_poll - now if free > 0 else poll)
            if self._outcomes and self._gather(now):
                free = (
                    0 if self._stopping.is_set() else self.settings.count - len(self._busy) - self._reserved
                )
                now = time.monotonic()
            outcomes = self._outcomes[:MAX_OUTCOMES]
            del self._outcomes[:MAX_OUTCOMES]
            # A freed thread takes its next delivery in the transaction that records its outcome,
            # unless claiming has just failed or has just found less due than it asked for; without
            # outcomes only when woken or at the poll. What becomes due in between is new work
            # committed here (it wakes the dispatcher), a retry's time or another process's commit
            # or expired lease, which the poll finds as it finds them while the threads are idle:
            # below saturation, most outcome rounds would otherwise run a claim that finds nothing.
            idle_claim = not (self._claims_failing or self._drained)
            claiming = free > 0 and (self._woken or now >= self._next_poll or idle_claim)
            limit = min(free, self.settings.batch_size) if claiming else 0
            if claiming:
                self._woken = False
                self._next_poll = now + poll
                self._claiming = limit  # not offered to an accept meanwhile
        try:
            self._settle(outcomes, limit)
        except Exception:
            log.exception("the delivery dispatcher's round failed; going on")
        finally:
            if limit:
                with self._lock:
                    self._claiming = 0
        return True

    def _gather(self, since: float) -> bool:
        """A lone outcome, with calls still in flight, waits up to ``settle_wait`` after ``since``
        for another (the lock held by the caller, given up while waiting), so that they share one
        transaction: its BEGIN and COMMIT (an fsync on SQLite) are the dispatcher's cost of a round,
        whatever it carries, and with a few threads most rounds would carry one outcome. Ends as
        soon as a second outcome is in, no call is in flight any more, or at stop(). True if it waited."""
        wait = self.settings.settle_wait.total_seconds()
        if wait <= 0 or len(self._outcomes) != 1 or not self._busy or self._stopping.is_set():
            return False
        deadline = since + wait
        while len(self._outcomes) == 1 and self._busy and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._changed.wait(remaining)
        return True

    def _settle(self, outcomes: Sequence[tuple[Claim, Outcome]], limit: int) -> None:
        excluded: list[str] = []
        claims: list[Claim] = []
        if limit > 0:
            excluded = self._excluded()
            try:
                claims = self._claim_trials(excluded, limit)
            except StoreUnavailableError:
                pass  # the store has logged the outage, once
            except Exception:
                log.exception("claiming a half-open circuit's trial delivery failed")
        settled: Settled | None = None
        try:
            settled = self.store.settle(
                self.identity, outcomes, limit - len(claims), self.settings.lease, exclude_targets=excluded
            )
        except StoreUnavailableError as unavailable:
            # Logged by the store, once; nothing recorded nor claimed. Their leases expire.
            for claim, outcome in outcomes:
                self._recorded(claim, outcome, unavailable)
        except Exception:
            log.exception(
                "recording %d outcomes and claiming in one transaction failed; recording each on its own",
                len(outcomes),
            )
            for claim, outcome in outcomes:
                self._record(claim, outcome)  # each in its own: one cannot fail the others
        else:
            for (claim, outcome), lost in zip(outcomes, settled.errors, strict=True):
                self._recorded(claim, outcome, lost)
            claims += settled.claims
        finally:
            # Recorded, or left to their leases: no longer this process's to renew.
            with self._changed:
                for claim, _ in outcomes:
                    self._held.pop(claim.delivery_id, None)
                self._changed.notify_all()  # stop() waits for the outcomes to be recorded
        if limit > 0:
            self._claims_failing = settled is None
            self._drained = settled is not None and len(claims) < limit
        for claim in claims:
            self._submit(claim)

    def _submit(self, claim: Claim) -> None:
        """Hand ``claim`` to a free thread (there is one: the dispatcher claims for free threads only)."""
        with self._lock:
            self._held[claim.delivery_id] = claim
            self._busy[claim.delivery_id] = claim
        self._jobs.put(claim)

    def _work(self) -> None:
        """A delivery thread: attempt each claim handed to it, until told to end."""
        jobs = self._jobs
        while (claim := jobs.get()) is not None:
            try:
                self.process(claim)
            except BaseException:  # process() never raises; if it did, this thread must not die
                log.exception("delivery %s: the worker thread's attempt failed", claim.delivery_id)
            finally:
                self._finished(claim)
            del claim  # an idle thread holds no payload

    def _cancel_queued(self) -> None:
        """At shutdown: the claims no thread has started are dropped (stop() has released them), and
        each thread ends once its call, if any, has."""
        while True:
            try:
                claim = self._jobs.get_nowait()
            except Empty:
                break
            if claim is not None:
                self._finished(claim)
        for _ in self._threads:
            self._jobs.put(None)

    def _finished(self, claim: Claim) -> None:
        """A thread is done with ``claim``. Still busy, it never ran (cancelled at shutdown) or its
        attempt ended without an outcome: free its trial, if it was one; its lease expires unless
        stop() has released it. (The lock, not the condition's ``with``: the same lock, one Python call
        fewer each way, on every attempt.)"""
        with self._lock:
            if self._busy.pop(claim.delivery_id, None) is None:
                return
            self._held.pop(claim.delivery_id, None)
            self._woken = True
            self._changed.notify_all()
        self._end_trial(claim, resolved=False)

    def _hand_in(self, claim: Claim, outcome: Outcome) -> None:
        """The call is over: the dispatcher records its outcome and this thread is free at once;
        without a dispatcher (none started, or stopped), the thread records it itself."""
        with self._lock:  # the condition's lock (see _finished)
            self._busy.pop(claim.delivery_id, None)
            if self._accepting:
                self._outcomes.append((claim, outcome))
                self._changed.notify_all()
                return
        self._record(claim, outcome)
        self._forget(claim)

    def _forget(self, claim: Claim, *, freed: bool = False) -> None:
        """``claim`` is no longer this process's: recorded, released or lost."""
        with self._changed:
            self._held.pop(claim.delivery_id, None)
            if freed and self._busy.pop(claim.delivery_id, None) is not None:
                self._woken = True  # a thread freed without an outcome: claim for it
                self._changed.notify_all()

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
        """Renew the leases this process holds every lease/3, until stop() is done with them."""
        interval = self.settings.lease.total_seconds() / 3
        while not self._halt.wait(interval):
            self.heartbeat()

    def heartbeat(self) -> None:
        with self._lock:
            held = {**self._calls, **self._held}
        if held:
            try:
                renewed = self.store.extend_leases(list(held.values()), self.settings.lease)
            except StoreUnavailableError:
                pass  # logged by the store; the leases still run, and the next beat tries again
            except Exception:
                log.exception("renewing the leases of %d deliveries failed", len(held))
            else:
                for claim in held.values():
                    if claim.delivery_id not in renewed:
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
        """Make one attempt and hand its outcome in (:meth:`_hand_in`). Never raises: a worker
        thread must not die."""
        target = self.targets.get(claim.target)
        if target is None:
            self._hand_in(claim, Dead(error=f"adapter '{claim.target}' is not configured in this hub"))
            return
        resolved = False  # has the breaker been told how the call went?
        with self._lock:
            trial = claim.delivery_id in self._trials
            self._calls[claim.delivery_id] = claim
        try:
            if not trial and not target.breaker.before_call():
                reason = f"not sent: the circuit for {claim.target} opened after it was claimed"
                # If the database is down (the store logged it), the lease expires and it is taken over.
                with suppress(StoreUnavailableError):
                    self.store.release([claim], reason)
                self._forget(claim, freed=True)
                return
            started = time.perf_counter()
            outcome = self._attempt(target, claim, trial)
            resolved = True
            if self.observer is not None:
                self.observer.attempted(claim, outcome, time.perf_counter() - started)
        finally:
            with self._lock:
                self._calls.pop(claim.delivery_id, None)
            if trial:
                self._end_trial(claim, resolved=resolved)
        self._hand_in(claim, outcome)

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
        """Record one outcome in its own transaction (``Store.record_outcome``) and say how it went."""
        try:
            self.store.record_outcome(claim, outcome)
        except Exception as error:
            self._recorded(claim, outcome, error)
        else:
            self._recorded(claim, outcome, None)

    def _recorded(self, claim: Claim, outcome: Outcome, error: BaseException | None) -> None:
        """Log an outcome recorded (``error`` None), or why it was not: then its lease expires and
        the delivery is attempted again (at-least-once, never lost)."""
        if isinstance(error, ClaimLostError):
            if self._stopping.is_set():
                log.warning("%s: it was handed back at shutdown and will be attempted again", error)
            else:
                log.warning("%s: its lease expired and another worker has taken it over", error)
        elif isinstance(error, StoreUnavailableError):
            log.warning(
                "could not record the outcome of delivery %s (database unavailable): its lease will "
                "expire and it will be attempted again",
                claim.delivery_id,
            )
        elif error is not None:
            log.error("could not record the outcome of delivery %s", claim.delivery_id, exc_info=error)
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
