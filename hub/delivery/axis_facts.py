"""The few header facts the axis protocol needs from an edXML message, read without its attachments.

``sendEdoc`` carries ``from``, ``to`` and ``messagetype`` in HTTP headers, and receiving checks the
edXML ``From`` against the axis's ``from``; both read them here. The header comes before
``AttachmentEncoded`` in every edXML message, so the bytes are fed to a pull parser (the hardened
parser's settings: no DTD, no entities, no network) only until ``edXMLHeader`` ends: a 50 MB
document's attachments are never parsed at delivery. Elements are found by local name, wherever the
sender put them (status fields under ``edXMLHeader/Status`` as the standard says, or directly under
``MessageHeader`` as the vendor SDK writes them); the full tolerant reading is
:mod:`lienthong.edxml.read`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lxml import etree

from lienthong.errors import XmlRefusedError
from lienthong.xml import EDXML_NS

__all__ = ["AxisFacts", "axis_facts", "is_edxml"]

_CHUNK: Final = 64 * 1024
#: An edXML header is a few kilobytes; one that has not ended by then is not an edXML header.
_MAX_HEADER: Final = 4 * 1024 * 1024


@dataclass(frozen=True)
class AxisFacts:
    """From an edXML message's header: who sends it, to whom, and what it answers."""

    message_type: str  # "edoc" or "status"
    sender: str | None  # From/OrganId (a status package: the status's From)
    recipients: tuple[str, ...]  # To/OrganId, in order
    response_for: tuple[str, ...]  # ResponseFor/OrganId: whom a status package answers
    document_id: str | None
    code: str | None  # "CodeNumber/CodeNotation" (a document) or ResponseFor/Code
    promulgation_date: str | None

    @property
    def axis_recipients(self) -> tuple[str, ...]:
        """Who the axis must deliver it to: a document's To; a status package's original sender."""
        return self.response_for if self.message_type == "status" else self.recipients


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def is_edxml(root: etree._Element) -> bool:
    return root.tag == f"{{{EDXML_NS}}}edXML"


def axis_facts(payload: bytes, *, what: str = "edXML message") -> AxisFacts:
    """The header facts of ``payload``; XmlRefusedError when it is not an edXML message."""
    head = payload[: 64 * 1024]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise XmlRefusedError(f"{what}: DOCTYPE declarations are not accepted")
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    header: etree._Element | None = None
    root_tag: str | None = None
    try:
        for start in range(0, min(len(payload), _MAX_HEADER), _CHUNK):
            parser.feed(payload[start : start + _CHUNK])
            for event, element in parser.read_events():
                if not isinstance(element, etree._Element):
                    continue
                if event == "start" and root_tag is None:
                    root_tag = element.tag
                    if root_tag != f"{{{EDXML_NS}}}edXML":
                        raise XmlRefusedError(f"{what}: the root is {root_tag}, not edXML")
                elif event == "end" and _local(element.tag) == "edXMLHeader":
                    header = element
                    break
            if header is not None:
                break
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise XmlRefusedError(
            f"{what} is not well-formed XML: {exc.msg}", detail={"line": line, "column": column}
        ) from exc
    if header is None:
        raise XmlRefusedError(f"{what}: no edXMLHeader")
    return _facts(header)


def _facts(header: etree._Element) -> AxisFacts:
    def all_named(parent: etree._Element, name: str) -> list[etree._Element]:
        return [el for el in parent.iter() if _local(el.tag) == name]

    def child(parent: etree._Element | None, name: str) -> etree._Element | None:
        if parent is None:
            return None
        return next((el for el in parent if _local(el.tag) == name), None)

    def text(parent: etree._Element | None, name: str) -> str | None:
        found = child(parent, name)
        value = (found.text or "").strip() if found is not None else ""
        return value or None

    message = child(header, "MessageHeader")
    status = child(header, "Status")
    is_status = status is not None or bool(all_named(header, "StatusCode"))
    holder = status if status is not None and child(status, "From") is not None else message
    sender = text(child(holder, "From"), "OrganId")
    recipients = tuple(v for to in _children(message, "To") if (v := text(to, "OrganId")))
    answered = [*_children(status, "ResponseFor"), *_children(message, "ResponseFor")]
    response_for = tuple(dict.fromkeys(v for rf in answered if (v := text(rf, "OrganId"))))
    if is_status:
        first = answered[0] if answered else None
        return AxisFacts(
            "status",
            sender,
            recipients,
            response_for,
            text(first, "DocumentId"),
            text(first, "Code"),
            text(first, "PromulgationDate"),
        )
    code = child(message, "Code")
    number, notation = text(code, "CodeNumber"), text(code, "CodeNotation")
    return AxisFacts(
        "edoc",
        sender,
        recipients,
        response_for,
        text(message, "DocumentId"),
        f"{number}/{notation}" if number and notation else number or notation,
        text(child(message, "PromulgationInfo"), "PromulgationDate"),
    )


def _children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    return [] if parent is None else [el for el in parent if _local(el.tag) == name]
