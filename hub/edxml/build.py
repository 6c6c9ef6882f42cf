"""Building edXML documents and status packages from values, in the standard form, unsigned.

The simulated ministries answer with :func:`build_status`, the demo and tests send what
:func:`build_document` makes; the hub itself re-emits what it forwards through
:func:`lienthong.edxml.write.standard_form`. Both produce what that function would leave unchanged:
prefix ``edXML`` declared once on the root, the standard's element order (``names.py``), ``Bussiness``
spelled as the standard spells it, ``yyyy/MM/dd`` dates and Vietnam-time timestamps. Signing is
left to the hub's signer (policy ``edxml``), which puts ``ds:Signature`` last in ``edXMLHeader``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

from lxml import etree

from lienthong.edxml.model import Business, Organ, ResponseFor, StaffInfo, Trace
from lienthong.edxml.names import DATE_FORMAT, EDXML_NS, PREFIX, TIMESTAMP_FORMAT, e

__all__ = [
    "ATTACHMENT_ORDER",
    "RESPONSE_FOR_ORDER",
    "ROOT_ORDER",
    "TRACE_HEADER_ORDER",
    "VIETNAM",
    "build_document",
    "build_status",
    "document_id",
    "format_timestamp",
]

#: Vietnam time: a naive timestamp in edXML is read as this, and the hub writes its own in it.
#: A fixed offset, not a tz database zone: Vietnam has kept UTC+7 without daylight saving since 1975.
VIETNAM: Final = timezone(timedelta(hours=7), "ICT")

# Orders names.py leaves to the writer, as QCVN 102:2016 lists them: the root (the envelope, then the
# attachments beside it), one attachment, ResponseFor, TraceHeader. A manifest Reference and a StaffInfo are
# written as the vendor SDK writes them and not reordered (the standard's text is not at hand for them).
ROOT_ORDER: Final = ("edXMLEnvelope", "AttachmentEncoded")
ATTACHMENT_ORDER: Final = (
    "ContentId",
    "AttachmentName",
    "Description",
    "ContentType",
    "ContentTransferEncoded",
)
RESPONSE_FOR_ORDER: Final = ("OrganId", "Code", "PromulgationDate", "DocumentId")
TRACE_HEADER_ORDER: Final = ("OrganId", "Timestamp")

_NSMAP: Final = {PREFIX: EDXML_NS}


def document_id(organ_id: str, promulgation_date: date, code_number: str, code_notation: str) -> str:
    """``<sender OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>``, the standard's DocumentId."""
    return f"{organ_id},{promulgation_date.strftime(DATE_FORMAT)},{code_number}/{code_notation}"


