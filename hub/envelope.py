"""The canonical envelope: the one shape every message takes inside the hub.

Whatever arrives (a dossier over REST, an official document, a status update over SOAP), the hub
wraps it in an :class:`Envelope`. Metadata is normalised (NFC text, UUIDs); the payload is kept as
the exact bytes received (of a SOAP request, the body element: see ``soap_gateway.py``), because
signatures and audits are about those bytes and nothing else.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum

#: Namespace for correlation ids derived from a dossier code or document id, so that every system
#: that knows the dossier derives the same correlation id without asking the hub.
CORRELATION_NAMESPACE = uuid.UUID("6f1d8c52-3a57-5b1e-9d0e-6c7a2f0e4b11")

#: The header that records the SHA-256 of the SOAP request a message arrived in (its ``requestHash``).
#: It says how this copy came, not what the sender sent: left out of :meth:`Envelope.fingerprint`,
#: so the same message id and body, re-sent in an envelope whose other header blocks changed, is a
#: repeat and not a conflict.
REQUEST_HASH_HEADER = "soap.request_hash"


class MessageKind(StrEnum):
    DOSSIER = "dossier"  # hồ sơ thủ tục hành chính
    DOCUMENT = "document"  # văn bản (edXML)
    STATUS = "status"  # status update / trạng thái
    QUERY = "query"
    ANSWER = "answer"


def nfc(text: str | None) -> str | None:
    """Vietnamese text arrives composed or decomposed; compare and hash only the NFC form."""
    return None if text is None else unicodedata.normalize("NFC", text)


def utcnow() -> datetime:
    return datetime.now(UTC)


def derive_correlation_id(dossier_code: str | None, document_id: str | None) -> uuid.UUID:
    """One correlation id per dossier (or document) for its whole life, derivable by anyone."""
    anchor = dossier_code or document_id
    if anchor:
        return uuid.uuid5(CORRELATION_NAMESPACE, anchor)
    return uuid.uuid4()


@dataclass(frozen=True)
class Envelope:
    """A message as the hub holds it. Immutable: once accepted, it is never changed."""

    message_id: uuid.UUID
    kind: MessageKind
    sender: str
    recipient: str | None
    sender_message_id: str
    correlation_id: uuid.UUID
    payload: bytes
    content_type: str
    procedure_code: str | None = None
    dossier_code: str | None = None
    document_id: str | None = None
    document_type: str | None = None
    causation_id: uuid.UUID | None = None
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None  # as stated by the sender
    received_at: datetime = field(default_factory=utcnow)

    @property
    def payload_sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    @property
    def is_xml(self) -> bool:
        base = self.content_type.split(";", 1)[0].strip().lower()
        return base in {"application/xml", "text/xml", "application/soap+xml"} or base.endswith("+xml")

    def header(self) -> EnvelopeHeader:
        """Everything but the payload."""
        return EnvelopeHeader(**{f.name: getattr(self, f.name) for f in fields(EnvelopeHeader)})

    def fingerprint(self) -> str:
        """Hash of everything the sender chose, so a repeated submission can be told from a new one.

        The hub-assigned fields (message id, received time) are left out on purpose.
        """
        parts = (
            self.kind.value,
            self.sender,
            self.recipient or "",
            self.sender_message_id,
            str(self.correlation_id),
            self.content_type,
            self.procedure_code or "",
            self.dossier_code or "",
            self.document_id or "",
            self.document_type or "",
            str(self.causation_id or ""),
            repr(sorted((k, v) for k, v in self.headers.items() if k != REQUEST_HASH_HEADER)),
            self.created_at.astimezone(UTC).isoformat() if self.created_at else "",
        )
        # Each part's UTF-8 then the separator, as one text encoded once: the same bytes hashed
        # (UTF-8 of a concatenation is the concatenation of the UTF-8s) in two updates, not 27.
        h = hashlib.sha256("\x1f".join(parts).encode("utf-8") + b"\x1f")
        h.update(self.payload)
        return h.hexdigest()


@dataclass(frozen=True)
class EnvelopeHeader:
    """An envelope's metadata without its payload: what a delivery needs of the message it sends
    (its ids, for the hub header), since it sends the prepared bytes, never the payload received.
    A claim carries this, so that claiming does not load a payload of up to the intake limit."""

    message_id: uuid.UUID
    kind: MessageKind
    sender: str
    recipient: str | None
    sender_message_id: str
    correlation_id: uuid.UUID
    content_type: str
    procedure_code: str | None = None
    dossier_code: str | None = None
    document_id: str | None = None
    document_type: str | None = None
    causation_id: uuid.UUID | None = None
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    received_at: datetime = field(default_factory=utcnow)

    def with_payload(self, payload: bytes) -> Envelope:
        """The whole envelope again, as a store that read the payload apart rebuilds it."""
        return Envelope(payload=payload, **{f.name: getattr(self, f.name) for f in fields(EnvelopeHeader)})


def new_envelope(
    *,
    kind: MessageKind,
    sender: str,
    sender_message_id: str,
    payload: bytes,
    content_type: str,
    recipient: str | None = None,
    procedure_code: str | None = None,
    dossier_code: str | None = None,
    document_id: str | None = None,
    document_type: str | None = None,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    headers: dict[str, str] | None = None,
    created_at: datetime | None = None,
) -> Envelope:
    """Build an envelope at ingress: text normalised to NFC, ids filled in, payload untouched."""
    dossier_code = nfc(dossier_code)
    document_id = nfc(document_id)
    return Envelope(
        message_id=uuid.uuid4(),
        kind=kind,
        sender=nfc(sender) or "",
        recipient=nfc(recipient),
        sender_message_id=nfc(sender_message_id) or "",
        correlation_id=correlation_id or derive_correlation_id(dossier_code, document_id),
        payload=payload,
        content_type=content_type,
        procedure_code=nfc(procedure_code),
        dossier_code=dossier_code,
        document_id=document_id,
        document_type=nfc(document_type),
        causation_id=causation_id,
        headers={nfc(k) or "": nfc(v) or "" for k, v in (headers or {}).items()},
        created_at=created_at,
    )
