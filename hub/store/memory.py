"""MemoryStore: the store contract held in one process's memory, for unit tests without a database.

It keeps SqlStore's observable behaviour exactly (the contract suite in
tests/integration/test_store_contract.py runs against both), so a worker or intake test that passes
here means the same thing on SQLite and PostgreSQL. Everything it hands out is a frozen record
built fresh from private mutable state, so no deep copies are needed; one lock serialises every
call, which is what SQLite's single writer does too.

The clock can be injected so that a unit test can move time forward (lease expiry, retry times)
without sleeping.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lienthong.edxml.headers import document_links
from lienthong.envelope import Envelope, MessageKind, derive_correlation_id, utcnow
from lienthong.errors import ClaimLostError, IdempotencyConflictError, NotFoundError
from lienthong.store import (
    AcceptResult,
    AttemptOutcome,
    AttemptRecord,
    AwaitingDossier,
    Claim,
    ClaimOffer,
    Delivered,
    DeliveryRecord,
    DeliveryState,
    Exchange,
    MessageFilter,
    MessageRecord,
    Outcome,
    Parties,
    PreparedDelivery,
    RetryAt,
    RouteDecision,
    RouteStatus,
    Settled,
    StateCounts,
    Store,
    TrailDelivery,
    TrailEntry,
    as_utc,
    stored_envelope,
)

_CLAIMABLE = (DeliveryState.QUEUED, DeliveryState.FAILED)


@dataclass
class _Message:
    envelope: Envelope
    fingerprint: str
    routes: list[RouteDecision]
    delivery_ids: list[int] = field(default_factory=list)


@dataclass
class _Delivery:
    """One row of SqlStore's ``deliveries`` table, with its ``attempts`` rows in ``history``."""

    id: int
    message_id: uuid.UUID
    target: str
    payload: bytes
    content_type: str
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    state: DeliveryState = DeliveryState.QUEUED
    attempts: int = 0
    round_attempts: int = 0
    round_started_at: datetime | None = None
    claimed_by: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    response: bytes | None = None
    operation: str | None = None
    response_status: int | None = None
    delivered_at: datetime | None = None
    history: list[AttemptRecord] = field(default_factory=list)

    def owned_by(self, claim: Claim) -> bool:
        return (
            self.state is DeliveryState.IN_FLIGHT
            and self.claimed_by == claim.worker
            and self.attempts == claim.attempt
        )

    def begin_attempt(self, worker: str, lease_until: datetime, now: datetime) -> datetime:
        """Claimed by ``worker`` until ``lease_until``: the next attempt begins (claim_due, or an
        accept's offer: SqlStore writes the same columns). Returns when the round began."""
        self.attempts += 1
        self.round_attempts += 1
        self.round_started_at = round_started_at = self.round_started_at or now
        self.state = DeliveryState.IN_FLIGHT
        self.claimed_by = worker
        self.lease_until = lease_until
        self.updated_at = now
        self.history.append(
            AttemptRecord(
                number=self.attempts,
                worker=worker,
                started_at=now,
                finished_at=None,
                outcome=None,
                error=None,
                response_status=None,
                request=None,
                response=None,
            )
        )
        return round_started_at

    def finish_attempt(
        self,
        number: int,
        at: datetime,
        outcome: AttemptOutcome,
        error: str | None,
        result: Outcome | None = None,
    ) -> None:
        for i, attempt in enumerate(self.history):
            if attempt.number == number:
                self.history[i] = replace(
                    attempt,
                    finished_at=at,
                    outcome=outcome,
                    error=error,
                    response_status=None if result is None else result.response_status,
                    request=None if result is None else result.request,
                    response=None if result is None else result.response,
                )
                return


