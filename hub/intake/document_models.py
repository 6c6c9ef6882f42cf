"""The REST views of an official document (``GET /api/v1/documents/...``) and ``hub documents --json``.

Apart from ``rest_models.py`` (the messages' and dossiers' contract), which it builds on: a delivery on
a document's history is shown as on a dossier's trail.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from lienthong.documents import DocumentReport
from lienthong.edxml import headers as h
from lienthong.edxml.names import BUSINESS_DOC_TYPES, STATUS_CODES
from lienthong.envelope import MessageKind, derive_correlation_id, nfc
from lienthong.errors import RequestInvalidError
from lienthong.intake.rest_models import TrailDeliveryView, _trail_delivery_view
from lienthong.store import TrailEntry

#: The longest document id the hub stores (``messages.document_id``).
DOCUMENT_ID_MAX = 256


def checked_document_id(text: str) -> str:
    """The document id a reader asks for, in NFC as intake stores it; an id no message can have (too
    long, control characters) is the reader's mistake (422), not an unknown document (404)."""
    document_id = nfc(text) or ""
    problem = None
    if not document_id:
        problem = "a document id is not empty"
    elif len(document_id) > DOCUMENT_ID_MAX:
        problem = f"a document id has at most {DOCUMENT_ID_MAX} characters, not {len(document_id)}"
    elif any(unicodedata.category(ch) == "Cc" for ch in document_id):
        problem = "a document id holds no control characters (U+0000–U+001F, U+007F–U+009F)"
    if problem is not None:
        raise RequestInvalidError(
            f"invalid document id: {problem}",
            detail={"errors": [{"location": "path.document_id", "message": problem}]},
        )
    return document_id


class DocumentView(BaseModel):
    """The document as its own message says it."""

    message_id: uuid.UUID = Field(description="The hub's id of the document's message.")
    from_: str = Field(serialization_alias="from", description="OrganId of the agency that issued it.")
    to: list[str] = Field(description="OrganIds of its recipients.")
    subject: str | None = Field(description="Subject (trích yếu).")
    code: str | None = Field(description="CodeNumber/CodeNotation (số, ký hiệu).")
    business_doc_type: str | None = Field(
        description="BussinessDocType: 0 new, 1 revoke, 2 update, 3 replace."
    )
    business_doc_type_name: str | None = Field(description="What that type means, in English.")
    received_at: datetime


class AgencyStateView(BaseModel):
    agency: str = Field(description="OrganId of the agency.")
    state: str = Field(description="See docs/edxml.md, section Document states.")
    at: datetime = Field(description="Since when.")
    code: str | None = Field(description="The status code that put it there (null: the hub's delivery).")
    code_name: str | None = Field(description="What that code means, in English.")


class HistoryItemView(BaseModel):
    """One message about the document: the document, a status package, a change."""

    message_id: uuid.UUID
    kind: MessageKind
    message_type: str | None = Field(description="edoc or status (null: not edXML).")
    status_code: str | None
    business_doc_type: str | None
    edxml_document_id: str | None = Field(description="The message's own DocumentId, when it has one.")
    from_: str = Field(serialization_alias="from", description="OrganId of the agency it comes from.")
    sender: str = Field(description="The system that gave it to the hub (agency code).")
    at: datetime = Field(description="When the hub received it.")
    quirks: list[str] = Field(description="How it departs from the standard (docs/edxml.md).")
    status_url: str | None
    deliveries: list[TrailDeliveryView]


class RelatedView(BaseModel):
    document_id: str
    relation: str = Field(description="revokes, updates, replaces, revoked-by, updated-by, replaced-by.")
    message_id: uuid.UUID = Field(description="The message that says so.")


class DocumentStates(BaseModel):
    """One official document: what it is, where it stands with each agency, every message about it."""

    document_id: str
    correlation_id: uuid.UUID = Field(description="The correlation id derived from the document id.")
    document: DocumentView | None = Field(description="Null when the hub holds only answers about it.")
    states: list[AgencyStateView]
    history: list[HistoryItemView]
    related: list[RelatedView]


def _history_item(entry: TrailEntry, base_url: str | None) -> HistoryItemView:
    env = entry.envelope
    url = None if base_url is None else f"{base_url}/api/v1/messages/{env.message_id}"
    headers = env.headers
    return HistoryItemView(
        message_id=env.message_id,
        kind=env.kind,
        message_type=headers.get(h.MESSAGE_TYPE),
        status_code=headers.get(h.STATUS_CODE),
        business_doc_type=headers.get(h.BUSINESS_DOC_TYPE),
        edxml_document_id=headers.get(h.DOCUMENT_ID),
        from_=headers.get(h.FROM) or env.sender,
        sender=env.sender,
        at=env.received_at,
        quirks=list(h.split_list(headers.get(h.QUIRKS))),
        status_url=url,
        deliveries=[_trail_delivery_view(d, url) for d in entry.deliveries],
    )


def history_view(entries: Sequence[TrailEntry], base_url: str | None) -> list[HistoryItemView]:
    return [_history_item(entry, base_url) for entry in entries]


def document_view(report: DocumentReport, base_url: str | None) -> DocumentStates:
    doc = report.document
    return DocumentStates(
        document_id=report.document_id,
        correlation_id=derive_correlation_id(None, report.document_id),
        document=None
        if doc is None
        else DocumentView(
            message_id=doc.message_id,
            from_=doc.sender,
            to=list(doc.recipients),
            subject=doc.subject,
            code=doc.code,
            business_doc_type=doc.business_doc_type,
            business_doc_type_name=BUSINESS_DOC_TYPES[doc.business_doc_type][1]
            if doc.business_doc_type in BUSINESS_DOC_TYPES
            else None,
            received_at=doc.received_at,
        ),
        states=[
            AgencyStateView(
                agency=s.agency,
                state=s.state,
                at=s.at,
                code=s.code,
                code_name=STATUS_CODES[s.code][1] if s.code in STATUS_CODES else None,
            )
            for s in report.states
        ],
        history=history_view(report.history, base_url),
        related=[
            RelatedView(document_id=r.document_id, relation=r.relation, message_id=r.message_id)
            for r in report.related
        ],
    )
