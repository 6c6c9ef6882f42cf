"""Delivery workers: claim due deliveries, call the adapter, record exactly one outcome per attempt.

One dispatcher thread per hub process claims only as many deliveries as it has free threads, so a
claimed delivery starts at once and its lease measures a real call, never time spent queueing.
Every attempt ends in exactly one recorded outcome (delivered, retry at T, dead, or released on
shutdown); an attempt cut short by a crash is recognised by its expired lease and taken over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from .adapter import Adapter
from .breaker import BreakerState, CircuitBreaker
from .config import WorkerSettings
from .envelope import utcnow
from .errors import PermanentDeliveryError, TransientDeliveryError
from .retry import RetryPolicy
from .store import Claim, ClaimLostError, Dead, Outcome, Store

log = logging.getLogger("lienthong.deliver")


@dataclass(frozen=True)
class Target:
    """Everything the workers need to deliver to one adapter."""

    adapter: Adapter
    policy: RetryPolicy
    breaker: CircuitBreaker


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DeliveryWorkers:
    def __init__(self, store: Store, targets: Mapping[str, Target], settings: WorkerSettings) -> None:
        self.store = store
        self.targets = dict(targets)
        self.settings = settings
        self.identity = worker_identity()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, Claim] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.settings.count == 0 or self._dispatcher is not None:
            return
        self._executor = ThreadPoolExecutor(self.settings.count, thread_name_prefix="hub-delivery")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="hub-dispatcher", daemon=True)
        self._dispatcher.start()
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
                self.store.release(unfinished)
            executor.shutdown(wait=False, cancel_futures=True)
        for target in self.targets.values():
            close = getattr(target.adapter, "close", None)
            if callable(close):
                close()

    # ------------------------------------------------------------------ dispatching

    def _claimable(self) -> tuple[list[str], list[str]]:
        """Targets to leave alone (circuit open) and targets due one half-open trial."""
        excluded, trials = [], []
        for name, target in self.targets.items():
            state = target.breaker.state
            if state is BreakerState.CLOSED:
                continue
            excluded.append(name)
            if target.breaker.allows_claims():
                trials.append(name)
        return excluded, trials

    def claim(self, limit: int) -> list[Claim]:
        excluded, trials = self._claimable()
        lease = self.settings.lease
        claims = []
        for name in trials:
            claims += self.store.claim_due(self.identity, 1, lease, only_targets=[name])
        if limit > len(claims):
            claims += self.store.claim_due(
                self.identity, limit - len(claims), lease, exclude_targets=excluded
            )
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
            self._running.pop(delivery_id, None)
        self._wake.set()

    # ------------------------------------------------------------------ one attempt

    def process(self, claim: Claim) -> None:
        """Make one attempt and record its outcome. Never raises: a worker thread must not die."""
        target = self.targets.get(claim.target)
        if target is None:
            self._record(claim, Dead(error=f"adapter '{claim.target}' is not configured in this hub"))
            return
        if not target.breaker.before_call():
            self.store.release([claim])
            return
        outcome: Outcome
        try:
            outcome = target.adapter.deliver(claim)
        except PermanentDeliveryError as exc:
            target.breaker.record_success()  # the system is up: it answered, and said no
            outcome = target.policy.decide(claim, exc, utcnow())
        except TransientDeliveryError as exc:
            target.breaker.record_failure()
            outcome = target.policy.decide(claim, exc, utcnow())
        except Exception as exc:
            log.exception("adapter %s failed on delivery %s", claim.target, claim.delivery_id)
            target.breaker.record_failure()
            error = TransientDeliveryError(f"internal error in adapter: {type(exc).__name__}: {exc}")
            outcome = target.policy.decide(claim, error, utcnow())
        else:
            target.breaker.record_success()
        self._record(claim, outcome)

    def _record(self, claim: Claim, outcome: Outcome) -> None:
        try:
            self.store.record_outcome(claim, outcome)
        except ClaimLostError as exc:
            if self._stopping.is_set():
                log.warning("%s: it was handed back at shutdown and will be attempted again", exc)
            else:
                log.warning("%s: its lease expired and another worker has taken it over", exc)
        except Exception:
            # The lease will expire and another attempt will be made: at-least-once, never lost.
            log.exception("could not record the outcome of delivery %s", claim.delivery_id)
        else:
            log.info(
                "delivery %s to %s attempt %d: %s",
                claim.delivery_id,
                claim.target,
                claim.attempt,
                type(outcome).__name__.lower(),
            )