def format_timestamp(moment: datetime) -> str:
    """``yyyy/MM/dd HH:mm:ss`` in Vietnam time (a naive ``moment`` is taken as Vietnam time already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(VIETNAM)
    return moment.strftime(TIMESTAMP_FORMAT)


def _now() -> datetime:
    return datetime.now(UTC).astimezone(VIETNAM)


def _sub(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, e(local))
    if text is not None:
        child.text = text
    return child


def _opt(parent: etree._Element, local: str, text: str | None) -> None:
    if text is not None:
        _sub(parent, local, text)


def _organ(parent: etree._Element, local: str, organ: Organ) -> etree._Element:
    el = _sub(parent, local)
    _sub(el, "OrganId", organ.organ_id)
    _opt(el, "OrganizationInCharge", organ.in_charge)
    _opt(el, "OrganName", organ.name)
    _opt(el, "OrganAdd", organ.address)
    _opt(el, "Email", organ.email)
    _opt(el, "Telephone", organ.telephone)
    _opt(el, "Fax", organ.fax)
    _opt(el, "Website", organ.website)
    return el


def _staff(parent: etree._Element, staff: StaffInfo) -> None:
    el = _sub(parent, "StaffInfo")
    _opt(el, "Department", staff.department)
    _opt(el, "Staff", staff.staff)
    _opt(el, "Email", staff.email)
    _opt(el, "Mobile", staff.mobile)


def _response_for(parent: etree._Element, about: ResponseFor) -> None:
    el = _sub(parent, "ResponseFor")
    _opt(el, "OrganId", about.organ_id)
    _opt(el, "Code", about.code)
    _opt(el, "PromulgationDate", about.promulgation_date)
    _opt(el, "DocumentId", about.document_id)


def _skeleton() -> tuple[etree._Element, etree._Element, etree._Element]:
    root = etree.Element(e("edXML"), nsmap=_NSMAP)
    envelope = _sub(root, "edXMLEnvelope")
    header = _sub(envelope, "edXMLHeader")
    return root, envelope, header


def build_status(
    *,
    about: ResponseFor,
    sender: Organ,
    code: str,
    description: str | None = None,
    timestamp: datetime | None = None,
    staff: StaffInfo | None = None,
) -> etree._Element:
    """A status package (``edXMLHeader/Status``) from ``sender`` about the document ``about``.

    ``code`` is one of ``names.STATUS_CODES`` ("01" … "16"); it is not checked here (a simulator may
    want to send a wrong one on purpose): :func:`lienthong.edxml.write.check_outgoing` checks what
    the hub emits."""
    root, _, header = _skeleton()
    status = _sub(header, "Status")
    _response_for(status, about)
    _organ(status, "From", sender)
    _sub(status, "StatusCode", code)
    _opt(status, "Description", description)
    _sub(status, "Timestamp", format_timestamp(timestamp or _now()))
    if staff is not None:
        _staff(status, staff)
    return root


def build_document(
    *,
    sender: Organ,
    recipients: Sequence[Organ],
    code_number: str,
    code_notation: str,
    subject: str,
    promulgation_date: date | None = None,
    place: str | None = None,
    type_code: str = "1",
    type_detail: str | None = None,
    type_name: str | None = None,
    content: str | None = None,
    signer: tuple[str, str, str] | None = None,
    due_date: date | None = None,
    priority: str = "0",
    steering_type: str | None = None,
    to_places: Sequence[str] = (),
    response_for: Sequence[ResponseFor] = (),
    business: Business | None = None,
    traces: Sequence[Trace] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> etree._Element:
    """An official document from ``sender`` to ``recipients``, in the standard form, unsigned.

    Its DocumentId is formed as the standard says from the sender, ``promulgation_date`` (today in
    Vietnam when None) and the code. ``signer`` is ``(Competence, Position, FullName)``. ``business``
    says what the document does to earlier ones (new when None: ``BussinessDocType`` 0); the
    documents revoked or updated go in ``response_for``. ``traces`` default to one TraceHeader of
    the sender, now. ``attachments`` are ``(name, content type, bytes)``, base64-encoded as
    ``AttachmentEncoded/Attachment`` with ContentIds ``cid:1``, ``cid:2``… named by the manifest."""
    issued = promulgation_date or _now().date()
    root, envelope, header = _skeleton()
    message = _sub(header, "MessageHeader")
    _organ(message, "From", sender)
    for recipient in recipients:
        _organ(message, "To", recipient)
    _sub(message, "DocumentId", document_id(sender.organ_id, issued, code_number, code_notation))
    code = _sub(message, "Code")
    _sub(code, "CodeNumber", code_number)
    _sub(code, "CodeNotation", code_notation)
    promulgation = _sub(message, "PromulgationInfo")
    _opt(promulgation, "Place", place)
    _sub(promulgation, "PromulgationDate", issued.strftime(DATE_FORMAT))
    doc_type = _sub(message, "DocumentType")
    _sub(doc_type, "Type", type_code)
    _opt(doc_type, "TypeDetail", type_detail)
    _opt(doc_type, "TypeName", type_name)
    _sub(message, "Subject", subject)
    _opt(message, "Content", content)
    if signer is not None:
        info = _sub(message, "SignerInfo")
        for local, text in zip(("Competence", "Position", "FullName"), signer, strict=True):
            _sub(info, local, text)
    if due_date is not None:
        _sub(message, "DueDate", due_date.strftime(DATE_FORMAT))
    _sub(_sub(message, "OtherInfo"), "Priority", priority)
    _opt(message, "SteeringType", steering_type)
    if to_places:
        places = _sub(message, "ToPlaces")
        for place_name in to_places:
            _sub(places, "Place", place_name)
    for about in response_for:
        _response_for(message, about)
    _trace_list(header, sender, traces, business or Business())
    _attachments(root, _sub(_sub(envelope, "edXMLBody"), "edXMLManifest"), attachments)
    return root


def _trace_list(
    header: etree._Element, sender: Organ, traces: Sequence[Trace] | None, business: Business
) -> None:
    trace_list = _sub(header, "TraceHeaderList")
    for trace in traces if traces is not None else (Trace(sender.organ_id, _now()),):
        el = _sub(trace_list, "TraceHeader")
        _sub(el, "OrganId", trace.organ_id)
        _sub(el, "Timestamp", format_timestamp(trace.timestamp or _now()))
    _business(trace_list, business)


def _attachments(
    root: etree._Element, manifest: etree._Element, attachments: Sequence[tuple[str, str, bytes]]
) -> None:
    manifest.set("version", "1.0")
    if not attachments:
        return
    encoded = _sub(root, "AttachmentEncoded")
    for number, (name, content_type, data) in enumerate(attachments, start=1):
        cid = f"cid:{number}"
        reference = _sub(manifest, "Reference")
        _sub(reference, "ContentId", cid)
        _sub(reference, "ContentType", content_type)
        _sub(reference, "Description", name)
        _sub(reference, "AttachmentName", name)
        attachment = _sub(encoded, "Attachment")
        _sub(attachment, "ContentId", cid)
        _sub(attachment, "AttachmentName", name)
        _sub(attachment, "Description", name)
        _sub(attachment, "ContentType", content_type)
        _sub(attachment, "ContentTransferEncoded", base64.b64encode(data).decode("ascii"))


def _business(parent: etree._Element, business: Business) -> None:
    el = _sub(parent, "Bussiness")
    _opt(el, "DocumentId", business.document_id)
    _sub(el, "BussinessDocType", business.doc_type)
    _opt(el, "BussinessDocReason", business.reason)
    _sub(el, "Paper", business.paper or "0")
    if business.staff is not None:
        _staff(el, business.staff)
    if business.replacements:
        replacements = _sub(el, "ReplacementInfoList")
        for replacement in business.replacements:
            info = _sub(replacements, "ReplacementInfo")
            _sub(info, "DocumentId", replacement.document_id)
            if replacement.organ_ids:
                organs = _sub(info, "OrganIdList")
                for organ_id in replacement.organ_ids:
                    _sub(organs, "OrganId", organ_id)
