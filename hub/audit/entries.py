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
#: The string escaper that encoder uses (``ensure_ascii`` off: the C ``encode_basestring``).
_STRING: Final = json.encoder.encode_basestring


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


def _json(value: Any) -> str:
    """``value`` as the canonical encoder spells it inside an entry: the encoder's own C string
    escaper for text, ``null``, ``int.__repr__`` for exact ints (what the encoder calls), the encoder
    itself for anything else (bools, nested objects), so the bytes are the same as encoding the whole."""
    cls = value.__class__
    if cls is str:
        return _STRING(value)
    if value is None:
        return "null"
    if cls is int:
        return int.__repr__(value)
    return _ENCODE(value)


#: The JSON columns' texts seen lately, with their canonical spelling (``headers``, ``targets``,
#: ``detail``): a hub's rows repeat a handful of them (the same headers, the same targets), and decoding
#: and re-encoding each was a tenth of what the sealer spent on an entry. Keyed by (column, text), as
#: the same text may stand for an object in one column and be refused in another; cleared when full.
_FRAGMENTS: Final[dict[tuple[str, str], str]] = {}
_FRAGMENTS_MAX: Final = 1024
_FRAGMENT_TEXT_MAX: Final = 1024


def _object_json(column: str, value: Any) -> str:
    """A JSON column's value as the canonical object of the entry (``dict(decoded or {})``)."""
    if value.__class__ is str and len(value) <= _FRAGMENT_TEXT_MAX:
        key = (column, value)
        text = _FRAGMENTS.get(key)
        if text is None:
            text = _ENCODE(dict(json_value(value) or {}))
            if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
                _FRAGMENTS.clear()
            _FRAGMENTS[key] = text
        return text
    return _ENCODE(dict(json_value(value) or {}))


def _list_json(column: str, value: Any) -> str:
    """A JSON column's value as the canonical list of the entry (``list(decoded or [])``)."""
    if value.__class__ is str and len(value) <= _FRAGMENT_TEXT_MAX:
        key = (column, value)
        text = _FRAGMENTS.get(key)
        if text is None:
            text = _ENCODE(list(json_value(value) or []))
            if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
                _FRAGMENTS.clear()
            _FRAGMENTS[key] = text
        return text
    return _ENCODE(list(json_value(value) or []))


class Entry(NamedTuple):
    """One entry before it is given its place: the indexed references and its canonical text around
    the place (``index``), which is all that the sealing still adds.

    The text is written by each builder in the canonical order of its keys, one value at a time through
    :func:`_json`, rather than as a dict handed to the encoder when sealed: the same bytes (pinned by
    tests/unit/test_audit_entry_bytes.py, and compared there with encoding the body as a whole), without
    building, merging and sorting a body of twenty keys per entry. A named tuple rather than a frozen
    dataclass: as immutable, and the sealer makes one per row."""

    kind: str
    #: the source row's time as the database gave it (a datetime, or SQLite's text): comparable within
    #: one database, and written back into ``audit_entries.at`` as it came
    at: Any
    source: str
    source_key: str
    #: the canonical text up to the index's value (``…,"index":``) and after it (``,"kind":…}``)
    before_index: str
    after_index: str
    #: as the database gave it (a UUID, or SQLite's hex)
    message_id: Any = None
    dossier_code: str | None = None
    document_id: str | None = None
    agency: str | None = None

    def sealed(self, index: int) -> bytes:
        """The entry's bytes as leaf ``index`` of the log."""
        return f"{self.before_index}{_json(index)}{self.after_index}".encode()


#: Each kind's ``"format":…`` and ``"kind":…`` members, as canonical text.
_FORMAT: Final = f'"format":{_STRING(FORMAT)}'


def message_in(row: Any, payload_size: int | None) -> Entry:
    """A message received: who sent it (the authenticated caller's agency), what about, the payload's
    hash and size, and the headers the hub stored with it (signature verdict, text repairs …)."""
    message_id = uuid_text(row.id)
    dossier_code = row.dossier_code
    document_id = row.document_id
    sender = row.sender
    return Entry(
        kind="message-in",
        at=row.received_at,
        source="messages",
        source_key=message_id or "",
        message_id=row.id,
        dossier_code=dossier_code,
        document_id=document_id,
        agency=sender,
        before_index=(
            f'{{"at":{_STRING(time_text(row.received_at))}'
            f',"causation_id":{_json(uuid_text(row.causation_id))}'
            f',"content_type":{_json(row.content_type)}'
            f',"correlation_id":{_json(uuid_text(row.correlation_id))}'
            f',"document_id":{_json(document_id)}'
            f',"document_type":{_json(row.document_type)}'
            f',"dossier_code":{_json(dossier_code)}'
            f",{_FORMAT}"
            f',"headers":{_object_json("headers", row.headers)}'
            ',"index":'
        ),
        after_index=(
            ',"kind":"message-in"'
            f',"message_id":{_json(message_id)}'
            f',"message_kind":{_json(row.kind)}'
            f',"payload":{{"sha256":{_json(row.payload_sha256)},"size":{_json(payload_size)}}}'
            f',"procedure":{_json(row.procedure_code)}'
            f',"recipient":{_json(row.recipient)}'
            f',"sender":{_json(sender)}'
            f',"sender_message_id":{_json(row.sender_message_id)}}}'
        ),
    )


