"""The raw XML submit's headers read once (``raw_xml.head_of``): each value is the occurrence the
reader it replaces took, so a header sent twice, in another case or not at all reads as before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from lienthong.config.models import ApiSettings
from lienthong.envelope import REQUEST_HASH_HEADER, Envelope, MessageKind, new_envelope
from lienthong.intake.lean_submit import takes_lean_submit
from lienthong.intake.raw_xml import (
    SUBMIT_PATH,
    document_body_limit,
    head_of,
    raw_xml_media_type,
    read_body,
)

Raw = list[tuple[bytes, bytes]]

HEADER_LISTS: list[Raw] = [
    [],
    [(b"content-type", b"application/xml"), (b"x-api-key", b"k1"), (b"x-hub-kind", b"dossier")],
    [(b"content-type", b"application/json"), (b"content-type", b"application/xml")],
    [(b"content-type", b"application/xml"), (b"content-type", b"application/json")],
    [(b"content-type", b"text/xml; charset=x"), (b"x-hub-kind", b"dossier"), (b"x-hub-kind", b" document ")],
    [(b"content-type", b"application/xml"), (b"x-hub-kind", b"document"), (b"x-hub-kind", b"dossier")],
    [(b"Content-Type", b"application/xml"), (b"X-Hub-Kind", b"document"), (b"X-API-Key", b"k")],
    [(b"x-api-key", b"first\xe9"), (b"x-api-key", b"second"), (b"content-type", b"application/atom+xml")],
    [(b"content-type", b"application/soap+xml"), (b"x-hub-header-a", b"1"), (b"X-HUB-Header-B", b"2")],
    [(b"x", b"1"), (b"xhub-kind", b"document"), (b"x-hubkind", b"x"), (b"x-hub-", b""), (b"", b"")],
]


def scope_of(headers: Raw, method: str = "POST", path: str = SUBMIT_PATH) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers}


def old_larger(limit: int, scope: dict[str, Any]) -> int | None:
    """The body limit's reading before ``head_of``: ``dict(headers)``, so the last occurrence."""
    if scope.get("method") != "POST" or scope.get("path") != SUBMIT_PATH:
        return None
    headers = dict(scope.get("headers", []))
    if raw_xml_media_type(headers.get(b"content-type", b"").decode("latin-1")) is None:
        return None
    return limit if headers.get(b"x-hub-kind", b"").strip() == b"document" else None


def old_takes(scope: dict[str, Any]) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return raw_xml_media_type(value.decode("latin-1")) is not None
    return False


@pytest.mark.parametrize("headers", HEADER_LISTS)
def test_each_reader_sees_the_occurrence_it_saw_before(headers: Raw) -> None:
    scope = scope_of(headers)
    head = head_of(scope)
    assert head_of(scope) is head  # read once
    request = Request(scope_of(headers))
    assert head.api_key == request.headers.get("X-API-Key")
    assert head.content_type == request.headers.get("content-type")
    assert head.media == raw_xml_media_type(request.headers.get("content-type"))
    assert head.hub == [(n, v) for n, v in headers if n.lower().startswith(b"x-hub-")]
    assert takes_lean_submit(scope_of(headers)) == old_takes(scope_of(headers))
    settings = ApiSettings(max_body_size="200KB", max_document_size="1MB")
    larger = document_body_limit(settings)
    for method, path in (("POST", SUBMIT_PATH), ("GET", SUBMIT_PATH), ("POST", "/soap/land")):
        fresh = scope_of(headers, method, path)
        assert larger(fresh) == old_larger(settings.document_limit, fresh)


def test_a_body_in_one_chunk_is_that_chunk_and_in_several_is_joined() -> None:
    async def read(chunks: list[bytes]) -> bytes:
        last = len(chunks) - 1
        messages = [{"type": "http.request", "body": c, "more_body": i < last} for i, c in enumerate(chunks)]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        return await read_body(Request(scope_of([]), receive))

    one = b"<a>" + uuid.uuid4().bytes + b"</a>"
    assert asyncio.run(read([one])) is one
    assert asyncio.run(read([b""])) == b""
    assert asyncio.run(read([b"<a>", b"", b"x", b"</a>"])) == b"<a>x</a>"
    assert asyncio.run(read([b"", b"<a/>"])) == b"<a/>"
    assert type(asyncio.run(read([bytearray(b"<a/>")]))) is bytes  # type: ignore[list-item]


def reference_fingerprint(envelope: Envelope) -> str:
    """``Envelope.fingerprint`` as it was written before: a part, a separator, a part..."""
    import hashlib

    h = hashlib.sha256()
    for part in (
        envelope.kind.value,
        envelope.sender,
        envelope.recipient or "",
        envelope.sender_message_id,
        str(envelope.correlation_id),
        envelope.content_type,
        envelope.procedure_code or "",
        envelope.dossier_code or "",
        envelope.document_id or "",
        envelope.document_type or "",
        str(envelope.causation_id or ""),
        repr(sorted((k, v) for k, v in envelope.headers.items() if k != REQUEST_HASH_HEADER)),
        envelope.created_at.astimezone(UTC).isoformat() if envelope.created_at else "",
    ):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    h.update(envelope.payload)
    return h.hexdigest()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"recipient": "G09", "procedure_code": "1.004227", "dossier_code": "Hồ sơ Quảng Ninh\x1f"},
        {"document_id": "Đ-1", "document_type": "edxml", "causation_id": uuid.uuid4()},
        {"headers": {"b": "ư", "a": "\x00", REQUEST_HASH_HEADER: "x"}, "correlation_id": uuid.uuid4()},
        {"created_at": datetime(2026, 12, 1, 8, tzinfo=timezone(timedelta(hours=7)))},
        {"sender_message_id": "😀 e\u0301", "headers": {"k\u0301": "v"}},
    ],
)
def test_the_fingerprint_hashes_the_same_bytes(extra: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "kind": MessageKind.DOSSIER,
        "sender": "000.00.00.H49",
        "sender_message_id": "m-1",
        "payload": "<a>ệ</a>".encode(),
        "content_type": "application/xml",
    }
    envelope = new_envelope(**(fields | extra))
    assert envelope.fingerprint() == reference_fingerprint(envelope)


def test_headers_without_a_list_read_as_none() -> None:
    head = head_of({"type": "http"})
    assert (head.content_type, head.api_key, head.media, head.hub) == (None, None, None, [])
    assert Headers(raw=[]).get("x-api-key") is None
