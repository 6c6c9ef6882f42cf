"""The standard form the hub emits, whatever form the sender used; and what the hub refuses to emit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from lienthong.edxml.build import build_document, build_status
from lienthong.edxml.model import Attachment, EdxmlMessage, Organ, ResponseFor, Status
from lienthong.edxml.names import EDXML_NS, HEADER_ORDER, MESSAGE_HEADER_ORDER, STATUS_ORDER
from lienthong.edxml.write import check_outgoing, standard_form
from lienthong.errors import EdxmlError
from lienthong.xml import parse_xml, serialize

NS = {"edXML": EDXML_NS}
SAMPLES = "testdata/edxml"
WELL_FORMED = sorted(
    [
        "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml",
        "edoc_new.edxml",
        "edoc_revocation.edxml",
        "edoc_update.edxml",
        "edoc_replacement.edxml",
        "status.edxml",
        "status_inbox_01.edxml",
        "status_rejection_02.edxml",
        "status_acceptance_03.edxml",
        "status_assignment_04.edxml",
        "status_processing_05.edxml",
        "status_finish_06.edxml",
        "status_cancellation_13.edxml",
        "status_change-acceptance_15.edxml",
        "status_change-rejection_16.edxml",
    ]
)


def children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


def one(el: etree._Element, path: str) -> etree._Element:
    found = el.find(path, NS)
    assert found is not None, path
    return found


def in_order(names: list[str], order: tuple[str, ...]) -> bool:
    """Known names in the standard's order, unknown ones after them."""
    ranks = [order.index(n) if n in order else len(order) for n in names]
    return ranks == sorted(ranks)


def assert_standard(data: bytes) -> etree._Element:
    """What a strict receiver checks of the bytes the hub sends."""
    assert data.count(b"xmlns") == 1
    assert b'<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">' in data[:200]
    assert b"Business" not in data
    root = parse_xml(data)
    for el in root.iter():
        assert isinstance(el.tag, str)
        assert el.prefix == "edXML", el.tag
    header = one(root, "edXML:edXMLEnvelope/edXML:edXMLHeader")
    assert header.find("edXML:Signature", NS) is None
    assert in_order(children(header), HEADER_ORDER)
    message = header.find("edXML:MessageHeader", NS)
    if message is not None:
        assert in_order(children(message), MESSAGE_HEADER_ORDER)
        assert message.find("edXML:StatusCode", NS) is None
    status = header.find("edXML:Status", NS)
    if status is not None:
        assert children(status)[: len(STATUS_ORDER)] == [
            n for n in STATUS_ORDER if status.find(f"edXML:{n}", NS) is not None
        ]
    return root


@pytest.mark.parametrize("name", WELL_FORMED)
def test_each_vendor_sample_comes_out_in_the_standard_form(shared_dir: Path, name: str) -> None:
    root = parse_xml((shared_dir / SAMPLES / name).read_bytes())
    quirks = standard_form(root)
    out = assert_standard(serialize(root))
    if name.startswith("status"):
        assert "status-under-message-header" in [q.code for q in quirks]
        status = one(out, "edXML:edXMLEnvelope/edXML:edXMLHeader/edXML:Status")
        assert children(status) == [
            "ResponseFor",
            "From",
            "StatusCode",
            "Description",
            "Timestamp",
            "StaffInfo",
        ]
        assert out.find("edXML:edXMLEnvelope/edXML:edXMLHeader/edXML:MessageHeader", NS) is None
    else:
        assert b"<Signature" not in serialize(root)  # the sender's unprefixed one is gone
    # in place and stable: a second pass changes nothing
    before = serialize(root)
    assert standard_form(root) == []
    assert serialize(root) == before


def test_the_attachment_text_is_the_same_object_not_a_copy(shared_dir: Path) -> None:
    """The tree is rewritten in place: the attachment's element is still the one parsed."""
    root = parse_xml((shared_dir / SAMPLES / "edoc_new.edxml").read_bytes())
    part = root.find("{*}AttachmentEncoded/{*}Attachment/{*}ContentTransferEncoded")
    assert part is not None
    text = part.text
    standard_form(root)
    assert one(root, "edXML:AttachmentEncoded/edXML:Attachment/edXML:ContentTransferEncoded") is part
    assert part.text == text


