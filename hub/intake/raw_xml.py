"""Raw XML intake: the payload as the body of ``POST /api/v1/messages``, its metadata in headers.

The JSON envelope carries a payload as text or base64, which costs a third more on the wire and a
decoded copy in the hub; for a 3 KB dossier that is overhead, for an edXML document with 50 MB of
attachments it is 90 MB of JSON. A body with ``Content-Type: application/xml`` (``text/xml``, or any
``application/…+xml``) is the payload's exact bytes, and the envelope's fields travel as headers named
after them, ``X-Hub-`` + the field in Title-Case (``sender_message_id`` → ``X-Hub-Sender-Message-Id``;
``headers`` entries as ``X-Hub-Header-<name>``, names in lower case). The same model
(:class:`~lienthong.intake.rest_models.MessageMetadata`) checks them, so both ways in obey one set of
rules and one set of errors (a 422 names the header, ``header.X-Hub-Kind``).

Header values are UTF-8. A client whose HTTP library sends only ASCII headers writes a value in the
extended notation of RFC 8187, ``UTF-8''`` and the percent-encoded bytes (a document id holds ``Đ``).

An official document (``X-Hub-Kind: document``) sent this way may be as large as
``api.max_document_size``: :func:`document_body_limit` tells the memory bounds (``limits.py``) so from
the headers alone, before a byte is read, and :func:`payload_limit` tells the route.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Scope

from lienthong.config.models import ApiSettings
from lienthong.envelope import MessageKind
from lienthong.intake.rest_models import MessageMetadata

__all__ = [
    "FIELD_HEADERS",
    "HEADER_ENTRY_PREFIX",
    "RawHead",
    "RawMetadata",
    "RawSubmission",
    "document_body_limit",
    "head_of",
    "payload_limit",
    "raw_xml_media_type",
    "read_raw_submission",
]

#: The metadata fields and the headers that carry them.
FIELD_HEADERS: Final[dict[str, str]] = {
    name: "X-Hub-" + "-".join(part.capitalize() for part in name.split("_"))
    for name in MessageMetadata.model_fields
    if name != "headers"
}
#: ``X-Hub-Header-<name>: <value>`` is ``headers[<name>] = <value>`` of the JSON envelope.
HEADER_ENTRY_PREFIX: Final = "x-hub-header-"
_BY_HEADER: Final = {header.lower(): name for name, header in FIELD_HEADERS.items()}
_EXTENDED: Final = "utf-8''"
#: The route that takes raw XML (the only one whose body may be a large document).
SUBMIT_PATH: Final = "/api/v1/messages"
#: Where :func:`head_of` keeps a request's :class:`RawHead` in its ASGI scope.
_HEAD_KEY: Final = "lienthong.raw_xml_head"


@dataclass(slots=True)
class RawHead:
    """The headers a raw XML submit is decided on, read in one pass (:func:`head_of`).

    Each layer a submission goes through used to walk the header list for itself (the lean path's
    choice, the body limit twice, the caller's key, the media type, the metadata): five passes a
    request, on the event loop. Each value here is the occurrence its reader took before, so that a
    header sent twice is read as it was: the first ``Content-Type`` and ``X-API-Key`` (as
    ``request.headers.get``), the last ``Content-Type`` and ``X-Hub-Kind`` (as ``dict(headers)``, which
    the body limit read), and every ``X-Hub-*`` header in order (the metadata refuses repeats)."""

    content_type: str | None = None
    last_content_type: bytes = b""
    last_kind: bytes = b""
    api_key: str | None = None
    hub: list[tuple[bytes, bytes]] = field(default_factory=list)
    _media: str | None = None
    _media_known: bool = False

    @property
    def media(self) -> str | None:
        """:func:`raw_xml_media_type` of the first ``Content-Type``."""
        if not self._media_known:
            self._media, self._media_known = raw_xml_media_type(self.content_type), True
        return self._media


def head_of(scope: Scope) -> RawHead:
    """This request's :class:`RawHead`, read from its headers the first time it is asked for."""
    head: RawHead | None = scope.get(_HEAD_KEY)
    if head is None:
        head = scope[_HEAD_KEY] = _read_head(scope.get("headers", ()))
    return head


def _read_head(headers: Iterable[tuple[bytes, bytes]]) -> RawHead:
    head = RawHead()
    for name, value in headers:
        if name == b"content-type":
            if head.content_type is None:
                head.content_type = value.decode("latin-1")
            head.last_content_type = value
        elif name == b"x-api-key":
            if head.api_key is None:
                head.api_key = value.decode("latin-1")
        elif name[:1] in b"xX" and name.lower().startswith(b"x-hub-"):
            head.hub.append((name, value))
            if name == b"x-hub-kind":
                head.last_kind = value
    return head


def raw_xml_media_type(content_type: str | None) -> str | None:
    """The media type of a raw XML body (lower case, parameters dropped), or None for anything else.

    Parameters are dropped on purpose: the document's own XML declaration says its encoding, and
    the hub stores and forwards its bytes as they came. SOAP's media type is the SOAP gateway's."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("application/xml", "text/xml"):
        return media
    if media.startswith("application/") and media.endswith("+xml") and media != "application/soap+xml":
        return media
    return None


def payload_limit(settings: ApiSettings, kind: str) -> int:
    """The largest raw XML payload of this kind: ``max_document_size`` for an official document
    (when it is larger than the common limit), ``max_payload_size`` for everything else."""
    common = int(settings.max_payload_size)
    return max(common, settings.document_limit) if kind == "document" else common


def document_body_limit(settings: ApiSettings) -> Callable[[Scope], int | None]:
    """For ``limits.py``: a raw XML ``POST /api/v1/messages`` saying ``X-Hub-Kind: document`` may have
    a body up to ``max_document_size``; every other request keeps ``max_body_size`` (None)."""
    limit = settings.document_limit

    def larger(scope: Scope) -> int | None:
        if scope.get("method") != "POST" or scope.get("path") != SUBMIT_PATH:
            return None
        head = head_of(scope)
        if raw_xml_media_type(head.last_content_type.decode("latin-1")) is None:
            return None
        return limit if head.last_kind.strip() == b"document" else None

    return larger


@dataclass(slots=True)
class RawMetadata:
    """:class:`~lienthong.intake.rest_models.MessageMetadata`'s fields, as read from the headers once
    they passed its checks (``_metadata``): a plain object, since the model's own instance costs ~8 µs
    to validate on the event loop and nothing after the checks needs a model."""

    sender_message_id: str
    kind: MessageKind
    sender: str
    recipient: str | None = None
    procedure_code: str | None = None
    dossier_code: str | None = None
    document_id: str | None = None
    document_type: str | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    created_at: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)


class RawSubmission:
    """A raw XML submission: its metadata, checked, and its payload, which the route takes once."""

    def __init__(self, metadata: RawMetadata, content_type: str, payload: bytes) -> None:
        self.metadata = metadata
        self.content_type = content_type
        self._payload: bytes | None = payload

    def take_payload(self) -> bytes:
        """The body's bytes, forgotten here as they are given (the route holds them from then on)."""
        payload, self._payload = self._payload, None
        assert payload is not None, "the payload is taken once"
        return payload


async def read_raw_submission(request: Request, media_type: str, caller_agency: str) -> RawSubmission:
    """The metadata from the headers (422 naming the header), then the body, read into one buffer.

    The headers are checked first: a submission with a missing id is refused before its body (maybe
    70 MB) is read. ``X-Hub-Sender`` may be left out: the sender is the caller's agency anyway (the
    route refuses any other, as for JSON)."""
    metadata = _metadata(request.scope, caller_agency)
    payload = await read_body(request)
    if not payload:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "the XML payload is the body, and it is empty"}]
        )
    return RawSubmission(metadata, media_type, payload)


