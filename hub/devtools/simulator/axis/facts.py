"""What an edXML simulator needs to know of a message it carries, read tolerantly by the hub's reader.

The simulated systems answer what arrives (a ministry acknowledges a document, agrees to a revocation)
and show what they hold; for that they need the header's few identifying fields, whatever the
sender's spelling (``Business`` or ``Bussiness``), element order, or where it put a status package's
fields (``edXMLHeader/Status`` or directly under ``MessageHeader``). A body it cannot read is still
carried — a transport does not judge content — but nobody can answer it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

from lienthong.edxml.names import DATE_FORMAT
from lienthong.edxml.read import read_edxml
from lienthong.xml import XmlLimits

__all__ = ["FACTS_LIMITS", "EdocFacts", "read_facts"]

#: The axis carries documents up to 50 MB of attachments, base64 (a third more) and the header.
FACTS_LIMITS: Final = XmlLimits(max_bytes=96 * 1024 * 1024)


@dataclass(frozen=True)
class EdocFacts:
    """The identifying fields of one edXML message (None where the message lacks them)."""

    message_type: str  # "edoc" or "status"
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    document_id: str | None = None
    code: str | None = None  # "CodeNumber/CodeNotation"
    promulgation_date: str | None = None
    business_doc_type: str = "0"
    status_code: str | None = None
    response_for: str | None = None  # DocumentId a status package (or a revocation) is about
    quirks: tuple[str, ...] = ()  # the reader's quirk codes: how the sender departs from the standard

    @property
    def is_change(self) -> bool:
        """A revocation, update or replacement of an earlier document (BussinessDocType 1, 2, 3)."""
        return self.message_type == "edoc" and self.business_doc_type in ("1", "2", "3")

    def public(self) -> dict[str, object]:
        facts = asdict(self)
        facts["recipients"] = list(self.recipients)
        facts["quirks"] = list(self.quirks)
        return facts


def read_facts(data: bytes) -> EdocFacts:
    """The facts of an edXML message (read by the hub's tolerant reader), or :class:`HubError`
    (:class:`~lienthong.errors.EdxmlError`) saying why there are none to read."""
    msg = read_edxml(data, source="edXML message", limits=FACTS_LIMITS)
    quirks = tuple(dict.fromkeys(q.code for q in msg.quirks))
    if msg.message_type == "status":
        return EdocFacts(
            message_type="status",
            sender=msg.sender.organ_id,
            status_code=msg.status.code if msg.status is not None else None,
            response_for=msg.subject_document_id,
            quirks=quirks,
        )
    number, notation = msg.code_number, msg.code_notation
    return EdocFacts(
        message_type="edoc",
        sender=msg.sender.organ_id,
        recipients=tuple(r.organ_id for r in msg.recipients),
        document_id=msg.document_id,
        code=f"{number}/{notation}" if number and notation else number or notation,
        promulgation_date=msg.promulgation_date.strftime(DATE_FORMAT) if msg.promulgation_date else None,
        business_doc_type=msg.business_doc_type,
        response_for=next((r.document_id for r in msg.response_for if r.document_id), None),
        quirks=quirks,
    )
