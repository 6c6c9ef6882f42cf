"""What an edXML simulator needs to know of a message it carries: read by local name, tolerantly.

The simulated systems answer what arrives (a ministry acknowledges a document, agrees to a revocation)
and show what they hold; for that they need the header's few identifying fields, whatever the
sender's spelling (``Business`` or ``Bussiness``), element order, or where it put a status package's
fields (``edXMLHeader/Status`` or directly under ``MessageHeader``). A body it cannot read is still
carried — a transport does not judge content — but nobody can answer it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

from lxml import etree

from lienthong.errors import HubError
from lienthong.xml import XmlLimits, parse_xml

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

    @property
    def is_change(self) -> bool:
        """A revocation, update or replacement of an earlier document (BussinessDocType 1, 2, 3)."""
        return self.message_type == "edoc" and self.business_doc_type in ("1", "2", "3")

    def public(self) -> dict[str, object]:
        facts = asdict(self)
        facts["recipients"] = list(self.recipients)
        return facts


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child(parent: etree._Element | None, *names: str) -> etree._Element | None:
    if parent is None:
        return None
    for child in parent:
        if _local(child) in names:
            return child
    return None


def _children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    return [c for c in parent if _local(c) == name] if parent is not None else []


def _text(parent: etree._Element | None, *path: str) -> str | None:
    el = parent
    for name in path:
        el = _child(el, name)
    text = (el.text or "").strip() if el is not None else ""
    return text or None


def read_facts(data: bytes) -> EdocFacts:
    """The facts of an edXML message, or :class:`HubError` saying why there are none to read."""
    root = parse_xml(data, limits=FACTS_LIMITS, what="edXML message")
    if _local(root) != "edXML":
        raise HubError(f"not an edXML message: the root element is {_local(root) or root.tag}")
    header = _child(_child(root, "edXMLEnvelope"), "edXMLHeader")
    message = _child(header, "MessageHeader")
    status = _child(header, "Status")
    code_holder = status if status is not None else message
    status_code = _text(code_holder, "StatusCode")
    if status_code is not None:
        holder = status if status is not None else message
        return EdocFacts(
            message_type="status",
            sender=_text(holder, "From", "OrganId") or _text(message, "From", "OrganId"),
            status_code=status_code,
            response_for=_text(holder, "ResponseFor", "DocumentId"),
        )
    code = _child(message, "Code")
    number, notation = _text(code, "CodeNumber"), _text(code, "CodeNotation")
    traces = _child(header, "TraceHeaderList")
    business = _child(traces, "Bussiness", "Business")
    return EdocFacts(
        message_type="edoc",
        sender=_text(message, "From", "OrganId"),
        recipients=tuple(t for to in _children(message, "To") if (t := _text(to, "OrganId"))),
        document_id=_text(message, "DocumentId"),
        code=f"{number}/{notation}" if number and notation else number or notation,
        promulgation_date=_text(message, "PromulgationInfo", "PromulgationDate"),
        business_doc_type=_text(business, "BussinessDocType") or _text(business, "BusinessDocType") or "0",
        response_for=_text(message, "ResponseFor", "DocumentId"),
    )
