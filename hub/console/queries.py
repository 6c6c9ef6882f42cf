"""What the console's pages show, read from the store (and, for throughput, its tables directly).

Read-only: every change a page offers (replay, re-route) goes through the store's and intake's own
operations, as ``hub replay`` does. The search takes the staff's terms (dossier code, document id,
agency, procedure, time range, state) and turns them into the store's ``MessageFilter``; a dossier or a
document is found through its trail, so a system that named only the correlation id is found too.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree
from sqlalchemy import Engine, func, select

from lienthong.compose import Hub
from lienthong.envelope import MessageKind
from lienthong.errors import HubError
from lienthong.observe import HealthSnapshot, snapshot
from lienthong.store import DeliveryState, MessageFilter, MessageRecord, Parties, TrailEntry
from lienthong.store.schema import attempts, messages
from lienthong.xml import parse_xml

#: Payloads larger than this are shown cut, with their size; the whole is at the REST payload route.
SHOWN_PAYLOAD = 256 * 1024


@dataclass(frozen=True)
class Dashboard:
    """The metrics' snapshot (queues, dead letters, circuits, this process's activity: the same numbers
    ``/metrics`` and ``/readyz`` show) and the last hour's throughput across every hub process."""

    snapshot: HealthSnapshot
    received_last_hour: int
    delivered_last_hour: int
    failed_last_hour: int


def dashboard(hub: Hub, engine: Engine) -> Dashboard:
    since = datetime.now(UTC) - timedelta(hours=1)
    with engine.connect() as conn:
        received = conn.execute(select(func.count()).where(messages.c.received_at >= since)).scalar_one()
        # From the attempts (indexed by finish time), not deliveries.delivered_at (no index there).
        delivered = conn.execute(
            select(func.count()).where(attempts.c.finished_at >= since, attempts.c.outcome == "delivered")
        ).scalar_one()
        failed = conn.execute(
            select(func.count()).where(
                attempts.c.finished_at >= since, attempts.c.outcome.in_(("retry", "dead"))
            )
        ).scalar_one()
    return Dashboard(snapshot(hub), int(received), int(delivered), int(failed))


@dataclass(frozen=True)
class Search:
    """The search form's terms, as typed (empty: any)."""

    dossier_code: str = ""
    document_id: str = ""
    agency: str = ""
    procedure: str = ""
    since: str = ""
    until: str = ""
    state: str = ""
    kind: str = ""

    @property
    def empty(self) -> bool:
        return not any(vars(self).values())


def _moment(text: str, *, end: bool) -> datetime | None:
    """A date (``2026-11-30``) or a date and time from the form, in Vietnam's time; None when blank."""
    from lienthong.trail import VIETNAM

    text = text.strip()
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise HubError(f"not a date: {text!r} (không phải ngày: {text!r})") from None
    if len(text) <= 10 and end:
        at += timedelta(days=1)
    return at.replace(tzinfo=VIETNAM) if at.tzinfo is None else at


def search(hub: Hub, terms: Search, limit: int = 200) -> list[MessageRecord]:
    """Messages matching every term given, newest first."""
    ids: list[uuid.UUID] | None = None
    if terms.dossier_code.strip():
        ids = [e.envelope.message_id for e in hub.store.dossier_trail(terms.dossier_code.strip())]
    if terms.document_id.strip():
        found = [e.envelope.message_id for e in hub.store.document_trail(terms.document_id.strip())]
        ids = found if ids is None else [i for i in ids if i in set(found)]
    if ids is not None and not ids:
        return []
    parties = None
    if terms.agency.strip():
        agency = terms.agency.strip()
        adapters = [a.name for a in hub.config.adapters.values() if a.agency == agency]
        parties = Parties([agency], adapters)
    try:
        states = [DeliveryState(terms.state)] if terms.state and terms.state != "unroutable" else []
        kind = MessageKind(terms.kind) if terms.kind else None
    except ValueError:
        raise HubError(f"unknown state or kind: {terms.state or terms.kind!r}") from None
    since, until = _moment(terms.since, end=False), _moment(terms.until, end=True)
    flt = MessageFilter(
        message_ids=ids or (),
        states=states,
        kind=kind,
        procedure_code=terms.procedure.strip() or None,
        unroutable=terms.state == "unroutable",
        since=since,
        parties=parties,
        limit=limit,
    )
    records = hub.store.list_messages(flt)
    if until is not None:
        records = [r for r in records if r.envelope.received_at < until]
    return sorted(records, key=lambda r: r.envelope.received_at, reverse=True)


@dataclass(frozen=True)
class ShownPayload:
    text: str
    size: int
    cut: bool
    pretty: bool


def shown_payload(data: bytes, content_type: str) -> ShownPayload:
    """The payload as people read it: XML indented (parsed by the hub's hardened parser), JSON indented,
    anything else as text; the template escapes it. Unparseable bytes are shown as they are."""
    size, cut = len(data), len(data) > SHOWN_PAYLOAD
    head = data[:SHOWN_PAYLOAD]
    if not cut:
        try:
            if "json" in content_type:
                text = json.dumps(json.loads(data), ensure_ascii=False, indent=2)
                return ShownPayload(text, size, cut, True)
            if data.lstrip()[:1] == b"<":
                root = parse_xml(data, what="payload")
                etree.indent(root, space="  ")
                return ShownPayload(etree.tostring(root, encoding="unicode"), size, cut, True)
        except (HubError, ValueError, etree.LxmlError):
            pass
    return ShownPayload(head.decode("utf-8", errors="replace"), size, cut, False)


@dataclass(frozen=True)
class SignatureShown:
    state: str
    detail: str


def signature_of(hub: Hub, record: MessageRecord) -> SignatureShown:
    """The payload's signature checked again now, under the sender's trust as intake checked it."""
    from lienthong.trust.verdict import signature_verdict

    env = record.envelope
    if not env.is_xml:
        return SignatureShown("unsigned", "not XML")
    try:
        root = parse_xml(env.payload, what="payload")
    except HubError as exc:
        return SignatureShown("unverifiable", exc.message)
    trust = hub.intake.verifier.trust if hub.intake.verifier is not None else None
    verdict = signature_verdict(root, trust, env.sender, at=env.received_at)
    parts = [p for p in (verdict.signer_subject, verdict.algorithm, verdict.reason, verdict.message) if p]
    return SignatureShown(verdict.state, " · ".join(parts))


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    target: str
    number: int
    worker: str
    outcome: str
    status: int | None
    error: str


def timeline(record: MessageRecord) -> list[TimelineItem]:
    """Every attempt of every delivery, oldest first."""
    items = [
        TimelineItem(
            a.started_at,
            f"{d.target}/{d.operation}" if d.operation else d.target,
            a.number,
            a.worker,
            a.outcome.value if a.outcome else "running",
            a.response_status,
            a.error or "",
        )
        for d in record.deliveries
        for a in d.history
    ]
    return sorted(items, key=lambda i: i.at)


def dossier_trail(hub: Hub, record: MessageRecord) -> list[TrailEntry]:
    code = record.envelope.dossier_code
    return hub.store.dossier_trail(code) if code else []


def dead_letters(hub: Hub, limit: int = 200) -> list[MessageRecord]:
    return hub.store.list_messages(MessageFilter(states=(DeliveryState.DEAD,), limit=limit))


def unroutable(hub: Hub, limit: int = 200) -> list[MessageRecord]:
    return hub.store.list_messages(MessageFilter(unroutable=True, limit=limit))