MESSY = b"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <edXMLEnvelope>
    <edXMLHeader>
      <TraceHeaderList>
        <Business>
          <BusinessDocReason>Thu hoi</BusinessDocReason>
          <BusinessDocType>1</BusinessDocType>
        </Business>
        <TraceHeader><Timestamp>2026-11-30T01:02:03+00:00</Timestamp><OrganId>000.00.00.H49</OrganId></TraceHeader>
      </TraceHeaderList>
      <ds:Signature><ds:SignedInfo/></ds:Signature>
      <MessageHeader>
        <Subject>Thu hoi van ban</Subject>
        <Vendor:Extra xmlns:Vendor="urn:vendor">kept</Vendor:Extra>
        <To><OrganName>Bo Tu phap</OrganName><OrganId>000.00.00.G15</OrganId></To>
        <DueDate>05/12/2026</DueDate>
        <From xmlns=""><OrganId>000.00.00.H49</OrganId></From>
        <DocumentId>000.00.00.H49,2026/11/30,9/UBND-VP</DocumentId>
      </MessageHeader>
    </edXMLHeader>
  </edXMLEnvelope>
</edXML>"""


def test_a_messy_document_is_rewritten_and_each_change_reported() -> None:
    root = parse_xml(MESSY)
    quirks = standard_form(root)
    assert [q.code for q in quirks] == [
        "business-spelling",
        "date-format",
        "date-format",
        *["element-order"] * 6,
        "edxml-namespace",
    ]
    assert quirks[1].message == "Timestamp '2026-11-30T01:02:03+00:00' written as '2026/11/30 08:02:03'"
    assert quirks[2].message == "DueDate '05/12/2026' written as '2026/12/05'"
    assert quirks[0].line == 6
    data = serialize(root)
    assert data == (
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">\n'
        b"  <edXML:edXMLEnvelope>\n"
        b"    <edXML:edXMLHeader>\n"
        b"      <edXML:MessageHeader>\n"
        b"        <edXML:From><edXML:OrganId>000.00.00.H49</edXML:OrganId></edXML:From>\n"
        b"        <edXML:To><edXML:OrganId>000.00.00.G15</edXML:OrganId>"
        b"<edXML:OrganName>Bo Tu phap</edXML:OrganName></edXML:To>\n"
        b"        <edXML:DocumentId>000.00.00.H49,2026/11/30,9/UBND-VP</edXML:DocumentId>\n"
        b"        <edXML:Subject>Thu hoi van ban</edXML:Subject>\n"
        b"        <edXML:DueDate>2026/12/05</edXML:DueDate>\n"
        b'        <Vendor:Extra xmlns:Vendor="urn:vendor">kept</Vendor:Extra>\n'
        b"      </edXML:MessageHeader>\n"
        b"      <edXML:TraceHeaderList>\n"
        b"        <edXML:TraceHeader><edXML:OrganId>000.00.00.H49</edXML:OrganId>"
        b"<edXML:Timestamp>2026/11/30 08:02:03</edXML:Timestamp></edXML:TraceHeader>\n"
        b"        <edXML:Bussiness>\n"
        b"          <edXML:BussinessDocType>1</edXML:BussinessDocType>\n"
        b"          <edXML:BussinessDocReason>Thu hoi</edXML:BussinessDocReason>\n"
        b"        </edXML:Bussiness>\n"
        b"      </edXML:TraceHeaderList>\n"
        b"    </edXML:edXMLHeader>\n"
        b"  </edXML:edXMLEnvelope>\n"
        b"</edXML:edXML>"
    )


def test_what_the_builders_make_is_already_standard() -> None:
    sender, to = Organ("000.00.00.H49"), Organ("000.00.00.G15")
    document = build_document(
        sender=sender,
        recipients=[to],
        code_number="1",
        code_notation="UBND-VP",
        subject="x",
        attachments=[("a.pdf", "application/pdf", b"%PDF-1.4")],
    )
    status = build_status(
        about=ResponseFor("000.00.00.G15", "1/BTP", None, "000.00.00.G15,2026/11/30,1/BTP"),
        sender=sender,
        code="01",
    )
    for root in (document, status):
        before = serialize(root)
        assert standard_form(root) == []
        assert serialize(root) == before
        assert_standard(before)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<edXMLEnvelope xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'/>", "not an edXML document"),
        (
            b"<edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'><edXMLEnvelope/></edXML>",
            "no edXMLHeader",
        ),
    ],
)
def test_what_is_not_edxml_is_refused(xml: bytes, message: str) -> None:
    with pytest.raises(EdxmlError, match=message):
        standard_form(parse_xml(xml))


# ------------------------------------------------------------------ check_outgoing

HUB = "000.00.00.H49"
DOCUMENT = EdxmlMessage(
    message_type="edoc",
    sender=Organ(HUB),
    recipients=(Organ("000.00.00.G15"), Organ("000.00.00.G12")),
    document_id=f"{HUB},2026/11/30,12/UBND-VP",
    code_number="12",
    code_notation="UBND-VP",
    promulgation_date=date(2026, 11, 30),
    attachments=(Attachment("cid:1", size=3, sha256="x"),),
)
STATUS = EdxmlMessage(
    message_type="status",
    sender=Organ(HUB),
    response_for=(ResponseFor("000.00.00.G15", "1/BTP", "2026/11/29", "000.00.00.G15,2026/11/29,1/BTP"),),
    status=Status("03"),
)


def test_a_valid_document_and_status_pass() -> None:
    check_outgoing(DOCUMENT, hub_agency=HUB)
    check_outgoing(STATUS, hub_agency=HUB)


@pytest.mark.parametrize(
    ("msg", "field", "message"),
    [
        (
            replace(DOCUMENT, sender=Organ("H49.01")),
            "From/OrganId",
            "document: From/OrganId 'H49.01' is not an agency code",
        ),
        (
            replace(DOCUMENT, sender=Organ("000.00.00.H22")),
            "From/OrganId",
            "but the hub sends as 000.00.00.H49",
        ),
        (
            replace(DOCUMENT, recipients=(Organ("000.00.00.G15"), Organ("28.22.H17"))),
            "To[2]/OrganId",
            "document: To[2]/OrganId '28.22.H17' is not an agency code",
        ),
        (replace(DOCUMENT, recipients=()), "To", "document: no To"),
        (
            replace(DOCUMENT, document_id="12/UBND-VP"),
            "DocumentId",
            "DocumentId '12/UBND-VP' is not <From OrganId>",
        ),
        (
            replace(DOCUMENT, document_id="000.00.00.G15,2026/11/30,12/UBND-VP"),
            "DocumentId",
            "(From is 000.00.00.H49)",
        ),
        (
            replace(DOCUMENT, document_id=f"{HUB},30/11/2026,12/UBND-VP"),
            "DocumentId",
            "is not <From OrganId>,<yyyy/MM/dd>",
        ),
        (
            replace(DOCUMENT, document_id=f"{HUB},2026/11/30,13/UBND-VP"),
            "DocumentId",
            "does not end with the document's code 12/UBND-VP",
        ),
        (
            replace(DOCUMENT, attachments=(Attachment("cid:9", referenced=False),)),
            "edXMLManifest/Reference",
            "attachment cid:9 is named by no edXMLManifest/Reference",
        ),
        (
            replace(STATUS, status=Status("3")),
            "Status/StatusCode",
            "status package: StatusCode '3' is not one of 01, 02",
        ),
        (replace(STATUS, status=None), "Status/StatusCode", "StatusCode None"),
        (
            replace(STATUS, response_for=(ResponseFor("000.00.00.G15", None, None, None),)),
            "Status/ResponseFor/DocumentId",
            "ResponseFor/DocumentId is missing",
        ),
        (
            replace(STATUS, response_for=(ResponseFor("vxp.saas.03", None, None, "x"),)),
            "ResponseFor[1]/OrganId",
            "status package: ResponseFor[1]/OrganId 'vxp.saas.03' is not an agency code",
        ),
    ],
)
def test_what_the_hub_must_not_emit_is_refused_naming_the_field(
    msg: EdxmlMessage, field: str, message: str
) -> None:
    with pytest.raises(EdxmlError) as caught:
        check_outgoing(msg, hub_agency=HUB)
    assert caught.value.detail["field"] == field
    assert message in caught.value.message
    assert caught.value.code == "edxml-invalid"
