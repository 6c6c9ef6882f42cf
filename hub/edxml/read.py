"""Reading edXML as real senders write it: tolerant of everything that does not change the meaning,
strict about what nothing can be done without.

Real documents (the vendor SDK's samples in ../shared/testdata/edxml) put elements in any order,
spell ``Business`` for the standard's ``Bussiness``, write the status fields directly under
``MessageHeader``, leave the XML Signature without its namespace and carry agency codes that are not
``ddd.dd.dd.Xnn``. Refusing them would cut the province off from the ministries that send them, so the
reader accepts each of these and records it as a :class:`~lienthong.edxml.model.Quirk` (a stable code,
a sentence, the line), which the sender's IT staff can fix at leisure. What it refuses, with
:class:`~lienthong.errors.EdxmlError`, is what no reader can act on: XML that is not well-formed or that
the hardened parser refuses (DTDs, entities, excess depth or size), a missing ``From/OrganId``, a
document without ``DocumentId``, a status package without ``StatusCode``.

Elements are found by local name, whatever their namespace or prefix; the standard's order
(:mod:`lienthong.edxml.names`) is only compared, never required.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from lxml import etree

from lienthong.edxml._signature import signature_info
from lienthong.edxml._tolerant import SPELLINGS, VIETNAM, QuirkLog, children, elements, text_of
from lienthong.edxml.attachments import DEFAULT_MAX_BYTES, scan
from lienthong.edxml.model import (
    Attachment,
    Business,
    EdxmlMessage,
    Organ,
    Replacement,
    ResponseFor,
    StaffInfo,
    Status,
    Trace,
)
from lienthong.edxml.names import (
    BUSINESS_DOC_TYPES,
    BUSINESS_ORDER,
    EDXML_NS,
    ENVELOPE_ORDER,
    HEADER_ORDER,
    MESSAGE_HEADER_ORDER,
    ORGAN_ORDER,
    STATUS_CODES,
    STATUS_ORDER,
    TRACE_HEADER_LIST_ORDER,
)
from lienthong.errors import EdxmlError, XmlRefusedError
from lienthong.xml import DEFAULT_LIMITS, XmlLimits, parse_xml

__all__ = ["VIETNAM", "EdxmlError", "parse_edxml", "read_edxml"]

_POSITION: Final = re.compile(r", line \d+, column \d+$")


def read_edxml(
    data: bytes | etree._Element,
    *,
    source: str = "document",
    limits: XmlLimits = DEFAULT_LIMITS,
    max_attachment_bytes: int = DEFAULT_MAX_BYTES,
) -> EdxmlMessage:
    """Read one edXML document or status package; raise :class:`EdxmlError` when it cannot be read.

    ``data``: the bytes as received (parsed here with the hub's hardened parser, within ``limits``),
    or a tree someone already parsed that way (large documents: the caller chose the limits).
    ``source``: how error messages and quirks name the input (a file name, ``axis:<docId>``).
    ``max_attachment_bytes``: the decoded size of all attachments together beyond which the document
    is refused (:func:`lienthong.edxml.attachments.scan`).
    """
    root = parse_edxml(data, source=source, limits=limits) if isinstance(data, bytes) else data
    return _Reader(source, max_attachment_bytes).message(root)


def parse_edxml(
    data: bytes, *, source: str = "document", limits: XmlLimits = DEFAULT_LIMITS
) -> etree._Element:
    """The hardened parse :func:`read_edxml` does, for a caller that also needs the tree (the signature
    verdict): a refusal is an :class:`EdxmlError` naming line and column."""
    try:
        return parse_xml(data, limits=limits, what=source)
    except XmlRefusedError as exc:
        line, column = exc.detail.get("line"), exc.detail.get("column")
        message = exc.message
        if line is not None:  # libxml2 ends its message with the position: say it once, up front
            message = _POSITION.sub("", message).replace(
                " is not well-formed XML:", f" is not well-formed XML at line {line}, column {column}:", 1
            )
        raise EdxmlError(
            message,
            detail={"line": line, "column": column, "element": None, "refused": exc.code},
        ) from exc


class _Reader(QuirkLog):
    """One reading of one message."""

    def __init__(self, source: str, max_attachment_bytes: int) -> None:
        super().__init__(source)
        self.max_attachment_bytes = max_attachment_bytes

    # ------------------------------------------------------------ the message

    def message(self, root: etree._Element) -> EdxmlMessage:
        name = etree.QName(root)
        if name.localname != "edXML":
            raise self.refuse(
                f"the root element is {name.localname!r}"
                + (f" in namespace {name.namespace!r}" if name.namespace else "")
                + ", not edXML",
                element=name.localname,
                at=root,
            )
        if name.namespace != EDXML_NS:
            self.quirk(
                "namespace", f"the root edXML is in namespace {name.namespace!r}, not {EDXML_NS!r}", root
            )
        envelope = self.one(root, "edXMLEnvelope", "edXML")
        if envelope is None:
            envelope = root
            self.quirk("no-envelope", "edXML has no edXMLEnvelope; its header is read from the root", root)
        self.order(envelope, ENVELOPE_ORDER, "edXMLEnvelope")
        header = self.one(envelope, "edXMLHeader", "edXMLEnvelope")
        if header is None:
            raise self.refuse("edXMLHeader is missing", element="edXMLHeader", at=envelope)
        self.order(header, HEADER_ORDER, "edXMLHeader")
        mh = self.one(header, "MessageHeader", "edXMLHeader")
        status_el = self.one(header, "Status", "edXMLHeader")
        if mh is None and status_el is None:
            raise self.refuse(
                "edXMLHeader has neither MessageHeader nor Status", element="MessageHeader", at=header
            )
        self.order(mh, MESSAGE_HEADER_ORDER, "MessageHeader")
        self.order(status_el, STATUS_ORDER, "Status")

        status_in_mh = mh is not None and bool(children(mh, "StatusCode"))
        is_status = status_el is not None or status_in_mh or self._looks_like_status(mh)
        status_src = status_el if status_el is not None else mh
        sender = self._sender(mh, status_el, is_status)
        recipients = self._recipients(mh)
        response_for = tuple(
            rf
            for parent, where in ((mh, "MessageHeader"), (status_el, "Status"))
            for el in children(parent, "ResponseFor")
            if (rf := self._response_for(el, where)) is not None
        )
        status = None
        if is_status:
            assert status_src is not None
            if status_el is None:
                self.quirk(
                    "status-under-message-header",
                    "the status fields (StatusCode, Description, Timestamp, StaffInfo) sit directly under "
                    "MessageHeader, not under edXMLHeader/Status",
                    children(mh, "StatusCode")[0] if status_in_mh else mh,
                )
            status = self._status(status_src, "Status" if status_el is not None else "MessageHeader")
        traces, business = self._trace_list(header)
        message = EdxmlMessage(
            message_type="status" if is_status else "edoc",
            sender=sender,
            recipients=recipients,
            response_for=response_for,
            business=business,
            status=status,
            traces=traces,
            attachments=self._attachments(root),
            signature=signature_info(self, root, envelope, header),
        )
        message = self._document_fields(message, mh)
        self._check_links(message, mh)
        return replace(message, quirks=tuple(self.quirks))

    @staticmethod
    def _looks_like_status(mh: etree._Element | None) -> bool:
        """No StatusCode, but the shape of a status package: answers a document, has no DocumentId of
        its own, carries a Timestamp or Description — refused below as a status without StatusCode."""
        if mh is None or children(mh, "DocumentId") or not children(mh, "ResponseFor"):
            return False
        return bool(children(mh, "Timestamp") or children(mh, "Description"))

    # ------------------------------------------------------------ agencies

    def organ(self, el: etree._Element, where: str) -> Organ | None:
        """An agency block; None when it names no OrganId. A bare ``<From>code</From>`` is read too."""
        organ_id_el = self.one(el, "OrganId", where)
        organ_id = text_of(organ_id_el)
        if organ_id is None and organ_id_el is None and not any(True for _ in elements(el)):
            organ_id, organ_id_el = text_of(el), el
        if organ_id is None:
            return None
        self.order(el, ORGAN_ORDER, where)
        self.agency(organ_id, f"{where}/OrganId", organ_id_el)
        return Organ(
            organ_id=organ_id,
            name=self.value(el, "OrganName", where),
            in_charge=self.value(el, "OrganizationInCharge", where),
            address=self.value(el, "OrganAdd", where),
            email=self.value(el, "Email", where),
            telephone=self.value(el, "Telephone", where),
            fax=self.value(el, "Fax", where),
            website=self.value(el, "Website", where),
        )

    def _sender(self, mh: etree._Element | None, status_el: etree._Element | None, is_status: bool) -> Organ:
        from_el, where = None, "MessageHeader/From"
        if is_status and status_el is not None:
            from_el, where = self.one(status_el, "From", "Status"), "Status/From"
        if from_el is None and mh is not None:
            from_el, where = self.one(mh, "From", "MessageHeader"), "MessageHeader/From"
        if from_el is None:
            raise self.refuse(
                f"{where} is missing: who sent it?", element=where, at=mh if mh is not None else status_el
            )
        sender = self.organ(from_el, where)
        if sender is None:
            raise self.refuse(f"{where}/OrganId is missing or empty", element=f"{where}/OrganId", at=from_el)
        return sender

    def _recipients(self, mh: etree._Element | None) -> tuple[Organ, ...]:
        found: list[Organ] = []
        for el in children(mh, "To"):
            organ = self.organ(el, "MessageHeader/To")
            if organ is None:
                self.quirk("recipient-without-id", "a To names no OrganId; it is ignored", el)
            else:
                found.append(organ)
        return tuple(found)

    def _response_for(self, el: etree._Element, where: str) -> ResponseFor | None:
        here = f"{where}/ResponseFor"
        rf = ResponseFor(
            organ_id=self.value(el, "OrganId", here),
            code=self.value(el, "Code", here),
            promulgation_date=self.value(el, "PromulgationDate", here),
            document_id=self.value(el, "DocumentId", here),
        )
        if rf == ResponseFor(None, None, None, None):
            self.quirk("empty-response-for", f"{here} is empty; it is ignored", el)
            return None
        self.agency(rf.organ_id, f"{here}/OrganId", el)
        return rf

    def _staff(self, el: etree._Element | None, where: str) -> StaffInfo | None:
        if el is None:
            return None
        return StaffInfo(
            department=self.value(el, "Department", where),
            staff=self.value(el, "Staff", where),
            mobile=self.value(el, "Mobile", where),
            email=self.value(el, "Email", where),
        )

    # ------------------------------------------------------------ status, traces, business

    def _status(self, el: etree._Element, where: str) -> Status:
        code_el = self.one(el, "StatusCode", where)
        code = text_of(code_el)
        if code is None:
            raise self.refuse(
                "a status package without StatusCode",
                element=f"{where}/StatusCode",
                at=code_el if code_el is not None else el,
            )
        if code.isdigit() and len(code) == 1:
            self.quirk(
                "status-code-format", f"StatusCode {code!r} is written without its leading zero", code_el
            )
            code = f"0{code}"
        if code not in STATUS_CODES:
            self.quirk(
                "unknown-status-code",
                f"StatusCode {code!r} is none of {', '.join(STATUS_CODES)}; kept as written",
                code_el,
            )
        return Status(
            code=code,
            description=self.value(el, "Description", where),
            timestamp=self.timestamp(self.one(el, "Timestamp", where), f"{where}/Timestamp"),
            staff=self._staff(self.one(el, "StaffInfo", where), f"{where}/StaffInfo"),
        )

    def _trace_list(self, header: etree._Element) -> tuple[tuple[Trace, ...], Business | None]:
        thl = self.one(header, "TraceHeaderList", "edXMLHeader")
        self.order(thl, TRACE_HEADER_LIST_ORDER, "TraceHeaderList")
        traces: list[Trace] = []
        for el in children(thl, "TraceHeader"):
            organ_id = self.value(el, "OrganId", "TraceHeader")
            if organ_id is None:
                self.quirk("trace-without-id", "a TraceHeader names no OrganId; it is ignored", el)
                continue
            self.agency(organ_id, "TraceHeader/OrganId", el)
            traces.append(
                Trace(
                    organ_id,
                    self.timestamp(self.one(el, "Timestamp", "TraceHeader"), "TraceHeader/Timestamp"),
                )
            )
        business_el = self.one(thl, "Bussiness", "TraceHeaderList")
        return tuple(traces), self._business(business_el) if business_el is not None else None

    def _business(self, el: etree._Element) -> Business:
        where = "TraceHeaderList/Bussiness"
        for child in [el, *el.iter()]:
            if isinstance(child.tag, str) and etree.QName(child).localname in SPELLINGS:
                self.quirk(
                    "business-spelling",
                    f"{etree.QName(child).localname} is spelt the standard's way as "
                    f"{SPELLINGS[etree.QName(child).localname]}",
                    child,
                )
        self.order(el, BUSINESS_ORDER, "Bussiness")
        type_el = self.one(el, "BussinessDocType", where)
        doc_type = text_of(type_el) or "0"
        if doc_type not in BUSINESS_DOC_TYPES:
            trimmed = doc_type.lstrip("0") or "0"
            if trimmed in BUSINESS_DOC_TYPES:
                self.quirk(
                    "business-doc-type-format", f"BussinessDocType {doc_type!r} read as {trimmed}", type_el
                )
                doc_type = trimmed
            else:
                self.quirk(
                    "unknown-business-doc-type",
                    f"BussinessDocType {doc_type!r} is none of {', '.join(BUSINESS_DOC_TYPES)}; "
                    "kept as written",
                    type_el,
                )
        replacements: list[Replacement] = []
        for info in children(self.one(el, "ReplacementInfoList", where), "ReplacementInfo"):
            document_id = self.value(info, "DocumentId", "ReplacementInfo")
            if document_id is None:
                self.quirk("empty-replacement", "a ReplacementInfo names no DocumentId; it is ignored", info)
                continue
            organs = [
                (code, o)
                for o in children(self.one(info, "OrganIdList", "ReplacementInfo"), "OrganId")
                if (code := text_of(o)) is not None
            ]
            for code, o in organs:
                self.agency(code, "ReplacementInfo/OrganIdList/OrganId", o)
            replacements.append(Replacement(document_id, tuple(code for code, _ in organs)))
        return Business(
            doc_type=doc_type,
            reason=self.value(el, "BussinessDocReason", where),
            paper=self.value(el, "Paper", where),
            document_id=self.value(el, "DocumentId", where),
            staff=self._staff(self.one(el, "StaffInfo", where), f"{where}/StaffInfo"),
            replacements=tuple(replacements),
        )

    # ------------------------------------------------------------ the document's own fields

    def _document_fields(self, message: EdxmlMessage, mh: etree._Element | None) -> EdxmlMessage:
        """The document's own header fields (a status package has few or none of them)."""
        if mh is None:
            return message
        is_status = message.message_type == "status"
        where = "MessageHeader"
        document_id_el = self.one(mh, "DocumentId", where)
        document_id = text_of(document_id_el)
        if document_id is None and not is_status:
            raise self.refuse(
                "a document without DocumentId",
                element=f"{where}/DocumentId",
                at=document_id_el if document_id_el is not None else mh,
            )
        code_el = self.one(mh, "Code", where)
        number = self.value(code_el, "CodeNumber", "Code")
        notation = self.value(code_el, "CodeNotation", "Code")
        if code_el is not None and number is None and notation is None and (whole := text_of(code_el)):
            number, _, rest = whole.partition("/")  # "7816/VPCP-TTĐT" written as the Code's text
            notation = rest or None
        if document_id is not None and not is_status:
            self._check_document_id(document_id, message.sender, number, notation, document_id_el)
        promulgation = self.one(mh, "PromulgationInfo", where)
        doc_type = self.one(mh, "DocumentType", where)
        signer_el = self.one(mh, "SignerInfo", where)
        signer = " ".join(
            v for n in ("Competence", "Position", "FullName") if (v := self.value(signer_el, n, "SignerInfo"))
        )
        other = self.one(mh, "OtherInfo", where)
        return replace(
            message,
            document_id=document_id,
            code_number=number,
            code_notation=notation,
            promulgation_place=self.value(promulgation, "Place", "PromulgationInfo"),
            promulgation_date=self.date(
                self.one(promulgation, "PromulgationDate", "PromulgationInfo"), "PromulgationDate"
            ),
            type_code=self.value(doc_type, "Type", "DocumentType"),
            type_detail=self.value(doc_type, "TypeDetail", "DocumentType"),
            type_name=self.value(doc_type, "TypeName", "DocumentType"),
            subject=self.value(mh, "Subject", where),
            content=self.value(mh, "Content", where),
            signer=signer or None,
            due_date=self.date(self.one(mh, "DueDate", where), "DueDate"),
            priority=self.value(other, "Priority", "OtherInfo") or self.value(mh, "Priority", where),
            steering_type=self.value(mh, "SteeringType", where),
        )

    def _check_document_id(
        self,
        document_id: str,
        sender: Organ,
        number: str | None,
        notation: str | None,
        el: etree._Element | None,
    ) -> None:
        parts = document_id.split(",", 2)
        if len(parts) != 3:
            self.quirk(
                "document-id-format",
                f"DocumentId {document_id!r} is not "
                "<sender OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>",
                el,
            )
            return
        organ, _, code = parts
        problems = []
        if organ != sender.organ_id:
            problems.append(f"names {organ} as its sender, From is {sender.organ_id}")
        if number and notation and code != f"{number}/{notation}":
            problems.append(f"names the code {code}, Code is {number}/{notation}")
        if problems:
            self.quirk("document-id-mismatch", f"DocumentId {document_id!r} " + "; ".join(problems), el)

    def _check_links(self, message: EdxmlMessage, mh: etree._Element | None) -> None:
        kind = message.business_doc_type
        if (
            message.message_type == "edoc"
            and kind in ("1", "2", "3")
            and message.subject_document_id == message.document_id
        ):
            name = BUSINESS_DOC_TYPES[kind][1]
            self.quirk(
                "business-without-reference",
                f"a {name} (BussinessDocType {kind}) that names no earlier document "
                "(ResponseFor, Bussiness/DocumentId or ReplacementInfo)",
                mh,
            )
        if message.message_type == "edoc" and not message.recipients:
            self.quirk("no-recipient", "the document names no recipient (MessageHeader/To)", mh)
        if message.message_type == "status" and message.subject_document_id is None:
            self.quirk(
                "status-without-document", "the status package names no document (ResponseFor/DocumentId)", mh
            )

    # ------------------------------------------------------------ attachments

    def _attachments(self, root: etree._Element) -> tuple[Attachment, ...]:
        """Decoded a slice at a time, checked against the manifest and their declared types by
        :func:`~lienthong.edxml.attachments.scan`, whose quirks are this reading's."""
        try:
            return scan(root, max_bytes=self.max_attachment_bytes, quirks=self.quirks)
        except EdxmlError as exc:
            raise EdxmlError(
                f"{self.source}: {exc.message}",
                detail={
                    "element": "AttachmentEncoded/Attachment",
                    "line": None,
                    "column": None,
                    **exc.detail,
                },
            ) from exc
