"""Document states: where an official document stands with each agency, derived from stored messages.

The hub keeps no state table for documents. Everything it knows of one is in the messages about it
(``Store.document_trail``): the document itself and its deliveries, the status packages agencies sent
back, the revocations, updates and replacements of it and their answers. Folding them in time order
gives each agency's state, so the state can never disagree with the messages, and a packet that came
before its document (the axis does not keep order) counts once the document is there. docs/edxml.md,
section "Document states", is the table of states.

Per (document, agency): ``queued`` / ``sent`` / ``failed`` / ``unroutable`` from the document's
delivery by the hub (until the agency answers); then by StatusCode 01 ``arrived``, 02 ``rejected``,
03 ``accepted``, 04 ``assigned``, 05 ``processing``, 06 ``done``, 13 ``recalled`` (from the issuer
itself: with every recipient). Progress never goes
back: a late 01 after 05 is history, not state. A revocation, update or replacement (BussinessDocType
1, 2, 3) puts the agencies it concerns in ``revocation-pending`` / ``update-pending`` /
``replacement-pending``, until that agency answers 15 (``revoked`` / ``updated`` / ``replaced``) or 16
(change refused: the state before the change, code 16). That 15 or 16 names the document it answers
(``ResponseFor/DocumentId``): either the changed document or — as the vendor SDK's samples and the
axis's ministries write it — the revocation, update or replacement itself; :func:`document_trail`
brings the latter into the changed document's trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lienthong.edxml import headers as h
from lienthong.envelope import EnvelopeHeader, MessageKind
from lienthong.store import DeliveryState, Parties, RouteStatus, Store, TrailEntry

__all__ = [
    "AgencyState",
    "DocumentReport",
    "DocumentSummary",
    "Related",
    "document_report",
    "document_trail",
    "fold_states",
]

#: StatusCode → the state it puts the document in with the agency that sent it.
PROGRESS: dict[str, str] = {
    "01": "arrived",
    "02": "rejected",
    "03": "accepted",
    "04": "assigned",
    "05": "processing",
    "06": "done",
}
_RANK = {"arrived": 1, "rejected": 2, "accepted": 2, "assigned": 3, "processing": 4, "done": 5}
RECALLED = "13"
AGREES, REFUSES = "15", "16"
PENDING = {"1": "revocation-pending", "2": "update-pending", "3": "replacement-pending"}
SETTLED = {"1": "revoked", "2": "updated", "3": "replaced"}
#: Nothing moves a revoked or replaced document any more (packets after it stay in the history).
FINAL = frozenset({"revoked", "replaced"})
_CHANGED_BY = {"1": "revoked-by", "2": "updated-by", "3": "replaced-by"}


@dataclass(frozen=True)
class AgencyState:
    """Where the document stands with one agency: since when, and the status code that put it there
    (None: the hub's own delivery did)."""

    agency: str
    state: str
    at: datetime
    code: str | None = None


@dataclass(frozen=True)
class DocumentSummary:
    """The document as its own message says it (the first one, if it was sent more than once)."""

    message_id: uuid.UUID
    sender: str
    recipients: tuple[str, ...]
    subject: str | None
    code: str | None
    business_doc_type: str | None
    received_at: datetime


@dataclass(frozen=True)
class Related:
    """A document this one changes (``revokes``, ``updates``, ``replaces``) or is changed by
    (``revoked-by``, ``updated-by``, ``replaced-by``), and the message that says so."""

    document_id: str
    relation: str
    message_id: uuid.UUID


@dataclass(frozen=True)
class DocumentReport:
    document_id: str
    document: DocumentSummary | None  # None: the hub holds no document message of it (only answers)
    states: tuple[AgencyState, ...]
    history: tuple[TrailEntry, ...]
    related: tuple[Related, ...]


@dataclass
class _Agency:
    """One agency's state while folding; ``before`` is what a pending change would restore (16)."""

    state: str
    at: datetime
    code: str | None = None
    rank: int = 0
    answered: bool = False  # a status package from this agency has been folded in
    change: str | None = None  # the BussinessDocType of the pending change
    before: _Agency | None = field(default=None, repr=False)

    def progress(self, code: str, state: str, at: datetime) -> None:
        if self.change is not None and self.before is not None:
            self.before.progress(code, state, at)  # the change pending, the document goes on
            return
        if self.state in FINAL or _RANK[state] < self.rank:
            return
        self.state, self.at, self.code, self.rank = state, at, code, _RANK[state]


def _recipients(env: EnvelopeHeader) -> tuple[str, ...]:
    return h.split_list(env.headers.get(h.TO)) or ((env.recipient,) if env.recipient else ())


def _from(env: EnvelopeHeader) -> str:
    return env.headers.get(h.FROM) or env.sender


def _change_of(env: EnvelopeHeader, document_id: str) -> tuple[str, h.Change] | None:
    """(BussinessDocType, the change) when this message revokes, updates or replaces the document."""
    if env.kind is not MessageKind.DOCUMENT:
        return None
    doc_type = env.headers.get(h.BUSINESS_DOC_TYPE, "0")
    if doc_type not in PENDING:
        return None
    for change in h.changes_of(env.headers):
        if change.document_id == document_id:
            return doc_type, change
    return None


def _is_the_document(env: EnvelopeHeader, document_id: str) -> bool:
    if env.kind is not MessageKind.DOCUMENT:
        return False
    own = env.headers.get(h.DOCUMENT_ID)
    return own == document_id if own is not None else env.document_id == document_id


def _delivery_state(entry: TrailEntry) -> tuple[str, datetime]:
    """The document's state before any answer: how its delivery by the hub stands."""
    if entry.route.status is RouteStatus.UNROUTABLE:
        return "unroutable", entry.envelope.received_at
    delivered = [d.delivered_at for d in entry.deliveries if d.delivered_at is not None]
    if delivered:
        return "sent", min(delivered)
    if entry.deliveries and all(d.state is DeliveryState.DEAD for d in entry.deliveries):
        return "failed", max(d.updated_at for d in entry.deliveries)
    return "queued", entry.envelope.received_at


def _change_ids(document_id: str, entries: Sequence[TrailEntry]) -> set[str]:
    """The own DocumentIds of the revocations, updates and replacements of the document in its trail."""
    found: set[str] = set()
    for entry in entries:
        own = entry.envelope.headers.get(h.DOCUMENT_ID)
        if own and own != document_id and _change_of(entry.envelope, document_id) is not None:
            found.add(own)
    return found


def document_trail(store: Store, document_id: str, parties: Parties | None = None) -> list[TrailEntry]:
    """The document's trail (``Store.document_trail``) with the status packages that answer its changes.

    A ministry answers a revocation, update or replacement as it answers any document it received: its
    15 or 16 names that change document (``ResponseFor/DocumentId``: the revocation's own DocumentId,
    as the vendor SDK's samples and the axis's ministries do), so the store files it under the change.
    It still settles the changed document, so it belongs in that document's trail too (oldest first)."""
    entries = store.document_trail(document_id, parties)
    seen = {entry.envelope.message_id for entry in entries}
    answers: list[TrailEntry] = []
    for change_id in sorted(_change_ids(document_id, entries)):
        for entry in store.document_trail(change_id, parties):
            env = entry.envelope
            if env.kind is MessageKind.STATUS and env.message_id not in seen:
                seen.add(env.message_id)
                answers.append(entry)
    if not answers:
        return entries
    return sorted([*entries, *answers], key=lambda e: (e.envelope.received_at, str(e.envelope.message_id)))


def fold_states(document_id: str, entries: Sequence[TrailEntry]) -> tuple[AgencyState, ...]:
    """Each agency's state of the document, from its trail (oldest first), by agency code."""
    agencies: dict[str, _Agency] = {}
    issuer: str | None = None
    change_ids = _change_ids(document_id, entries)
    for entry in entries:
        env = entry.envelope
        change = _change_of(env, document_id)
        if change is not None:
            doc_type, named = change
            for agency in named.agencies or _recipients(env):
                current = agencies.get(agency) or _Agency("unknown", env.received_at)
                if current.state in FINAL:
                    continue
                before = (
                    current.before if current.change is not None and current.before is not None else current
                )
                agencies[agency] = _Agency(
                    PENDING[doc_type], env.received_at, current.code, current.rank, True, doc_type, before
                )
        elif _is_the_document(env, document_id):
            issuer = issuer or _from(env)
            state, at = _delivery_state(entry)
            for agency in _recipients(env):
                known = agencies.get(agency)
                if known is None or not known.answered:
                    agencies[agency] = _Agency(state, at)
                elif known.state == "unknown":  # answers came first: the state they left stands
                    known.state, known.at = state, at
        elif (
            env.kind is MessageKind.STATUS and env.document_type == "edxml" and env.document_id == document_id
        ):
            agency, code = _from(env), env.headers.get(h.STATUS_CODE, "")
            if code == RECALLED and agency == issuer:  # the issuer takes it back from every recipient
                for other in [a for name, a in agencies.items() if name != issuer]:
                    _answer(other, code, env.received_at)
                continue
            current = agencies.setdefault(agency, _Agency("unknown", env.received_at))
            _answer(current, code, env.received_at)
        elif (
            env.kind is MessageKind.STATUS
            and env.document_type == "edxml"
            and env.document_id in change_ids
            and env.headers.get(h.STATUS_CODE) in (AGREES, REFUSES)
            and _from(env) in agencies
        ):
            # An answer to the change document itself: only its verdict concerns this document (its 01 …
            # 06 are about the change's own delivery, not this document's progress).
            _answer(agencies[_from(env)], env.headers[h.STATUS_CODE], env.received_at)
    return tuple(AgencyState(agency, s.state, s.at, s.code) for agency, s in sorted(agencies.items()))


def _answer(agency: _Agency, code: str, at: datetime) -> None:
    agency.answered = True
    if code in (AGREES, REFUSES):
        if agency.change is None or agency.before is None:
            agency.code = code  # nothing pending with this agency: an answer on record, no move
            return
        doc_type, before = agency.change, agency.before
        if code == AGREES:
            agency.state, agency.at, agency.rank = SETTLED[doc_type], at, before.rank
        else:
            agency.state, agency.at, agency.rank = before.state, before.at, before.rank
        agency.code, agency.change, agency.before = code, None, None
        return
    if code == RECALLED:
        target = agency.before if agency.change is not None and agency.before is not None else agency
        if target.state not in FINAL:
            target.state, target.at, target.code, target.rank = "recalled", at, code, 0
        return
    state = PROGRESS.get(code)
    if state is not None:
        agency.progress(code, state, at)


def _summary(entry: TrailEntry) -> DocumentSummary:
    env = entry.envelope
    return DocumentSummary(
        message_id=env.message_id,
        sender=_from(env),
        recipients=_recipients(env),
        subject=env.headers.get(h.SUBJECT),
        code=env.headers.get(h.CODE),
        business_doc_type=env.headers.get(h.BUSINESS_DOC_TYPE),
        received_at=env.received_at,
    )


def _related(document_id: str, entries: Sequence[TrailEntry]) -> tuple[Related, ...]:
    found: list[Related] = []
    for entry in entries:
        env = entry.envelope
        doc_type = env.headers.get(h.BUSINESS_DOC_TYPE, "0")
        if env.kind is not MessageKind.DOCUMENT or doc_type not in PENDING:
            continue
        own = env.headers.get(h.DOCUMENT_ID)
        targets = [c.document_id for c in h.changes_of(env.headers)]
        if own == document_id:  # this document is the change: what it changes
            found += [Related(t, h.CHANGE_ROLES[doc_type], env.message_id) for t in targets if t != own]
        elif document_id in targets and own:
            found.append(Related(own, _CHANGED_BY[doc_type], env.message_id))
    unique: list[Related] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return tuple(unique)


def document_report(document_id: str, entries: Sequence[TrailEntry]) -> DocumentReport:
    """The document, its states per agency, its history and related documents, from its trail."""
    summary = next((_summary(e) for e in entries if _is_the_document(e.envelope, document_id)), None)
    return DocumentReport(
        document_id=document_id,
        document=summary,
        states=fold_states(document_id, entries),
        history=tuple(entries),
        related=_related(document_id, entries),
    )
