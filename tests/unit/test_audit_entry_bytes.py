"""The exact bytes of log entries, pinned: independent verifiers rebuild them from the rows, so a faster
way of building them (lienthong.audit.entries) must not change one byte. The expected hashes were
computed with the code at d95b379, before the sealer's encoder and entries were made cheaper.

What the bytes promise: keys sorted (nested objects too), no whitespace, UTF-8 (``ensure_ascii``
off: Vietnamese, astral and U+2028 as themselves), no Unicode normalisation (NFD stays NFD), control
characters as JSON escapes."""

from __future__ import annotations

import hashlib
import json
import unicodedata
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from lienthong.audit import entries as build


class _Row:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _message() -> build.Entry:
    nfd = unicodedata.normalize("NFD", "Sở Tài nguyên")
    return build.message_in(
        _Row(
            id="0123456789abcdef0123456789abcdef",  # SQLite's hex
            kind="dossier",
            sender="000.00.00.H49",
            sender_message_id="m-\u2028-\U0001d518",
            recipient=None,
            procedure_code="1.004227",
            dossier_code="Hồ sơ 1",
            document_id=None,
            document_type=None,
            correlation_id=uuid.UUID(int=7),
            causation_id=None,
            content_type="application/xml",
            payload_sha256="ab" * 32,
            headers='{"z": [1, {"b": null, "a": true}], "caller": "' + nfd + '", "q": "\\"\\\\\\u0001"}',
            received_at="2026-11-30 12:00:00.123456",
        ),
        4096,
    )


def test_a_message_entry_is_the_bytes_it_always_was() -> None:
    data = _message().sealed(0)
    assert (
        data
        == (
            '{"at":"2026-11-30T12:00:00.123456Z","causation_id":null,"content_type":"application/xml",'
            '"correlation_id":"00000000-0000-0000-0000-000000000007","document_id":null,"document_type":null,'
            '"dossier_code":"Hồ sơ 1","format":"lienthong-audit-entry/1","headers":{"caller":"'
            + unicodedata.normalize("NFD", "Sở Tài nguyên")
            + '","q":"\\"\\\\\\u0001","z":[1,{"a":true,"b":null}]},"index":0,"kind":"message-in",'
            '"message_id":"01234567-89ab-cdef-0123-456789abcdef","message_kind":"dossier","payload":'
            '{"sha256":"' + "ab" * 32 + '","size":4096},"procedure":"1.004227","recipient":null,'
            '"sender":"000.00.00.H49","sender_message_id":"m-\u2028-\U0001d518"}'
        ).encode()
    )
    assert (
        hashlib.sha256(data).hexdigest() == "5f55c828723d15321964ee8a80849dba9a5a019018e2c742448f7a2d5ed92806"
    )


def test_an_attempt_entry_with_a_huge_field_is_the_bytes_it_always_was() -> None:
    entry = build.attempt(
        _Row(
            id=5,
            message_id=uuid.UUID(int=7),
            dossier_code="Hồ sơ 1",
            document_id=None,
            sender="G13",
            delivery_id=3,
            target="land",
            operation=None,
            number=2,
            worker="w",
            started_at=datetime(2026, 11, 30, 12, tzinfo=UTC),  # PostgreSQL's datetime
            finished_at="2026-11-30 12:00:01.000000",  # SQLite's text
            outcome="failed",
            error="x" * 70000,
            request=b"<x/>",
            response=None,
            response_status=None,
        )
    )
    data = entry.sealed(41)
    assert (len(data), hashlib.sha256(data).hexdigest()) == (
        70501,
        "f567f6cf9245d867469682551d36bea9879b01db48da31912941cc8d4264a4cd",
    )
    assert (entry.source, entry.source_key, entry.at) == ("attempts", "5", "2026-11-30 12:00:01.000000")


