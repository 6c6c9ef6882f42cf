"""The standard form of edXML, which the hub emits whatever form it was given.

Real senders write edXML as their SDK does: ``Business`` for ``Bussiness``, status fields directly under
``MessageHeader``, elements out of the standard's order, ``dd/MM/yyyy`` dates, the document's
namespace declared three times under two prefixes, a signature without the xmldsig prefix. The hub
reads all of that (:mod:`lienthong.edxml.read`), but what it sends onto the national axis is what
QCVN 102:2016 describes, so that a strict receiver never refuses the hub for its sender's habits.

:func:`standard_form` rewrites a tree in place — documents carry up to 50 MB of attachments, and a copy
of the tree would double the hub's memory for them — and returns what it changed as quirks.
:func:`check_outgoing` refuses what the hub must not emit, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from lxml import etree

from lienthong.edxml.attachments import line_of
from lienthong.edxml.build import (
    ATTACHMENT_ORDER,
    RESPONSE_FOR_ORDER,
    ROOT_ORDER,
    TRACE_HEADER_ORDER,
    VIETNAM,
)
from lienthong.edxml.model import EdxmlMessage, Organ, Quirk
from lienthong.edxml.names import (
    BUSINESS_ORDER,
    DATE_FORMAT,
    EDXML_NS,
    ENVELOPE_ORDER,
    HEADER_ORDER,
    MESSAGE_HEADER_ORDER,
    ORGAN_ORDER,
    PREFIX,
    STATUS_CODES,
    STATUS_ORDER,
    TIMESTAMP_FORMAT,
    TRACE_HEADER_LIST_ORDER,
    e,
    is_agency_code,
)
from lienthong.errors import EdxmlError

__all__ = ["check_outgoing", "standard_form"]

#: Children ordered as the standard lists them, by the local name of their parent.
_ORDERS: Final[dict[str, Sequence[str]]] = {
    "edXML": ROOT_ORDER,
    "edXMLEnvelope": ENVELOPE_ORDER,
    "edXMLHeader": HEADER_ORDER,
    "MessageHeader": MESSAGE_HEADER_ORDER,
    "From": ORGAN_ORDER,
    "To": ORGAN_ORDER,
    "TraceHeaderList": TRACE_HEADER_LIST_ORDER,
    "TraceHeader": TRACE_HEADER_ORDER,
    "Bussiness": BUSINESS_ORDER,
    "Status": STATUS_ORDER,
    "ResponseFor": RESPONSE_FOR_ORDER,
    "Attachment": ATTACHMENT_ORDER,
}
#: The standard's spelling, for what some senders spell with one s.
_SPELLING: Final = {
    "Business": "Bussiness",
    "BusinessDocType": "BussinessDocType",
    "BusinessDocReason": "BussinessDocReason",
    "BusinessDocumentInfo": "BussinessDocumentInfo",
}
#: What a status package carries in ``edXMLHeader/Status``; seen directly under MessageHeader with a
#: StatusCode, these are moved there.
_STATUS_FIELDS: Final = frozenset(STATUS_ORDER)
_DATES: Final = frozenset({"PromulgationDate", "DueDate"})
_TIMESTAMPS: Final = frozenset({"Timestamp"})
_DMY: Final = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_YMD: Final = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_DOCUMENT_ID: Final = re.compile(r"^(?P<organ>[^,]+),(?P<date>\d{4}/\d{2}/\d{2}),(?P<code>[^/]+/.+)$")


def _local(el: etree._Element) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(parent: etree._Element, local: str) -> etree._Element | None:
    return next((c for c in parent if _local(c) == local), None)


def standard_form(root: etree._Element) -> list[Quirk]:
    """Rewrite the edXML document ``root`` in place into the standard form; what was changed, as quirks.

    In order: any signature goes (the hub signs what it sends, policy ``edxml``, and a sender's
    signature would no longer verify after this anyway); ``Business*`` becomes ``Bussiness*``; status
    fields under MessageHeader move to ``edXMLHeader/Status``; dates become ``yyyy/MM/dd`` and
    timestamps ``yyyy/MM/dd HH:mm:ss`` (Vietnam time); children take the standard's order (those it
    does not list stay after, in their order); every element of the document is in the edXML namespace
    under the prefix ``edXML``, declared once, on the root.

    Raises EdxmlError when ``root`` is not an edXML document (``edXML/edXMLEnvelope/edXMLHeader``)."""
    if _local(root) != "edXML" or (envelope := _child(root, "edXMLEnvelope")) is None:
        raise EdxmlError(f"not an edXML document: the root is {root.tag}, not edXML/edXMLEnvelope")
    header = _child(envelope, "edXMLHeader")
    if header is None:
        raise EdxmlError("not an edXML document: edXML/edXMLEnvelope has no edXMLHeader")
    quirks: list[Quirk] = []
    for parent in (root, envelope, header):
        for old in [c for c in parent if _local(c) == "Signature"]:
            _remove(old)
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    quirks += _spelling(elements)
    quirks += _status_fields(header)
    quirks += _dates(elements)
    quirks += _order(root)
    quirks += _namespace(root)
    return quirks


def _remove(el: etree._Element) -> None:
    """Remove ``el`` keeping the layout: the indentation before it goes, the one after it stays."""
    parent = el.getparent()
    assert parent is not None
    previous = el.getprevious()
    if previous is not None:
        previous.tail = el.tail
    elif el.getnext() is None:
        parent.text = el.tail
    parent.remove(el)


def _spelling(elements: list[etree._Element]) -> list[Quirk]:
    first = None
    for el in elements:
        right = _SPELLING.get(_local(el))
        if right is not None:
            if first is None:
                first = el
            el.tag = e(right)
    if first is None:
        return []
    return [Quirk("business-spelling", "Business is spelled Bussiness, as in the standard", line_of(first))]


def _status_fields(header: etree._Element) -> list[Quirk]:
    """Status fields found directly under MessageHeader (with a StatusCode: a status package as the
    vendor SDK writes it) go to ``edXMLHeader/Status``; a MessageHeader left empty goes too."""
    message = _child(header, "MessageHeader")
    if message is None or _child(message, "StatusCode") is None:
        return []
    status = _child(header, "Status")
    if status is None:
        status = etree.SubElement(header, e("Status"))
        status.text, status.tail = message.text, message.tail
    line = line_of(message)
    for field in [c for c in message if _local(c) in _STATUS_FIELDS]:
        if _child(status, _local(field)) is None or _local(field) == "ResponseFor":
            status.append(field)  # moves it, with its tail
        else:  # the same field twice: the one already under Status is the standard's
            _remove(field)
    if not any(isinstance(c.tag, str) for c in message):
        _remove(message)
    return [
        Quirk(
            "status-under-message-header",
            "status fields moved from MessageHeader to edXMLHeader/Status, where the standard puts them",
            line,
        )
    ]


def _dates(elements: list[etree._Element]) -> list[Quirk]:
    quirks = []
    for el in elements:
        local = _local(el)
        if local in _DATES or local in _TIMESTAMPS:
            text = (el.text or "").strip()
            written = _normal(text, timestamp=local in _TIMESTAMPS)
            if written is not None and written != el.text:
                el.text = written
                if written != text:
                    quirks.append(
                        Quirk("date-format", f"{local} {text!r} written as {written!r}", line_of(el))
                    )
    return quirks


def _normal(text: str, *, timestamp: bool) -> str | None:
    """``text`` as the standard writes it, or None for a value this cannot read (left as it is)."""
    if timestamp and "T" in text:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is not None:
            moment = moment.astimezone(VIETNAM)
        return moment.strftime(TIMESTAMP_FORMAT)
    if match := _YMD.fullmatch(text):
        year, month, day, hour, minute, second = match.groups()
    elif match := _DMY.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
    else:
        return None
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return moment.strftime(TIMESTAMP_FORMAT if timestamp else DATE_FORMAT)


def _order(root: etree._Element) -> list[Quirk]:
    quirks = []
    containers = [el for el in root.iter() if _local(el) in _ORDERS]
    for parent in containers:
        order = _ORDERS[_local(parent)]
        rank = {name: index for index, name in enumerate(order)}
        kids = list(parent)
        ordered = sorted(kids, key=lambda kid: rank.get(_local(kid), len(order)))  # stable
        if ordered == kids:
            continue
        tails = [kid.tail for kid in kids]  # the layout stays where it was: tails by position
        for kid, tail in zip(ordered, tails, strict=True):
            parent.append(kid)  # moves it to the end, no copy
            kid.tail = tail
        quirks.append(
            Quirk(
                "element-order", f"children of {_local(parent)} put in the standard's order", line_of(parent)
            )
        )
    return quirks


def _namespace(root: etree._Element) -> list[Quirk]:
    """Every edXML element in the edXML namespace, prefixed ``edXML``, declared once on the root.

    lxml cannot rename a namespace declaration, and it binds an element to the first declaration of
    its namespace in scope (the vendor SDK declares it as the default on the root and again as
    ``edXML`` below). So the edXML elements are taken out of the namespace for a moment, every
    declaration left unused is removed, ``edXML`` is declared on the root, and the elements are put
    back: the only declaration in scope is then the prefixed one."""
    quirks: list[Quirk] = []
    ours: list[etree._Element] = []
    for el in [el for el in root.iter() if isinstance(el.tag, str)]:  # not comments
        namespace = el.tag[1:].partition("}")[0] if el.tag.startswith("{") else None
        if namespace is None:
            if not quirks:
                message = "elements without a namespace put in the edXML namespace"
                quirks.append(Quirk("edxml-namespace", message, line_of(el)))
            ours.append(el)
        elif namespace == EDXML_NS:
            ours.append(el)
    locals_ = [_local(el) for el in ours]
    for el, local in zip(ours, locals_, strict=True):
        el.tag = local
    etree.cleanup_namespaces(root, top_nsmap={PREFIX: EDXML_NS}, keep_ns_prefixes=[PREFIX])
    for el, local in zip(ours, locals_, strict=True):
        el.tag = e(local)
    return quirks


# ------------------------------------------------------------------------------- outgoing checks


def check_outgoing(msg: EdxmlMessage, *, hub_agency: str) -> None:
    """Refuse what the hub must not emit, naming the field: raises EdxmlError.

    The hub emits in its own name (``hub_agency``: the axis's ``from``, which a receiver compares with
    the edXML From), so From must be the hub's agency; every agency code it writes conforms to
    ``ddd.dd.dd.Xnn`` (live traffic has others, kept as read, but not sent on); a document has at least
    one To and the DocumentId the standard forms from its From, date and code; a status package has a
    known StatusCode and names the document it answers."""
    what = "status package" if msg.message_type == "status" else "document"
    _check_organ(msg.sender, "From/OrganId", what)
    if msg.sender.organ_id != hub_agency:
        raise EdxmlError(
            f"{what}: From/OrganId is {msg.sender.organ_id}, but the hub sends as {hub_agency}",
            detail={"field": "From/OrganId"},
        )
    for index, recipient in enumerate(msg.recipients, start=1):
        _check_organ(recipient, f"To[{index}]/OrganId", what)
    for index, about in enumerate(msg.response_for, start=1):
        if about.organ_id is not None:
            _check_organ(Organ(about.organ_id), f"ResponseFor[{index}]/OrganId", what)
    if msg.message_type == "status":
        _check_status(msg)
    else:
        _check_document(msg, what)


def _check_organ(organ: Organ, field: str, what: str) -> None:
    if not is_agency_code(organ.organ_id):
        raise EdxmlError(
            f"{what}: {field} {organ.organ_id!r} is not an agency code (ddd.dd.dd.Xnn, QĐ 20/2020/QĐ-TTg)",
            detail={"field": field},
        )


def _check_status(msg: EdxmlMessage) -> None:
    code = msg.status.code if msg.status is not None else None
    if code not in STATUS_CODES:
        known = ", ".join(STATUS_CODES)
        raise EdxmlError(
            f"status package: StatusCode {code!r} is not one of {known}",
            detail={"field": "Status/StatusCode"},
        )
    if not any(about.document_id for about in msg.response_for):
        raise EdxmlError(
            "status package: ResponseFor/DocumentId is missing: which document is this status about?",
            detail={"field": "Status/ResponseFor/DocumentId"},
        )


def _check_document(msg: EdxmlMessage, what: str) -> None:
    if not msg.recipients:
        raise EdxmlError(f"{what}: no To: a document goes to at least one agency", detail={"field": "To"})
    match = _DOCUMENT_ID.fullmatch(msg.document_id or "")
    expected = "<From OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>"
    if match is None or match["organ"] != msg.sender.organ_id:
        raise EdxmlError(
            f"{what}: DocumentId {msg.document_id!r} is not {expected} (From is {msg.sender.organ_id})",
            detail={"field": "DocumentId"},
        )
    if msg.code_number and msg.code_notation and match["code"] != f"{msg.code_number}/{msg.code_notation}":
        raise EdxmlError(
            f"{what}: DocumentId {msg.document_id!r} does not end with the document's code "
            f"{msg.code_number}/{msg.code_notation}",
            detail={"field": "DocumentId"},
        )
    for attachment in msg.attachments:
        if not attachment.referenced:
            raise EdxmlError(
                f"{what}: attachment {attachment.content_id} is named by no edXMLManifest/Reference",
                detail={"field": "edXMLManifest/Reference"},
            )
