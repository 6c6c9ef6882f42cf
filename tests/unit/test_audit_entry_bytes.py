"""The exact bytes of log entries, pinned: independent verifiers rebuild them from the rows, so a faster
way of building them (lienthong.audit.entries) must not change one byte. The expected hashes were
computed with the code at d95b379, before the sealer's encoder and entries were made cheaper.

What the bytes promise: keys sorted (nested objects too), no whitespace, UTF-8 (``ensure_ascii``
off: Vietnamese, astral and U+2028 as themselves), no Unicode normalisation (NFD stays NFD), control
characters as JSON escapes."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from datetime import UTC, datetime
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