# The builders write each entry's canonical text member by member (lienthong.audit.entries._json); what
# follows is the way it was built before, a body handed to the canonical encoder whole, and the two are
# compared over rows of every kind with awkward values: text that needs escapes, astral and U+2028,
# NFD, None where a column allows it, bools and floats where a driver could hand them, ints beyond 64
# bits, nested JSON columns, both databases' spellings of times and ids.

_ODD_TEXTS: tuple[Any, ...] = (
    None,
    "",
    "plain",
    'q"uote\\back\nline\ttab\x00\x1f\x7f',
    "Hồ sơ đất đai",
    unicodedata.normalize("NFD", "Sở Tài nguyên"),
    "\u2028\u2029\U0001d518\ufeff",
    "</script>&<>'",
)
_ODD_VALUES: tuple[Any, ...] = (*_ODD_TEXTS, 0, -1, 2**70, True, False, 1.5, [1, "a"], {"b": 1, "a": None})
_ODD_JSON: tuple[Any, ...] = (
    None,
    "null",
    "{}",
    '{"z": 1, "a": [true, null, 1.25], "m": {"y": "\\u00e9", "x": "\\ud834\\udd1e"}}',
    '{"caller": "' + unicodedata.normalize("NFD", "Sở") + '", "q": "\\"\\\\\\u0001"}',
    b'{"b": 2, "a": 1}',
    {"k": "v", "c": [3, 2]},
)
_ODD_LISTS: tuple[Any, ...] = (None, "[]", '["land", "tax"]', '["\\u2028", 1, null]', b'["x"]', ["y", "x"])
_TIMES: tuple[Any, ...] = (
    "2026-11-30 12:00:00.123456",
    "2026-11-30T12:00:00+07:00",
    datetime(2026, 11, 30, 12, 0, 0, 5, tzinfo=UTC),
    datetime(2026, 11, 30, 12),
)
_IDS: tuple[Any, ...] = ("0123456789abcdef0123456789abcdef", uuid.UUID(int=7), None)