class MemoryStore:
    """The :class:`~lienthong.store.Store` contract in memory; thread-safe, nothing persisted."""

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: dict[uuid.UUID, _Message] = {}
        self._keys: dict[tuple[str, str], uuid.UUID] = {}
        self._deliveries: dict[int, _Delivery] = {}
        self._ids = itertools.count(1)
        self._polls: dict[str, tuple[str | None, datetime | None, datetime]] = {}  # owner, lease, due

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # ------------------------------------------------------------------ intake

    def accept(
        self,
        envelope: Envelope,
        route: RouteDecision,
        deliveries: Sequence[PreparedDelivery],
        offer: ClaimOffer | None = None,
    ) -> AcceptResult:
        # The fingerprint is taken from the envelope as given, like SqlStore does, before the
        # timestamps are normalised to UTC for storage.
        fingerprint = envelope.fingerprint()
        stored = stored_envelope(envelope)
        with self._lock:
            existing = self._existing(envelope, fingerprint)
            if existing is not None:
                return existing
            if envelope.message_id in self._messages:
                raise ValueError(f"message id {envelope.message_id} is already stored")
            _check_targets((), deliveries)
            now = self._now()
            message = _Message(envelope=stored, fingerprint=fingerprint, routes=[])
            self._messages[envelope.message_id] = message
            self._keys[(envelope.sender, envelope.sender_message_id)] = envelope.message_id
            ids = self._add_route(message, route, deliveries, now)
            claims = () if offer is None else self._claim_at_accept(offer, ids, deliveries, stored, now)
        return AcceptResult(
            message_id=envelope.message_id,
            created=True,
            route=route,
            correlation_id=stored.correlation_id,
            received_at=stored.received_at,
            claims=claims,
        )

    def _claim_at_accept(
        self,
        offer: ClaimOffer,
        ids: Sequence[int],
        prepared: Sequence[PreparedDelivery],
        stored: Envelope,
        now: datetime,
    ) -> tuple[Claim, ...]:
        """The deliveries ``offer`` takes, claimed as SqlStore stores them (under the lock)."""
        header = stored.header()
        claims = []
        for delivery_id, p, take in zip(ids, prepared, offer.picks(prepared), strict=True):
            if not take:
                continue
            claim = offer.claim(delivery_id, p, header, now)
            self._deliveries[delivery_id].begin_attempt(claim.worker, claim.lease_until, now)
            claims.append(claim)
        return tuple(claims)

    def _existing(self, envelope: Envelope, fingerprint: str) -> AcceptResult | None:
        message_id = self._keys.get((envelope.sender, envelope.sender_message_id))
        if message_id is None:
            return None
        message = self._messages[message_id]
        if message.fingerprint != fingerprint:
            raise IdempotencyConflictError(
                f"message id {envelope.sender_message_id!r} from {envelope.sender} was already accepted "
                f"with different content (hub message {message_id}); send new content under a new id",
                detail={"message_id": str(message_id), "sender_message_id": envelope.sender_message_id},
            )
        return AcceptResult(
            message_id=message_id,
            created=False,
            route=message.routes[-1],
            correlation_id=message.envelope.correlation_id,
            received_at=message.envelope.received_at,
        )

    def _add_route(
        self,
        message: _Message,
        route: RouteDecision,
        prepared: Sequence[PreparedDelivery],
        now: datetime,
    ) -> list[int]:
        """The route and its deliveries, queued; their ids, in order."""
        message.routes.append(route)
        ids = []
        for p in prepared:
            delivery = _Delivery(
                id=next(self._ids),
                message_id=message.envelope.message_id,
                target=p.target,
                payload=bytes(p.payload),
                content_type=p.content_type,
                created_at=now,
                updated_at=now,
                next_attempt_at=now,
                operation=p.operation,
            )
            self._deliveries[delivery.id] = delivery
            message.delivery_ids.append(delivery.id)
            ids.append(delivery.id)
        return ids

    def record_exchange(self, envelope: Envelope, route: RouteDecision, exchange: Exchange) -> None:
        fingerprint = envelope.fingerprint()
        stored = stored_envelope(envelope)
        outcome = exchange.outcome
        with self._lock:
            key = (envelope.sender, envelope.sender_message_id)
            if envelope.message_id in self._messages or key in self._keys:
                raise ValueError(f"message id {envelope.message_id} is already stored")
            now = self._now()
            started = as_utc(exchange.started_at)
            delivery = _Delivery(
                id=next(self._ids),
                message_id=envelope.message_id,
                target=exchange.target,
                operation=exchange.operation,
                payload=bytes(exchange.payload),
                content_type=exchange.content_type,
                created_at=started,
                updated_at=now,
                next_attempt_at=None,
                state=DeliveryState.DELIVERED,
                attempts=1,
                round_attempts=1,
                round_started_at=started,
                response=outcome.response,
                response_status=outcome.response_status,
                delivered_at=now,
                history=[
                    AttemptRecord(
                        number=1,
                        worker=exchange.worker,
                        started_at=started,
                        finished_at=now,
                        outcome=AttemptOutcome.DELIVERED,
                        error=None,
                        response_status=outcome.response_status,
                        request=outcome.request,
                        response=outcome.response,
                    )
                ],
            )
            message = _Message(stored, fingerprint, [route], [delivery.id])
            self._messages[envelope.message_id] = message
            self._keys[key] = envelope.message_id
            self._deliveries[delivery.id] = delivery

    def reroute(
        self, message_id: uuid.UUID, route: RouteDecision, deliveries: Sequence[PreparedDelivery]
    ) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                raise NotFoundError(f"message {message_id} has no route decision")
            if message.routes[-1].status is not RouteStatus.UNROUTABLE:
                raise NotFoundError(f"message {message_id} is not unroutable; nothing to re-route")
            _check_targets((self._deliveries[i].target for i in message.delivery_ids), deliveries)
            self._add_route(message, route, deliveries, self._now())

    # ------------------------------------------------------------------ delivery

    def claim_due(
        self,
        worker: str,
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> list[Claim]:
        with self._lock:
            return self._claim(worker, limit, lease, exclude_targets, only_targets)

    def settle(
        self,
        worker: str,
        outcomes: Sequence[tuple[Claim, Outcome]],
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> Settled:
        with self._lock:  # one lock: the outcomes and the claim are one step, as one transaction
            errors: list[BaseException | None] = []
            for claim, outcome in outcomes:
                try:
                    self._record_outcome(claim, outcome)
                except ClaimLostError as error:
                    errors.append(error)
                else:
                    errors.append(None)
            return Settled(tuple(errors), self._claim(worker, limit, lease, exclude_targets, only_targets))

    def _claim(
        self,
        worker: str,
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str],
        only_targets: Collection[str] | None,
    ) -> list[Claim]:
        """The body of claim_due, under the lock its callers hold."""
        now = self._now()
        lease_until = now + lease
        due = [
            d
            for d in self._deliveries.values()
            if _is_due(d, now)
            and d.target not in exclude_targets
            and (only_targets is None or d.target in only_targets)
        ]
        due.sort(key=lambda d: (d.next_attempt_at or now, d.id))
        claims: list[Claim] = []
        for d in due[: max(limit, 0)]:
            if d.state is DeliveryState.IN_FLIGHT:
                # The previous holder's lease ran out: it crashed or hung. Say so in the history.
                d.finish_attempt(
                    d.attempts,
                    now,
                    AttemptOutcome.RELEASED,
                    f"lease expired: worker {d.claimed_by} did not finish",
                )
            round_started_at = d.begin_attempt(worker, lease_until, now)
            claims.append(
                Claim(
                    delivery_id=d.id,
                    target=d.target,
                    attempt=d.attempts,
                    round_attempt=d.round_attempts,
                    first_attempt_at=round_started_at,
                    payload=d.payload,
                    content_type=d.content_type,
                    envelope=self._messages[d.message_id].envelope.header(),
                    worker=worker,
                    lease_until=lease_until,
                    operation=d.operation,
                )
            )
        return claims

    def record_outcome(self, claim: Claim, outcome: Outcome) -> None:
        with self._lock:
            self._record_outcome(claim, outcome)

    def _record_outcome(self, claim: Claim, outcome: Outcome) -> None:
        """The body of record_outcome, under the lock its callers hold."""
        if isinstance(outcome, Delivered):
            state, attempt_outcome, error = DeliveryState.DELIVERED, AttemptOutcome.DELIVERED, None
            next_attempt_at = None
        elif isinstance(outcome, RetryAt):
            state, attempt_outcome, error = DeliveryState.FAILED, AttemptOutcome.RETRY, outcome.error
            next_attempt_at = as_utc(outcome.at)
        else:
            state, attempt_outcome, error = DeliveryState.DEAD, AttemptOutcome.DEAD, outcome.error
            next_attempt_at = None
        now = self._now()
        d = self._deliveries.get(claim.delivery_id)
        if d is None or not d.owned_by(claim):
            raise ClaimLostError(
                f"delivery {claim.delivery_id} attempt {claim.attempt} no longer belongs to {claim.worker}"
            )
        d.state = state
        d.next_attempt_at = next_attempt_at
        d.last_error = error
        if state is DeliveryState.DELIVERED:
            d.delivered_at = now
        d.response = outcome.response
        d.response_status = outcome.response_status
        d.claimed_by = None
        d.lease_until = None
        d.updated_at = now
        d.finish_attempt(claim.attempt, now, attempt_outcome, error, outcome)

    def release(self, claims: Sequence[Claim], reason: str) -> None:
        with self._lock:
            now = self._now()
            for claim in claims:
                d = self._deliveries.get(claim.delivery_id)
                if d is None or not d.owned_by(claim):
                    continue  # someone else has it now; nothing of ours to hand back
                d.state = DeliveryState.QUEUED
                d.round_attempts -= 1  # an interrupted attempt does not count against the retry policy
                d.claimed_by = None
                d.lease_until = None
                d.next_attempt_at = now
                d.updated_at = now
                d.finish_attempt(claim.attempt, now, AttemptOutcome.RELEASED, reason)

    def extend_leases(self, claims: Sequence[Claim], lease: timedelta) -> set[int]:
        with self._lock:
            lease_until = self._now() + lease
            held: set[int] = set()
            for claim in claims:
                d = self._deliveries.get(claim.delivery_id)
                if d is not None and d.owned_by(claim):
                    d.lease_until = lease_until
                    held.add(claim.delivery_id)
            return held

    def replay_dead(self, flt: MessageFilter) -> list[int]:
        with self._lock:
            now = self._now()
            dead = [
                d
                for d in self._deliveries.values()
                if d.state is DeliveryState.DEAD and self._delivery_matches(d, flt)
            ][: max(flt.limit, 0)]
            for d in dead:
                d.state = DeliveryState.QUEUED
                d.round_attempts = 0
                d.round_started_at = None
                d.next_attempt_at = now
                d.updated_at = now
            return [d.id for d in dead]

    # ------------------------------------------------------------------ polling

    def awaiting_answers(
        self, target: str, operation: str, agency: str, kind: MessageKind, since: datetime, limit: int
    ) -> list[AwaitingDossier]:
        since = as_utc(since)
        with self._lock:
            answered = {
                m.envelope.dossier_code
                for m in self._messages.values()
                if m.envelope.sender == agency and m.envelope.kind is kind
            }
            rows = sorted(
                (
                    (d.delivered_at, d.message_id)
                    for d in self._deliveries.values()
                    if d.target == target
                    and d.operation == operation
                    and d.state is DeliveryState.DELIVERED
                    and d.delivered_at is not None
                    and d.delivered_at >= since
                ),
                key=lambda row: row[0],
            )
            latest: dict[str, AwaitingDossier] = {}
            for delivered_at, message_id in rows:
                envelope = self._messages[message_id].envelope
                code = envelope.dossier_code
                if code is None or code in answered:
                    continue
                latest[code] = AwaitingDossier(code, envelope.procedure_code, message_id, delivered_at)
                if len(latest) >= limit:
                    break
            return sorted(latest.values(), key=lambda a: a.delivered_at)

    def start_poll(self, key: str, owner: str, lease: timedelta, next_due: timedelta) -> bool:
        with self._lock:
            now = self._now()
            _, lease_until, due = self._polls.get(key, (None, None, now))
            if (lease_until is not None and lease_until >= now) or due > now:
                return False
            self._polls[key] = (owner, now + lease, now + next_due)
            return True

    def end_poll(self, key: str, owner: str) -> None:
        with self._lock:
            held_by, _, due = self._polls.get(key, (None, None, self._now()))
            if held_by == owner:
                self._polls[key] = (None, None, due)

    # ------------------------------------------------------------------ reading

    def get_message(self, message_id: uuid.UUID) -> MessageRecord:
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                raise NotFoundError(f"no message with id {message_id}")
            return self._record(message)

    def list_messages(self, flt: MessageFilter) -> list[MessageRecord]:
        with self._lock:
            found = [m for m in self._messages.values() if self._message_matches(m, flt)]
            # Newest first, as SqlStore orders by received_at descending (the sort is stable).
            found.sort(key=lambda m: m.envelope.received_at, reverse=True)
            return [self._record(m) for m in found[: max(flt.limit, 0)]]

    def dossier_trail(self, dossier_code: str, parties: Parties | None = None) -> list[TrailEntry]:
        correlation_id = derive_correlation_id(dossier_code, None)
        with self._lock:
            found = [
                m
                for m in self._messages.values()
                if (m.envelope.dossier_code == dossier_code or m.envelope.correlation_id == correlation_id)
                and (parties is None or self._party_to(m, parties))
            ]
            found.sort(key=lambda m: (m.envelope.received_at, m.envelope.message_id))
            return [
                TrailEntry(
                    envelope=m.envelope.header(),
                    route=m.routes[-1],
                    deliveries=tuple(_trail_delivery(self._deliveries[i]) for i in m.delivery_ids),
                )
                for m in found
            ]

    def document_trail(self, document_id: str, parties: Parties | None = None) -> list[TrailEntry]:
        with self._lock:
            found = [
                m
                for m in self._messages.values()
                if _about(m, document_id) and (parties is None or self._party_to(m, parties))
            ]
            return self._trail(found)

    def unmatched_status_packages(self, parties: Parties | None = None, limit: int = 100) -> list[TrailEntry]:
        with self._lock:
            documents = [m for m in self._messages.values() if m.envelope.kind is MessageKind.DOCUMENT]
            found = [
                m
                for m in self._messages.values()
                if m.envelope.kind is MessageKind.STATUS
                and m.envelope.document_type == _EDXML
                and (
                    m.envelope.document_id is None
                    or not any(_about(d, m.envelope.document_id) for d in documents)
                )
                and (parties is None or self._party_to(m, parties))
            ]
            return self._trail(found)[: max(limit, 0)]

    def _trail(self, found: list[_Message]) -> list[TrailEntry]:
        """Trail entries of these messages, oldest first, as SqlStore's ``trail_entries`` (lock held)."""
        found.sort(key=lambda m: (m.envelope.received_at, m.envelope.message_id))
        return [
            TrailEntry(
                envelope=m.envelope.header(),
                route=m.routes[-1],
                deliveries=tuple(_trail_delivery(self._deliveries[i]) for i in m.delivery_ids),
            )
            for m in found
        ]

    def counts(self) -> StateCounts:
        with self._lock:
            by_target: dict[str, dict[DeliveryState, int]] = {}
            for d in self._deliveries.values():
                per_state = by_target.setdefault(d.target, {})
                per_state[d.state] = per_state.get(d.state, 0) + 1
            unroutable = sum(
                1 for m in self._messages.values() if m.routes[-1].status is RouteStatus.UNROUTABLE
            )
            return StateCounts(by_target=by_target, unroutable=unroutable, messages=len(self._messages))

    def close(self) -> None:
        """Nothing to release; like SqlStore after ``close``, the store stays usable."""

    # ------------------------------------------------------------------ helpers (lock held)

    def _message_matches(self, message: _Message, flt: MessageFilter) -> bool:
        env = message.envelope
        if flt.message_ids and env.message_id not in flt.message_ids:
            return False
        if flt.kind is not None and env.kind != flt.kind:
            return False
        if flt.sender and env.sender != flt.sender:
            return False
        if flt.procedure_code and env.procedure_code != flt.procedure_code:
            return False
        if flt.correlation_id is not None and env.correlation_id != flt.correlation_id:
            return False
        if flt.since and env.received_at < flt.since:
            return False
        if flt.unroutable and message.routes[-1].status is not RouteStatus.UNROUTABLE:
            return False
        if flt.parties is not None and not self._party_to(message, flt.parties):
            return False
        if flt.targets or flt.states:
            return any(self._delivery_matches(self._deliveries[i], flt) for i in message.delivery_ids)
        return True

    def _delivery_matches(self, d: _Delivery, flt: MessageFilter) -> bool:
        """SqlStore's ``_filter_deliveries``: every set field must hold for the delivery."""
        env = self._messages[d.message_id].envelope
        return not (
            (flt.message_ids and d.message_id not in flt.message_ids)
            or (flt.targets and d.target not in flt.targets)
            or (flt.states and d.state not in flt.states)
            or (flt.since and d.created_at < flt.since)
            or (flt.kind is not None and env.kind != flt.kind)
            or (flt.sender and env.sender != flt.sender)
            or (flt.procedure_code and env.procedure_code != flt.procedure_code)
            or (flt.correlation_id is not None and env.correlation_id != flt.correlation_id)
            or (flt.parties is not None and not self._party_to(self._messages[d.message_id], flt.parties))
        )

    def _party_to(self, message: _Message, parties: Parties) -> bool:
        """SqlStore's ``_party_of``: sent by, addressed to, or routed to one of ``parties``."""
        env = message.envelope
        return (
            env.sender in parties.agencies
            or (env.recipient is not None and env.recipient in parties.agencies)
            or any(self._deliveries[i].target in parties.targets for i in message.delivery_ids)
        )

    def _record(self, message: _Message) -> MessageRecord:
        return MessageRecord(
            envelope=message.envelope,
            route=message.routes[-1],
            route_history=tuple(message.routes),
            deliveries=tuple(_delivery_record(self._deliveries[i]) for i in message.delivery_ids),
        )


#: What intake writes as ``document_type`` of an edXML message (lienthong.intake.edxml_facts).
_EDXML = "edxml"


def _about(message: _Message, document_id: str) -> bool:
    """SqlStore's ``document_id`` column or a ``document_links`` row names the document."""
    env = message.envelope
    return env.document_id == document_id or any(
        linked == document_id for linked, _role in document_links(env.headers, env.document_id)
    )


def _is_due(d: _Delivery, now: datetime) -> bool:
    if d.state in _CLAIMABLE:
        return d.next_attempt_at is not None and d.next_attempt_at <= now
    if d.state is DeliveryState.IN_FLIGHT:
        return d.lease_until is not None and d.lease_until < now
    return False


def _check_targets(existing: Iterable[str], prepared: Sequence[PreparedDelivery]) -> None:
    """The unique (message_id, target) constraint: refuse before anything is changed."""
    seen = set(existing)
    for p in prepared:
        if p.target in seen:
            raise ValueError(f"two deliveries of one message to target {p.target!r}")
        seen.add(p.target)


def _delivery_record(d: _Delivery) -> DeliveryRecord:
    return DeliveryRecord(
        id=d.id,
        message_id=d.message_id,
        target=d.target,
        state=d.state,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_error=d.last_error,
        created_at=d.created_at,
        updated_at=d.updated_at,
        delivered_at=d.delivered_at,
        payload=d.payload,
        content_type=d.content_type,
        response=d.response,
        history=tuple(d.history),
        operation=d.operation,
    )


def _trail_delivery(d: _Delivery) -> TrailDelivery:
    """SqlStore's columns of the same names: every field of TrailDelivery, attribute by attribute."""
    return TrailDelivery(**{f.name: getattr(d, f.name) for f in fields(TrailDelivery)})


if TYPE_CHECKING:  # mypy proves that the class keeps the contract
    _conforms: type[Store] = MemoryStore
