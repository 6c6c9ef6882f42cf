"""Log entries: canonical JSON bytes built from the store's own immutable rows.

An entry says what happened (``kind``), when (``at``, UTC ISO 8601 with microseconds), its place in the
log (``index``: a swapped or renumbered entry no longer matches its place) and what it is about
(message id, dossier code, document id, agency, procedure), with hashes and sizes of payloads and
answers — never the bytes themselves: those stay in the store under the payload retention, and an
auditor holding a payload can check it against the entry's ``sha256``.

Canonical form: JSON with sorted keys, UTF-8, no whitespace, no floats — so anyone can rebuild the exact
bytes from the row (``hub audit verify`` does) and any JSON tool can read them. Building an entry is a
pure function of its row; the same row always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

#: Entry kinds, and the table each is sealed from.
SOURCES: Final = {
    "messages": "message-in",
    "route_decisions": "route",
    "attempts": "delivery-attempt",
    "refusals": "refusal",
    "operator_actions": "operator-action",
}
FORMAT: Final = "lienthong-audit-entry/1"


#: The encoder ``json.dumps`` would build for these options on every call, built once: the sealer
#: encodes every entry, and making the encoder cost a third as much as encoding. Same class, same
#: options (``check_circular`` and ``skipkeys`` at json.dumps's defaults too), so the same bytes.
_ENCODE: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical(body: dict[str, Any]) -> bytes:
    """Sorted keys, UTF-8, no whitespace: the one spelling of ``body`` that is hashed. No Unicode
    normalisation: a text is hashed as the row holds it (NFC or NFD alike), so the row rebuilds it."""
    return _ENCODE(body).encode("utf-8")


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The sealer reads source rows untyped (the database's own values: SQLite's text, PostgreSQL's objects),
# which spares it the ORM's per-value conversions; these turn either form into the entry's spelling.


def time_text(value: Any) -> str:
    """UTC ISO 8601 with microseconds from a datetime or SQLite's stored ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if isinstance(value, datetime):
        return utc_text(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    text = str(value)
    if len(text) == 26 and text[10] == " ":
        return f"{text[:10]}T{text[11:]}Z"
    parsed = datetime.fromisoformat(text)
    return utc_text(parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC))


def uuid_text(value: Any) -> str | None:
    """The dashed form from a UUID or SQLite's 32 hex digits."""
    if value is None:
        return None
    if value.__class__ is str:  # SQLite's text, the sealer's every id there: no isinstance chain
        text = value
    elif isinstance(value, uuid.UUID):
        return str(value)
    else:
        text = str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def json_value(value: Any) -> Any:
    """A JSON column's value, whether the driver decoded it or not."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def sha256_hex(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


class Entry(NamedTuple):
    """One entry before it is given its place: the indexed references and the body it will be sealed as.

    A named tuple rather than a frozen dataclass: as immutable, and the sealer makes one per row (a frozen
    dataclass sets each field through ``object.__setattr__``, several times the cost)."""

    kind: str
    #: the source row's time as the database gave it (a datetime, or SQLite's text): comparable within
    #: one database, and written back into ``audit_entries.at`` as it came
    at: Any
    source: str
    source_key: str
    body: dict[str, Any]
    #: as the database gave it (a UUID, or SQLite's hex)
    message_id: Any = None
    dossier_code: str | None = None
    document_id: str | None = None
    agency: str | None = None

    def sealed(self, index: int) -> bytes:
        """The entry's bytes as leaf ``index`` of the log."""
        return canonical(
            {**self.body, "format": FORMAT, "index": index, "kind": self.kind, "at": time_text(self.at)}
        )


def message_in(row: Any, payload_size: int | None) -> Entry:
    """A message received: who sent it (the authenticated caller's agency), what about, the payload's
    hash and size, and the headers the hub stored with it (signature verdict, text repairs …)."""
    return Entry(
        kind="message-in",
        at=row.received_at,
        source="messages",
        source_key=uuid_text(row.id) or "",
        message_id=row.id,
        dossier_code=row.dossier_code,
        document_id=row.document_id,
        agency=row.sender,
        body={
            "message_id": uuid_text(row.id),
            "message_kind": row.kind,
            "sender": row.sender,
            "sender_message_id": row.sender_message_id,
            "recipient": row.recipient,
            "procedure": row.procedure_code,
            "dossier_code": row.dossier_code,
            "document_id": row.document_id,
            "document_type": row.document_type,
            "correlation_id": uuid_text(row.correlation_id),
            "causation_id": uuid_text(row.causation_id),
            "content_type": row.content_type,
            "payload": {"sha256": row.payload_sha256, "size": payload_size},
            "headers": dict(json_value(row.headers) or {}),
        },
    )


def route(row: Any) -> Entry:
    """A routing decision (the first, or a re-route): the rule, the targets, the reason."""
    return Entry(
        kind="route",
        at=row.decided_at,
        source="route_decisions",
        source_key=str(row.id),
        message_id=row.message_id,
        dossier_code=row.dossier_code,
        document_id=row.document_id,
        agency=row.sender,
        body={
            "message_id": uuid_text(row.message_id),
            "dossier_code": row.dossier_code,
            "document_id": row.document_id,
            "status": row.status,
            "rule": row.rule,
            "targets": list(json_value(row.targets) or []),
            "reason": row.reason,
        },
    )


def attempt(row: Any) -> Entry:
    """A finished delivery attempt: where to, what was sent (hash), what came back (status, hash)."""
    return Entry(
        kind="delivery-attempt",
        at=row.finished_at,
        source="attempts",
        source_key=str(row.id),
        message_id=row.message_id,
        dossier_code=row.dossier_code,
        document_id=row.document_id,
        agency=row.sender,
        body={
            "message_id": uuid_text(row.message_id),
            "dossier_code": row.dossier_code,
            "document_id": row.document_id,
            "delivery_id": row.delivery_id,
            "target": row.target,
            "operation": row.operation,
            "number": row.number,
            "worker": row.worker,
            "started_at": time_text(row.started_at),
            "outcome": row.outcome,
            "error": row.error,
            "request": {"sha256": sha256_hex(row.request), "size": _size(row.request)},
            "answer": {
                "status": row.response_status,
                "sha256": sha256_hex(row.response),
                "size": _size(row.response),
            },
        },
    )


def refusal(row: Any) -> Entry:
    """A request refused at the edge: why, from whom (when known), for which service."""
    return Entry(
        kind="refusal",
        at=row.at,
        source="refusals",
        source_key=str(row.id),
        agency=row.agency,
        body={
            "reason": row.reason,
            "agency": row.agency,
            "service": row.service,
            "remote": row.remote,
            "detail": row.detail,
            "payload_sha256": row.payload_sha256,
        },
    )


def operator_action(row: Any) -> Entry:
    """Something an operator did: who, in which role, what, to what."""
    return Entry(
        kind="operator-action",
        at=row.at,
        source="operator_actions",
        source_key=str(row.id),
        body={
            "actor": row.actor,
            "role": row.role,
            "action": row.action,
            "target": row.target,
            "detail": dict(json_value(row.detail) or {}),
        },
    )


def _size(data: bytes | None) -> int | None:
    return None if data is None else len(data)