def _generic(entry: build.Entry, body: dict[str, Any], index: int) -> bytes:
    """What ``Entry.sealed`` returned when an entry carried its body as a dict (d95b379 … 7d4f61c)."""
    return json.dumps(
        {**body, "format": build.FORMAT, "index": index, "kind": entry.kind, "at": build.time_text(entry.at)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def _pick(values: tuple[Any, ...], n: int) -> Any:
    return values[n % len(values)]


def _cases(n: int) -> list[tuple[build.Entry, dict[str, Any]]]:
    """One row of each kind (the ``n``-th combination of odd values) with the body it was sealed as."""

    def text(k: int) -> Any:
        return _pick(_ODD_TEXTS, n * 7 + k)

    def value(k: int) -> Any:
        return _pick(_ODD_VALUES, n * 5 + k)

    ident = _pick(_IDS, n)
    message = SimpleNamespace(
        id=ident or "f" * 32,
        kind=text(1),
        sender=text(2),
        sender_message_id=text(3),
        recipient=text(4),
        procedure_code=text(5),
        dossier_code=text(6),
        document_id=text(7),
        document_type=text(8),
        correlation_id=_pick(_IDS, n + 1),
        causation_id=_pick(_IDS, n + 2),
        content_type=text(9),
        payload_sha256=text(10),
        headers=_pick(_ODD_JSON, n),
        received_at=_pick(_TIMES, n),
    )
    size = value(1)
    decided = SimpleNamespace(
        id=value(2),
        message_id=ident,
        dossier_code=text(1),
        document_id=text(2),
        sender=text(3),
        decided_at=_pick(_TIMES, n + 1),
        status=text(4),
        rule=text(5),
        targets=_pick(_ODD_LISTS, n),
        reason=value(3),
    )
    request, response = _pick((b"<x/>", None, b""), n), _pick((None, b"<ok/>" * 9, b"\x00"), n + 1)
    tried = SimpleNamespace(
        id=n,
        message_id=ident,
        dossier_code=text(1),
        document_id=text(2),
        sender=text(3),
        delivery_id=value(4),
        target=text(4),
        operation=text(5),
        number=value(5),
        worker=text(6),
        started_at=_pick(_TIMES, n + 2),
        finished_at=_pick(_TIMES, n + 3),
        outcome=text(7),
        error=text(8),
        request=request,
        response=response,
        response_status=value(6),
    )
    refused = SimpleNamespace(
        id=n,
        at=_pick(_TIMES, n),
        reason=text(1),
        agency=text(2),
        service=text(3),
        remote=text(4),
        detail=text(5),
        payload_sha256=value(7),
    )
    acted = SimpleNamespace(
        id=n,
        at=_pick(_TIMES, n + 1),
        actor=text(1),
        role=text(2),
        action=text(3),
        target=value(8),
        detail=_pick(_ODD_JSON, n + 3),
    )
    return [
        (
            build.message_in(message, size),
            {
                "message_id": build.uuid_text(message.id),
                "message_kind": message.kind,
                "sender": message.sender,
                "sender_message_id": message.sender_message_id,
                "recipient": message.recipient,
                "procedure": message.procedure_code,
                "dossier_code": message.dossier_code,
                "document_id": message.document_id,
                "document_type": message.document_type,
                "correlation_id": build.uuid_text(message.correlation_id),
                "causation_id": build.uuid_text(message.causation_id),
                "content_type": message.content_type,
                "payload": {"sha256": message.payload_sha256, "size": size},
                "headers": dict(build.json_value(message.headers) or {}),
            },
        ),
        (
            build.route(decided),
            {
                "message_id": build.uuid_text(decided.message_id),
                "dossier_code": decided.dossier_code,
                "document_id": decided.document_id,
                "status": decided.status,
                "rule": decided.rule,
                "targets": list(build.json_value(decided.targets) or []),
                "reason": decided.reason,
            },
        ),
        (
            build.attempt(tried),
            {
                "message_id": build.uuid_text(tried.message_id),
                "dossier_code": tried.dossier_code,
                "document_id": tried.document_id,
                "delivery_id": tried.delivery_id,
                "target": tried.target,
                "operation": tried.operation,
                "number": tried.number,
                "worker": tried.worker,
                "started_at": build.time_text(tried.started_at),
                "outcome": tried.outcome,
                "error": tried.error,
                "request": {
                    "sha256": build.sha256_hex(request),
                    "size": None if request is None else len(request),
                },
                "answer": {
                    "status": tried.response_status,
                    "sha256": build.sha256_hex(response),
                    "size": None if response is None else len(response),
                },
            },
        ),
        (
            build.refusal(refused),
            {
                "reason": refused.reason,
                "agency": refused.agency,
                "service": refused.service,
                "remote": refused.remote,
                "detail": refused.detail,
                "payload_sha256": refused.payload_sha256,
            },
        ),
        (
            build.operator_action(acted),
            {
                "actor": acted.actor,
                "role": acted.role,
                "action": acted.action,
                "target": acted.target,
                "detail": dict(build.json_value(acted.detail) or {}),
            },
        ),
    ]


def test_entries_written_member_by_member_are_the_bytes_of_their_body_encoded_whole() -> None:
    compared = 0
    for n in range(240):
        for entry, body in _cases(n):
            for index in (0, 1, 41, 2**40 + n):
                assert entry.sealed(index) == _generic(entry, body, index), (n, entry.kind, index)
                compared += 1
    assert compared == 240 * 5 * 4


def test_a_remembered_json_column_gives_the_bytes_it_gave_the_first_time() -> None:
    first = [entry.sealed(3) for n in range(len(_ODD_JSON) * 2) for entry, _ in _cases(n)]
    again = [entry.sealed(3) for n in range(len(_ODD_JSON) * 2) for entry, _ in _cases(n)]
    assert first == again