async def read_body(request: Request) -> bytes:
    """The body as one bytes object, made once.

    A bytearray (or a list of chunks, as Starlette's ``body()``) must be copied into bytes at the end:
    twice the body at that moment, 140 MB for a large document. A ``BytesIO`` keeps its bytes in one
    bytes object, grown in place (the allocator, ``hub/_allocator.py``, maps large blocks on their
    own, so growing moves pages, not bytes), and ``getvalue`` hands that object over without a copy
    when nothing else refers to the buffer, as here. A body that came in one chunk (a dossier of a
    few KB nearly always does) is that chunk itself: not even the one copy into the buffer."""
    first = b""
    out: io.BytesIO | None = None
    async for chunk in request.stream():
        if out is not None:
            out.write(chunk)
        elif not first:
            first = chunk
        elif chunk:
            out = io.BytesIO()
            out.write(first)
            out.write(chunk)
            first = b""
    if out is None:
        return first if type(first) is bytes else bytes(first)
    data = out.getvalue()
    del out
    return data


def _metadata(scope: Scope, caller_agency: str) -> RawMetadata:
    """The metadata from the ``X-Hub-*`` headers, every problem named by its header (422).

    Run once per submission, so kept lean: a header's display name is only made for an error."""
    fields: dict[str, Any] = {}
    entries: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw_name, raw_value in head_of(scope).hub:
        name = raw_name.decode("latin-1").lower()
        if name in seen:
            errors.append({"type": "value_error", "loc": _where(name), "msg": "the header is given twice"})
            continue
        seen.add(name)
        try:
            value = _header_text(raw_value)
        except ValueError as exc:
            errors.append({"type": "value_error", "loc": _where(name), "msg": str(exc)})
            continue
        if (attribute := _BY_HEADER.get(name)) is not None:
            fields[attribute] = value
        elif name.startswith(HEADER_ENTRY_PREFIX) and len(name) > len(HEADER_ENTRY_PREFIX):
            entries[name.removeprefix(HEADER_ENTRY_PREFIX)] = value
        else:
            errors.append({"type": "extra_forbidden", "loc": _where(name), "msg": _unknown(name)})
    fields.setdefault("sender", caller_agency)
    if entries:
        fields["headers"] = entries
    if not errors and (plain := _plain_metadata(fields)) is not None:
        return plain
    try:
        metadata = MessageMetadata.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = tuple(error["loc"])
            header = FIELD_HEADERS.get(str(loc[0])) if loc else None
            if loc and loc[0] == "headers":
                header = _display(HEADER_ENTRY_PREFIX + str(loc[1])) if len(loc) > 1 else "X-Hub-Header-*"
            errors.append({**error, "loc": ("header", header or str(loc[0]) if loc else "header")})
    if errors:
        raise RequestValidationError(errors)
    return RawMetadata(**{name: getattr(metadata, name) for name in MessageMetadata.model_fields})


