"""What the hub knows of one edXML message, once read: the header as a person reads it.

The reader (:mod:`lienthong.edxml.read`) fills these from a tree, tolerantly; everything else — the
inspect command, intake's envelope facts, the document states, the axis plugin and simulator — works
on these values, never on the tree. Agency codes are opaque strings here: a non-conforming one is
kept as written and reported as a :class:`Quirk`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

MessageType = Literal["edoc", "status"]


@dataclass(frozen=True)
class Quirk:
    """One way the input departs from the standard that the hub accepted anyway: a warning for the
    sender's IT staff, never a reason to refuse. ``code`` is stable (for scripts and tests)."""

    code: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class Organ:
    """``From`` / ``To`` / a status package's ``From``: an agency as the document names it."""

    organ_id: str
    name: str | None = None
    in_charge: str | None = None
    address: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class StaffInfo:
    department: str | None = None
    staff: str | None = None
    mobile: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ResponseFor:
    """The document a status package (or a revocation, update or replacement) is about."""

    organ_id: str | None
    code: str | None
    promulgation_date: str | None
    document_id: str | None


@dataclass(frozen=True)
class Replacement:
    """One ``ReplacementInfo``: which document is replaced, and for which agencies."""

    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Business:
    """``TraceHeaderList/Bussiness`` (or ``Business``): what this document does to earlier ones."""

    doc_type: str = "0"  # BUSINESS_DOC_TYPES: 0 new, 1 revoke, 2 update, 3 replace
    reason: str | None = None
    paper: str | None = None
    document_id: str | None = None
    staff: StaffInfo | None = None
    replacements: tuple[Replacement, ...] = ()


@dataclass(frozen=True)
class Status:
    """A status package's payload (``edXMLHeader/Status``, or — as real senders write it — the same
    fields directly under ``MessageHeader``)."""

    code: str  # STATUS_CODES
    description: str | None = None
    timestamp: datetime | None = None
    staff: StaffInfo | None = None


@dataclass(frozen=True)
class Trace:
    organ_id: str
    timestamp: datetime | None = None


@dataclass(frozen=True)
class Attachment:
    """One ``AttachmentEncoded/Attachment``, checked: ``size`` and ``sha256`` are of the decoded
    bytes; ``referenced`` says whether a manifest ``Reference`` names its ContentId."""

    content_id: str
    name: str | None = None
    description: str | None = None
    content_type: str | None = None
    size: int = 0
    sha256: str = ""
    referenced: bool = True


@dataclass(frozen=True)
class SignatureInfo:
    """What the document's signature looks like, before anyone checks it."""

    algorithm: str | None  # SignatureMethod/@Algorithm
    namespace: str  # XMLDSIG_NS, or EDXML_NS for the unprefixed signatures of real senders
    certificate_subject: str | None = None


@dataclass(frozen=True)
class EdxmlMessage:
    """One edXML document or status package, as read."""

    message_type: MessageType
    sender: Organ
    recipients: tuple[Organ, ...] = ()
    document_id: str | None = None
    code_number: str | None = None
    code_notation: str | None = None
    promulgation_place: str | None = None
    promulgation_date: date | None = None
    type_code: str | None = None
    type_detail: str | None = None
    type_name: str | None = None
    subject: str | None = None
    content: str | None = None
    signer: str | None = None  # SignerInfo: "Competence Position FullName", as written
    due_date: date | None = None
    priority: str | None = None
    steering_type: str | None = None
    response_for: tuple[ResponseFor, ...] = ()
    business: Business | None = None
    status: Status | None = None
    traces: tuple[Trace, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    signature: SignatureInfo | None = None
    quirks: tuple[Quirk, ...] = field(default=())

    @property
    def business_doc_type(self) -> str:
        return self.business.doc_type if self.business is not None else "0"

    @property
    def subject_document_id(self) -> str | None:
        """The document this message is about: itself for a new document; the one answered for a
        status package; the one revoked, updated or replaced otherwise (first named)."""
        if self.message_type == "status" or self.business_doc_type in ("1", "2"):
            for rf in self.response_for:
                if rf.document_id:
                    return rf.document_id
            if self.business is not None and self.business.document_id:
                return self.business.document_id
        if self.business_doc_type == "3" and self.business is not None and self.business.replacements:
            return self.business.replacements[0].document_id
        return self.document_id
