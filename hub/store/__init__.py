"""The store contract: the only place the hub keeps state, and the owner of every state change.

Workers, the API and the CLI talk to a :class:`Store`; they never see SQL. Two backends implement it
(``SqlStore`` for SQLite and PostgreSQL, ``MemoryStore`` for unit tests) and one contract suite
(tests/integration/test_store_contract.py) runs against all of them so that they cannot drift.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from lienthong.envelope import Envelope, EnvelopeHeader, MessageKind


class DeliveryState(StrEnum):
    QUEUED = "queued"  # waiting for its first attempt
    IN_FLIGHT = "in-flight"  # claimed by a worker whose lease has not expired
    FAILED = "failed"  # last attempt failed; due again at next_attempt_at
    DELIVERED = "delivered"
    DEAD = "dead"  # given up on: permanent rejection or retries exhausted; replayable


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    RELEASED = "released"  # the worker stopped before finishing; nothing was decided


class RouteStatus(StrEnum):
    ROUTED = "routed"
    UNROUTABLE = "unroutable"


@dataclass(frozen=True)
class RouteDecision:
    """Why a message goes where it goes; kept beside the message for auditors."""

    status: RouteStatus
    rule: str | None
    targets: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class PreparedDelivery:
    """The exact bytes one target will receive: translated (and signed) before they are stored."""

    target: str
    payload: bytes
    content_type: str
    #: The adapter operation the bytes are for (see AdapterConfig.operations); None before there were any.
    operation: str | None = None
    #: What the stages changed in the sender's document to make it acceptable (``code: message``), e.g.
    #: an edXML document put in the standard form; not stored with the bytes, logged and shown to callers.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class AcceptResult:
    """What the store holds for a submission, so that the answer to it (new or repeat) needs no re-read.

    For a repeat, every field is the first submission's: its hub id, correlation id (which the sender
    may have left to the hub to derive), reception time and current route."""

    message_id: uuid.UUID
    #: False when this was a repeat of a message accepted earlier (same sender id, same content).
    created: bool
    route: RouteDecision
    correlation_id: uuid.UUID
    received_at: datetime
    #: The deliveries this accept stored already claimed (see :class:`ClaimOffer`), in the order of
    #: the deliveries given; empty for a repeat and when no offer was made.
    claims: tuple[Claim, ...] = ()


@dataclass(frozen=True)
class ClaimOffer:
    """Delivery threads of this process that are free now, offered to one accept: up to ``slots``
    of its deliveries to ``targets`` are stored already claimed — in flight, leased to ``worker``
    until now + ``lease``, their first attempt started — in the accept's own transaction, and come
    back in :attr:`AcceptResult.claims` to be handed to those threads from memory.

    Below saturation (most of a province's day) every delivery otherwise costs a claim round of its
    own after the accept: a transaction that reads back the rows just written. A claim made here is
    as safe as one made by ``claim_due``: if the process dies before the call, the lease runs out
    and another worker takes the delivery over (docs/benchmarks.md, "Claim at accept")."""

    worker: str
    lease: timedelta
    slots: int
    #: Only these targets' deliveries may be claimed (the ones whose circuit is closed here).
    targets: frozenset[str]

    def picks(self, prepared: Sequence[PreparedDelivery]) -> list[bool]:
        """Which of ``prepared`` are stored claimed: the first ``slots`` to the offered targets."""
        left = self.slots
        picked = []
        for p in prepared:
            take = left > 0 and p.target in self.targets
            left -= take
            picked.append(take)
        return picked

    def claim(self, delivery_id: int, p: PreparedDelivery, header: EnvelopeHeader, now: datetime) -> Claim:
        """The claim of a delivery stored claimed at ``now``: its first attempt, as ``claim_due``
        would have made it (``header`` as the store gives it back: see :func:`stored_envelope`)."""
        return Claim(
            delivery_id=delivery_id,
            target=p.target,
            attempt=1,
            round_attempt=1,
            first_attempt_at=now,
            payload=p.payload,
            content_type=p.content_type,
            envelope=header,
            worker=self.worker,
            lease_until=now + self.lease,
            operation=p.operation,
        )


def as_utc(value: datetime) -> datetime:
    """What the UtcDateTime column does: refuse naive values, keep the instant, speak UTC."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return value.astimezone(UTC)


def stored_envelope(envelope: Envelope) -> Envelope:
    """The envelope as a database would give it back: UTC timestamps and a headers dict of its own.
    MemoryStore keeps this; a claim made at accept carries its header, so that it equals the one a
    claim round would have read back."""
    return replace(
        envelope,
        payload=bytes(envelope.payload),
        headers=dict(envelope.headers),
        created_at=None if envelope.created_at is None else as_utc(envelope.created_at),
        received_at=as_utc(envelope.received_at),
    )


@dataclass(frozen=True)
class Claim:
    """A delivery leased to one worker for one attempt."""

    delivery_id: int
    target: str
    attempt: int  # number of this attempt, 1-based, counted over the delivery's whole life
    round_attempt: int  # number of this attempt since the delivery was created or last replayed
    first_attempt_at: datetime  # start of the current round, for the retry policy's max_age
    payload: bytes  # the prepared delivery bytes: what is sent
    content_type: str
    #: The message's metadata, without its original payload (up to the intake limit): delivery sends
    #: the prepared bytes above, so a claim never loads the payload it was translated from.
    envelope: EnvelopeHeader
    worker: str
    lease_until: datetime
    #: The adapter operation to call; None for deliveries stored before adapters had operations.
    operation: str | None = None


@dataclass(frozen=True)
class Delivered:
    response: bytes | None = None
    response_status: int | None = None
    request: bytes | None = None


@dataclass(frozen=True)
class RetryAt:
    at: datetime
    error: str
    response: bytes | None = None
    response_status: int | None = None
    request: bytes | None = None


@dataclass(frozen=True)
class Dead:
    error: str
    response: bytes | None = None
    response_status: int | None = None
    request: bytes | None = None


Outcome = Delivered | RetryAt | Dead


@dataclass(frozen=True)
class Settled:
    """What one :meth:`Store.settle` did, in its one transaction."""

    #: One answer per outcome handed in, in order: None when recorded, else why not (a
    #: ClaimLostError: the claim was taken over or handed back; nothing of it was changed).
    errors: tuple[BaseException | None, ...]
    #: The deliveries claimed after the outcomes were recorded, in the order they fell due.
    claims: list[Claim]


@dataclass(frozen=True)
class Exchange:
    """A request-reply exchange the hub made at once, outside the outbox (a lookup): logged as a
    message whose one delivery is already delivered, with its one attempt, so that it shows like any
    other message (``hub status``, the REST status) but is never claimed, retried or replayed."""

    target: str
    #: The body sent (or, for an answer from the cache, the body that would have been sent).
    payload: bytes
    content_type: str
    #: Who answered: ``lookup`` for a call made, ``lookup-cache`` for an answer from the cache.
    worker: str
    started_at: datetime
    #: The exact request and response bytes; ``request`` is None when nothing was sent (cache).
    outcome: Delivered
    #: The adapter operation called, recorded on the delivery (None: the adapter has no operations).
    operation: str | None = None


@dataclass(frozen=True)
class AwaitingDossier:
    """A dossier delivered through an adapter operation whose result has not come yet (polling): the
    latest message that carried it there."""

    dossier_code: str
    procedure_code: str | None
    message_id: uuid.UUID
    delivered_at: datetime


@dataclass(frozen=True)
class AttemptRecord:
    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome | None
    error: str | None
    response_status: int | None
    request: bytes | None
    response: bytes | None


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    message_id: uuid.UUID
    target: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    payload: bytes
    content_type: str
    response: bytes | None
    history: tuple[AttemptRecord, ...] = ()
    operation: str | None = None


@dataclass(frozen=True)
class MessageRecord:
    envelope: Envelope
    route: RouteDecision
    route_history: tuple[RouteDecision, ...]
    deliveries: tuple[DeliveryRecord, ...]


@dataclass(frozen=True)
class TrailDelivery:
    """One delivery on a dossier's trail: where it went and how it fared, without the bytes sent or
    answered. Each field is the ``deliveries`` column of the same name, and the stores fill it field
    by field (:func:`dataclasses.fields`), so showing one more column on the trail is one field here."""

    id: int
    target: str
    operation: str | None
    state: DeliveryState
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    response_status: int | None
    updated_at: datetime


@dataclass(frozen=True)
class TrailEntry:
    """One message on a dossier's trail: its metadata (never its payload), the route decision in
    force and its deliveries, oldest first."""

    envelope: EnvelopeHeader
    route: RouteDecision
    deliveries: tuple[TrailDelivery, ...]


@dataclass(frozen=True)
class Parties:
    """Agencies whose messages a reader may see, for :attr:`MessageFilter.parties`.

    A message belongs to an agency that sent it (envelope ``sender``), that it is addressed to
    (``recipient``), or that it was routed to: a delivery to one of ``targets``, the adapters standing
    for these agencies (the store knows adapter names, not the agencies behind them). Empty sets match
    nothing: a reader of no agency sees no message.
    """

    agencies: Sequence[str]
    targets: Sequence[str] = ()


@dataclass(frozen=True)
class MessageFilter:
    """Selects messages or deliveries for listings and replay; unset fields match everything.

    ``parties`` is the per-agency read boundary (docs/api.md): when set, only messages one of those
    agencies is party to match, so a listing can never hold another agency's message."""

    message_ids: Sequence[uuid.UUID] = ()
    targets: Sequence[str] = ()
    states: Sequence[DeliveryState] = ()
    kind: MessageKind | None = None
    sender: str | None = None
    procedure_code: str | None = None
    #: The messages of one exchange (a dossier's whole life, a document and its answers).
    correlation_id: uuid.UUID | None = None
    unroutable: bool = False
    since: datetime | None = None
    parties: Parties | None = None
    limit: int = 100


@dataclass(frozen=True)
class StateCounts:
    by_target: dict[str, dict[DeliveryState, int]] = field(default_factory=dict)
    unroutable: int = 0
    messages: int = 0


class Store(Protocol):
    def accept(
        self,
        envelope: Envelope,
        route: RouteDecision,
        deliveries: Sequence[PreparedDelivery],
        offer: ClaimOffer | None = None,
    ) -> AcceptResult:
        """Store the message, its route decision and its deliveries in one transaction.

        Idempotent on (sender, sender_message_id): the same fingerprint returns the first answer,
        a different one raises IdempotencyConflictError. With an ``offer``, up to its slots of the
        deliveries to its targets are stored claimed, in the order given, and returned as claims.
        """
        ...

    def claim_due(
        self,
        worker: str,
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries (queued, failed and due, or whose lease expired)."""
        ...

    def record_outcome(self, claim: Claim, outcome: Outcome) -> None:
        """Finish an attempt. Raises ClaimLostError when the claim no longer belongs to the worker."""
        ...

    def settle(
        self,
        worker: str,
        outcomes: Sequence[tuple[Claim, Outcome]],
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> Settled:
        """Record ``outcomes`` and then claim up to ``limit`` due deliveries, in one transaction:
        the delivery loop's one round trip per round (docs/benchmarks.md), where recording each
        outcome and claiming each batch on its own cost a transaction each. An outcome whose claim
        was lost is answered with its ClaimLostError and changes nothing, the others are recorded;
        any other failure raises, and then nothing was recorded nor claimed."""
        ...

    def release(self, claims: Sequence[Claim], reason: str) -> None:
        """Hand claims back unfinished; the attempt is not counted against the retry policy, and its
        history says ``reason`` (why no answer was recorded: a shutdown, a circuit that opened first)."""
        ...

    def extend_leases(self, claims: Sequence[Claim], lease: timedelta) -> set[int]:
        """Heartbeat: push the lease of each claim this worker still holds to now + ``lease``.

        Returns the delivery ids still held; a claim taken over or finished is left untouched, like
        every other update guarded by the claim. A live call thus keeps its delivery however long it
        takes, while a dead process's deliveries are free one lease after its last heartbeat.
        """
        ...

    def record_exchange(self, envelope: Envelope, route: RouteDecision, exchange: Exchange) -> None:
        """Store a finished request-reply exchange in one transaction: the message, its route
        decision, one delivered delivery and its one attempt (see :class:`Exchange`)."""
        ...

    def awaiting_answers(
        self, target: str, operation: str, agency: str, kind: MessageKind, since: datetime, limit: int
    ) -> list[AwaitingDossier]:
        """Dossiers whose delivery to ``target`` through ``operation`` was delivered at or after
        ``since``, and for which no message of ``kind`` from ``agency`` is stored (by dossier code):
        one per dossier code (its latest such delivery), the longest waiting first, at most ``limit``."""
        ...

    def start_poll(self, key: str, owner: str, lease: timedelta, next_due: timedelta) -> bool:
        """Take the poll of group ``key`` for ``owner`` if nobody holds it (or its lease ran out) and
        it is due; then it is held for ``lease`` and next due ``next_due`` from now. False: not now."""
        ...

    def end_poll(self, key: str, owner: str) -> None:
        """Hand the poll of ``key`` back (its next due time stays); nothing if ``owner`` lost it."""
        ...

    def get_message(self, message_id: uuid.UUID) -> MessageRecord: ...

    def list_messages(self, flt: MessageFilter) -> list[MessageRecord]: ...

    def dossier_trail(self, dossier_code: str, parties: Parties | None = None) -> list[TrailEntry]:
        """Every message of one dossier, from and to every system, oldest first (``received_at``,
        then message id): those whose ``dossier_code`` is ``dossier_code``, and those whose
        correlation id is the one derived from it (``derive_correlation_id``), which a system that
        names only the correlation id still joins. ``parties`` is the read boundary of
        :attr:`MessageFilter.parties`; None reads every agency's. Payloads are never loaded."""
        ...

    def document_trail(self, document_id: str, parties: Parties | None = None) -> list[TrailEntry]:
        """Every message about one official document, oldest first (``received_at``, then message id):
        those whose ``document_id`` is ``document_id`` (the document itself, its status packages, the
        revocation or update of it) and those linked to it otherwise (``document_links``: a document
        by its own DocumentId, a replacement naming it among several). ``parties`` as for
        :meth:`dossier_trail`. Payloads are never loaded."""
        ...

    def unmatched_status_packages(self, parties: Parties | None = None, limit: int = 100) -> list[TrailEntry]:
        """edXML status packages (kind ``status``, document type ``edxml``) about a document the hub
        holds no document message for (none of kind ``document`` is about it, nor names it), or about
        no document at all; oldest first, at most ``limit``. A document that arrives later matches
        its packages from then on. ``parties`` as for :meth:`dossier_trail`."""
        ...

    def replay_dead(self, flt: MessageFilter) -> list[int]:
        """Re-queue dead deliveries matching the filter; returns their ids."""
        ...

    def reroute(
        self, message_id: uuid.UUID, route: RouteDecision, deliveries: Sequence[PreparedDelivery]
    ) -> None:
        """Give an unroutable message a new route decision and its deliveries (after a config fix)."""
        ...

    def counts(self) -> StateCounts: ...

    def close(self) -> None: ...


__all__ = [
    "AcceptResult",
    "AttemptOutcome",
    "AttemptRecord",
    "AwaitingDossier",
    "Claim",
    "ClaimOffer",
    "Dead",
    "Delivered",
    "DeliveryRecord",
    "DeliveryState",
    "Exchange",
    "MessageFilter",
    "MessageRecord",
    "Outcome",
    "Parties",
    "PreparedDelivery",
    "RetryAt",
    "RouteDecision",
    "RouteStatus",
    "Settled",
    "StateCounts",
    "Store",
    "TrailDelivery",
    "TrailEntry",
    "as_utc",
    "stored_envelope",
]


@contextmanager
def lease_held(store: Store, key: str, owner: str, lease: timedelta, next_due: timedelta) -> Iterator[bool]:
    """A scheduled job's turn (a poll group, the axis receive, a reconciliation, the notices): True
    while this process holds ``key``'s lease, handed back however the turn ends; False when another
    process holds it or it is not yet due. One place for the take-and-give-back every job needs."""
    if not store.start_poll(key, owner, lease, next_due):
        yield False
        return
    try:
        yield True
    finally:
        store.end_poll(key, owner)