def _text_bounds() -> dict[str, tuple[int, int | None]]:
    """The model's text fields and their lengths, read from the model so that they cannot drift."""
    bounds: dict[str, tuple[int, int | None]] = {}
    for name, info in MessageMetadata.model_fields.items():
        if info.annotation is str or info.annotation == str | None:
            low = next((m.min_length for m in info.metadata if hasattr(m, "min_length")), 0)
            high = next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
            bounds[name] = (low, high)
    return bounds


_TEXT_BOUNDS: Final = _text_bounds()
_MAX_ENTRIES: Final[int] = next(
    m.max_length for m in MessageMetadata.model_fields["headers"].metadata if hasattr(m, "max_length")
)
_KINDS: Final = {kind.value: kind for kind in MessageKind}


def _plain_metadata(fields: dict[str, Any]) -> RawMetadata | None:
    """The metadata when the model could only accept it: every field text within its bounds, the
    kind one of its values, at most ``_MAX_ENTRIES`` header entries (text read from a header is
    decoded UTF-8, so the model's Unicode check holds as well). Anything else, an id or a time to
    parse included, is None: the model validates it and names each problem, as always."""
    kind = _KINDS.get(fields.get("kind", ""))
    if kind is None or "sender_message_id" not in fields or "sender" not in fields:
        return None
    for name, value in fields.items():
        bounds = _TEXT_BOUNDS.get(name)
        if bounds is not None:
            if len(value) < bounds[0] or (bounds[1] is not None and len(value) > bounds[1]):
                return None
        elif name == "headers":
            if len(value) > _MAX_ENTRIES:
                return None
        elif name != "kind":
            return None
    fields["kind"] = kind
    return RawMetadata(**fields)


def _where(name: str) -> tuple[str, str]:
    return ("header", _display(name))


def _header_text(raw: bytes) -> str:
    """A header value as text: UTF-8, or RFC 8187's ``UTF-8''`` + percent-encoded UTF-8."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("the value is not UTF-8") from None
    if "'" in text and text[: len(_EXTENDED)].lower() == _EXTENDED:
        try:
            text = unquote_to_bytes(text[len(_EXTENDED) :]).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the percent-encoded value is not UTF-8") from None
    return text


def _display(name: str) -> str:
    """A header name as the documentation writes it (``X-Hub-Sender-Message-Id``)."""
    return "-".join(part.capitalize() if part != "x" else "X" for part in name.split("-"))


def _unknown(name: str) -> str:
    if name == "x-hub-message-id":
        return (
            "the sender's id for the message goes in X-Hub-Sender-Message-Id (message_id is the hub's "
            "id for it, in the answer)"
        )
    return f"no such header; the fields are {', '.join(FIELD_HEADERS.values())} and X-Hub-Header-<name>"