def route(row: Any) -> Entry:
    """A routing decision (the first, or a re-route): the rule, the targets, the reason."""
    dossier_code = row.dossier_code
    document_id = row.document_id
    return Entry(
        kind="route",
        at=row.decided_at,
        source="route_decisions",
        source_key=str(row.id),
        message_id=row.message_id,
        dossier_code=dossier_code,
        document_id=document_id,
        agency=row.sender,
        before_index=(
            f'{{"at":{_STRING(time_text(row.decided_at))}'
            f',"document_id":{_json(document_id)}'
            f',"dossier_code":{_json(dossier_code)}'
            f",{_FORMAT}"
            ',"index":'
        ),
        after_index=(
            ',"kind":"route"'
            f',"message_id":{_json(uuid_text(row.message_id))}'
            f',"reason":{_json(row.reason)}'
            f',"rule":{_json(row.rule)}'
            f',"status":{_json(row.status)}'
            f',"targets":{_list_json("targets", row.targets)}}}'
        ),
    )


def attempt(row: Any) -> Entry:
    """A finished delivery attempt: where to, what was sent (hash), what came back (status, hash)."""
    dossier_code = row.dossier_code
    document_id = row.document_id
    request = row.request
    response = row.response
    return Entry(
        kind="delivery-attempt",
        at=row.finished_at,
        source="attempts",
        source_key=str(row.id),
        message_id=row.message_id,
        dossier_code=dossier_code,
        document_id=document_id,
        agency=row.sender,
        before_index=(
            f'{{"answer":{{"sha256":{_json(sha256_hex(response))},"size":{_json(_size(response))}'
            f',"status":{_json(row.response_status)}}}'
            f',"at":{_STRING(time_text(row.finished_at))}'
            f',"delivery_id":{_json(row.delivery_id)}'
            f',"document_id":{_json(document_id)}'
            f',"dossier_code":{_json(dossier_code)}'
            f',"error":{_json(row.error)}'
            f",{_FORMAT}"
            ',"index":'
        ),
        after_index=(
            ',"kind":"delivery-attempt"'
            f',"message_id":{_json(uuid_text(row.message_id))}'
            f',"number":{_json(row.number)}'
            f',"operation":{_json(row.operation)}'
            f',"outcome":{_json(row.outcome)}'
            f',"request":{{"sha256":{_json(sha256_hex(request))},"size":{_json(_size(request))}}}'
            f',"started_at":{_STRING(time_text(row.started_at))}'
            f',"target":{_json(row.target)}'
            f',"worker":{_json(row.worker)}}}'
        ),
    )


def refusal(row: Any) -> Entry:
    """A request refused at the edge: why, from whom (when known), for which service."""
    agency = row.agency
    return Entry(
        kind="refusal",
        at=row.at,
        source="refusals",
        source_key=str(row.id),
        agency=agency,
        before_index=(
            f'{{"agency":{_json(agency)}'
            f',"at":{_STRING(time_text(row.at))}'
            f',"detail":{_json(row.detail)}'
            f",{_FORMAT}"
            ',"index":'
        ),
        after_index=(
            ',"kind":"refusal"'
            f',"payload_sha256":{_json(row.payload_sha256)}'
            f',"reason":{_json(row.reason)}'
            f',"remote":{_json(row.remote)}'
            f',"service":{_json(row.service)}}}'
        ),
    )


def operator_action(row: Any) -> Entry:
    """Something an operator did: who, in which role, what, to what."""
    return Entry(
        kind="operator-action",
        at=row.at,
        source="operator_actions",
        source_key=str(row.id),
        before_index=(
            f'{{"action":{_json(row.action)}'
            f',"actor":{_json(row.actor)}'
            f',"at":{_STRING(time_text(row.at))}'
            f',"detail":{_object_json("detail", row.detail)}'
            f",{_FORMAT}"
            ',"index":'
        ),
        after_index=(f',"kind":"operator-action","role":{_json(row.role)},"target":{_json(row.target)}}}'),
    )


def _size(data: bytes | None) -> int | None:
    return None if data is None else len(data)
