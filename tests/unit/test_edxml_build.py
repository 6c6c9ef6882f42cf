"""The builders write edXML as the standard lays it out: what a ministry's system receives from the
simulators and the demo, byte for byte where it matters (prefix, order, spelling, dates)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime

from lxml import etree

from lienthong.edxml.build import build_document, build_status, document_id, format_timestamp
from lienthong.edxml.model import Business, Organ, Replacement, ResponseFor, StaffInfo, Trace
from lienthong.edxml.names import EDXML_NS
from lienthong.xml import parse_xml, serialize

NS = {"edXML": EDXML_NS}
PROVINCE = Organ("000.00.00.H49", name="UBND tỉnh Quảng Ninh", email="vanthu@quangninh.gov.vn")
JUSTICE = Organ("000.00.00.G15", name="Bộ Tư pháp")
FINANCE = Organ("000.00.00.G12", name="Bộ Tài chính")


def children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


def one(el: etree._Element, path: str) -> etree._Element:
    found = el.find(path, NS)
    assert found is not None, path
    return found


def text(el: etree._Element, path: str) -> str:
    found = el.findtext(path, namespaces=NS)
    assert found is not None, path
    return found


def wire(root: etree._Element) -> bytes:
    return serialize(root)


def test_a_status_package_is_the_standard_status_shape() -> None:
    about = ResponseFor("000.00.00.H49", "12/UBND-VP", "2026/11/20", "000.00.00.H49,2026/11/20,12/UBND-VP")
    root = build_status(
        about=about,
        sender=JUSTICE,
        code="03",
        description="Đã tiếp nhận",
        timestamp=datetime(2026, 11, 30, 2, 5, 9, tzinfo=UTC),
        staff=StaffInfo(department="Văn thư", staff="Nguyễn Văn A"),
    )
    data = wire(root)
    assert data.count(b"xmlns") == 1
    assert data.startswith(
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLEnvelope>'
        b"<edXML:edXMLHeader><edXML:Status><edXML:ResponseFor><edXML:OrganId>000.00.00.H49</edXML:OrganId>"
    )
    back = parse_xml(data)
    status = back.find("edXML:edXMLEnvelope/edXML:edXMLHeader/edXML:Status", NS)
    assert status is not None
    assert children(status) == ["ResponseFor", "From", "StatusCode", "Description", "Timestamp", "StaffInfo"]
    assert children(one(status, "edXML:ResponseFor")) == [
        "OrganId",
        "Code",
        "PromulgationDate",
        "DocumentId",
    ]
    assert status.findtext("edXML:From/edXML:OrganId", namespaces=NS) == "000.00.00.G15"
    assert status.findtext("edXML:StatusCode", namespaces=NS) == "03"
    # 02:05:09 UTC is 09:05:09 in Vietnam, as the standard's timestamps are written
    assert status.findtext("edXML:Timestamp", namespaces=NS) == "2026/11/30 09:05:09"


def test_a_document_has_the_standard_id_order_spelling_and_dates() -> None:
    root = build_document(
        sender=PROVINCE,
        recipients=[JUSTICE, FINANCE],
        code_number="12",
        code_notation="UBND-VP",
        subject="V/v liên thông văn bản",
        promulgation_date=date(2026, 11, 20),
        place="Quảng Ninh",
        due_date=date(2026, 12, 1),
        signer=("KT. CHỦ TỊCH", "Phó Chủ tịch", "Trần Văn B"),
        traces=[Trace("000.00.00.H49", datetime(2026, 11, 20, 8, 0, 0))],
    )
    data = wire(root)
    assert data.count(b"xmlns") == 1
    back = parse_xml(data)
    header = back.find("edXML:edXMLEnvelope/edXML:edXMLHeader", NS)
    assert header is not None
    assert children(header) == ["MessageHeader", "TraceHeaderList"]
    message = one(header, "edXML:MessageHeader")
    assert children(message) == [
        "From", "To", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType", "Subject",
        "SignerInfo", "DueDate", "OtherInfo",
    ]  # fmt: skip
    assert message.findtext("edXML:DocumentId", namespaces=NS) == "000.00.00.H49,2026/11/20,12/UBND-VP"
    assert message.findtext("edXML:PromulgationInfo/edXML:PromulgationDate", namespaces=NS) == "2026/11/20"
    assert message.findtext("edXML:DueDate", namespaces=NS) == "2026/12/01"
    assert [t.text for t in message.findall("edXML:To/edXML:OrganId", NS)] == [
        "000.00.00.G15",
        "000.00.00.G12",
    ]
    traces = one(header, "edXML:TraceHeaderList")
    assert children(traces) == ["TraceHeader", "Bussiness"]
    assert traces.findtext("edXML:TraceHeader/edXML:Timestamp", namespaces=NS) == "2026/11/20 08:00:00"
    assert traces.findtext("edXML:Bussiness/edXML:BussinessDocType", namespaces=NS) == "0"
    assert b"Business" not in data
    assert back.find("edXML:AttachmentEncoded", NS) is None


def test_attachments_are_base64_and_named_by_the_manifest() -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    docx = b"PK\x03\x04" + b"\x00" * 1000
    root = build_document(
        sender=PROVINCE,
        recipients=[JUSTICE],
        code_number="13",
        code_notation="UBND-VP",
        subject="Kèm tệp",
        promulgation_date=date(2026, 11, 21),
        attachments=[("cong-van.pdf", "application/pdf", pdf), ("phu-luc.docx", "application/zip", docx)],
    )
    back = parse_xml(wire(root))
    assert children(back) == ["edXMLEnvelope", "AttachmentEncoded"]
    refs = back.findall("edXML:edXMLEnvelope/edXML:edXMLBody/edXML:edXMLManifest/edXML:Reference", NS)
    assert [r.findtext("edXML:ContentId", namespaces=NS) for r in refs] == ["cid:1", "cid:2"]
    parts = back.findall("edXML:AttachmentEncoded/edXML:Attachment", NS)
    assert [children(p) for p in parts] == [
        ["ContentId", "AttachmentName", "Description", "ContentType", "ContentTransferEncoded"]
    ] * 2
    got = [
        (
            p.findtext("edXML:ContentId", namespaces=NS),
            p.findtext("edXML:AttachmentName", namespaces=NS),
            hashlib.sha256(base64.b64decode(text(p, "edXML:ContentTransferEncoded"))).hexdigest(),
        )
        for p in parts
    ]
    assert got == [
        ("cid:1", "cong-van.pdf", hashlib.sha256(pdf).hexdigest()),
        ("cid:2", "phu-luc.docx", hashlib.sha256(docx).hexdigest()),
    ]


def test_a_replacement_names_what_it_replaces_in_the_standard_spelling() -> None:
    old = "000.00.00.H49,2026/11/01,5/UBND-VP"
    root = build_document(
        sender=PROVINCE,
        recipients=[JUSTICE],
        code_number="14",
        code_notation="UBND-VP",
        subject="Thay thế",
        promulgation_date=date(2026, 11, 22),
        business=Business(
            doc_type="3",
            reason="Văn bản thay thế",
            staff=StaffInfo(department="Văn thư", staff="Nguyễn Văn A"),
            replacements=(Replacement(old, ("000.00.00.G15",)),),
        ),
    )
    business = parse_xml(wire(root)).find(
        "edXML:edXMLEnvelope/edXML:edXMLHeader/edXML:TraceHeaderList/edXML:Bussiness", NS
    )
    assert business is not None
    assert children(business) == [
        "BussinessDocType",
        "BussinessDocReason",
        "Paper",
        "StaffInfo",
        "ReplacementInfoList",
    ]
    info = one(business, "edXML:ReplacementInfoList/edXML:ReplacementInfo")
    assert info.findtext("edXML:DocumentId", namespaces=NS) == old
    assert [o.text for o in info.findall("edXML:OrganIdList/edXML:OrganId", NS)] == ["000.00.00.G15"]


def test_document_id_and_timestamps_format() -> None:
    assert document_id("000.00.00.G22", date(2015, 9, 30), "7816", "VPCP-TTĐT") == (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    )
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026/01/02 03:04:05"  # naive: Vietnam time
    assert format_timestamp(datetime(2026, 1, 1, 20, 0, 0, tzinfo=UTC)) == "2026/01/02 03:00:00"
