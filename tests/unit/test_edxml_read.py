"""The tolerant edXML reader, on the vendor SDK's real documents and status packages
(../shared/testdata/edxml, read by path) and on variants of them: every quirk accepted and reported
with its line, and only what nobody can act on refused, naming where."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lienthong.edxml.model import EdxmlMessage
from lienthong.edxml.names import EDXML_NS, XMLDSIG_NS
from lienthong.edxml.read import read_edxml
from lienthong.errors import EdxmlError, InvalidMessageError
from lienthong.xml import XmlLimits, parse_xml

VPCP_DOC = "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
THE_DOCUMENT = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
SIGNATURE_QUIRKS = {"signature-unprefixed", "legacy-signature-algorithm", "certificate-unreadable"}

#: Every well-formed sample and exactly the quirks it shows.
QUIRKS: dict[str, set[str]] = {
    VPCP_DOC: {"element-order", *SIGNATURE_QUIRKS},
    "edoc_new.edxml": {"nonconforming-agency-code", "document-id-mismatch", *SIGNATURE_QUIRKS},
    "edoc_revocation.edxml": {"element-order", *SIGNATURE_QUIRKS},
    "edoc_update.edxml": {"element-order", *SIGNATURE_QUIRKS},
    "edoc_replacement.edxml": {"element-order", *SIGNATURE_QUIRKS},
    "status.edxml": {"status-under-message-header"},
    **{
        name: {"element-order", "status-under-message-header"}
        for name in (
            "status_inbox_01.edxml",
            "status_rejection_02.edxml",
            "status_acceptance_03.edxml",
            "status_assignment_04.edxml",
            "status_processing_05.edxml",
            "status_finish_06.edxml",
            "status_cancellation_13.edxml",
            "status_change-acceptance_15.edxml",
            "status_change-rejection_16.edxml",
        )
    },
}


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "edxml"


def read(samples: Path, name: str) -> EdxmlMessage:
    return read_edxml((samples / name).read_bytes(), source=name)


def variant(samples: Path, name: str, *edits: tuple[str, str]) -> bytes:
    """A sample with text replaced (each ``old`` must occur)."""
    text = (samples / name).read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def codes(message: EdxmlMessage) -> set[str]:
    return {q.code for q in message.quirks}


def quirk_line(message: EdxmlMessage, code: str) -> int | None:
    return next(q.line for q in message.quirks if q.code == code)


# ---------------------------------------------------------------- the real samples


def test_the_sample_folder_holds_the_sixteen_files(samples: Path) -> None:
    assert {p.name for p in samples.glob("*.edxml")} == {*QUIRKS, "edoc.edxml"}


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_every_well_formed_sample_reads_with_exactly_its_quirks(samples: Path, name: str) -> None:
    message = read(samples, name)

    assert codes(message) == QUIRKS[name]
    assert all(isinstance(q.line, int) and q.line > 0 for q in message.quirks)
    assert all(q.message for q in message.quirks)


def test_the_government_office_document_as_a_person_reads_it(samples: Path) -> None:
    message = read(samples, VPCP_DOC)

    assert message.message_type == "edoc"
    assert message.document_id == THE_DOCUMENT
    assert message.subject_document_id == THE_DOCUMENT
    assert message.sender.organ_id == "000.00.00.G22"
    assert message.sender.name == "Văn phòng Chính phủ"
    assert message.sender.email == "vpcp@gov.vn"
    assert [r.organ_id for r in message.recipients] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert message.recipients[1].name == "UBND Tỉnh Cao Bằng"
    assert (message.code_number, message.code_notation) == ("7816", "VPCP-TTĐT")
    assert (message.promulgation_place, message.promulgation_date) == ("Hà Nội", date(2019, 4, 11))
    assert (message.type_code, message.type_detail, message.type_name) == ("1", "0", "Công văn")
    assert message.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert message.signer == "TL. BO TRUONG Cuc truong cuc ung dung cong nghe thong tin Nguyen Thanh Phuc"
    assert message.due_date == date(2019, 4, 11)
    assert (message.priority, message.steering_type) == ("0", "1")
    assert message.business is not None
    assert message.business_doc_type == "0"
    assert message.business.reason == "Văn bản điện tử mới"
    assert message.business.staff is not None and message.business.staff.staff == "Nguyễn Thị Ngọc Trâm"
    assert [(t.organ_id, t.timestamp) for t in message.traces] == [
        ("000.00.00.G22", datetime(2019, 4, 10, 17, 0, tzinfo=UTC))  # midnight in Hà Nội
    ]
    assert message.status is None


def test_the_attachment_is_decoded_and_linked_to_the_manifest(samples: Path) -> None:
    raw = (samples / VPCP_DOC).read_text(encoding="utf-8")
    encoded = re.search(r"<edXML:ContentTransferEncoded[^>]*>([^<]*)<", raw)
    assert encoded is not None
    content = base64.b64decode(encoded.group(1))

    (attachment,) = read(samples, VPCP_DOC).attachments

    assert attachment.content_id == "cid:209"
    assert attachment.name == "1896_QD-TTg_m_294779.doc"
    assert attachment.content_type == "application/zip"
    assert attachment.size == len(content) == 4151
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.referenced


def test_the_unprefixed_sha1_signature_with_a_truncated_certificate_is_described_not_refused(
    samples: Path,
) -> None:
    message = read(samples, VPCP_DOC)

    assert message.signature is not None
    assert message.signature.algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert message.signature.namespace == EDXML_NS
    assert message.signature.certificate_subject is None
    assert quirk_line(message, "signature-unprefixed") == 103
    assert quirk_line(message, "legacy-signature-algorithm") == 106
    assert quirk_line(message, "certificate-unreadable") == 120
    assert quirk_line(message, "element-order") == 98  # TraceHeader after Bussiness


def test_a_nonconforming_agency_code_is_kept_as_written(samples: Path) -> None:
    message = read(samples, "edoc_new.edxml")

    assert message.sender.organ_id == "000.00.00.A80"
    assert [r.organ_id for r in message.recipients] == ["28.22.H17"]
    assert quirk_line(message, "nonconforming-agency-code") == 18
    assert "28.22.H17" in next(q.message for q in message.quirks if q.code == "nonconforming-agency-code")
    assert message.attachments[0].size == 270823


@pytest.mark.parametrize(
    ("name", "doc_type", "related"),
    [
        ("edoc_revocation.edxml", "1", "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"),
        ("edoc_update.edxml", "2", "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"),
        ("edoc_replacement.edxml", "3", "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT"),
    ],
)
def test_revocation_update_and_replacement_name_the_earlier_document(
    samples: Path, name: str, doc_type: str, related: str
) -> None:
    message = read(samples, name)

    assert message.message_type == "edoc"
    assert message.document_id == THE_DOCUMENT
    assert message.business_doc_type == doc_type
    assert message.subject_document_id == related


def test_the_revocation_answers_through_response_for(samples: Path) -> None:
    (rf,) = read(samples, "edoc_revocation.edxml").response_for
    assert (rf.organ_id, rf.code, rf.promulgation_date) == ("000.00.00.H14", "267/VPCP-TTĐT", "2018/09/28")
    assert rf.document_id == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"


def test_the_replacement_lists_what_it_replaces_and_for_whom(samples: Path) -> None:
    business = read(samples, "edoc_replacement.edxml").business
    assert business is not None
    assert [(r.document_id, r.organ_ids) for r in business.replacements] == [
        ("000.00.00.G22,2014/01/30,7806/VPCP-TTĐT", ("000.00.00.H41", "000.00.00.H14"))
    ] * 2


@pytest.mark.parametrize(
    ("name", "code", "sender"),
    [
        ("status_inbox_01.edxml", "01", "000.00.00.H41"),
        ("status_rejection_02.edxml", "02", "000.00.00.H41"),
        ("status_acceptance_03.edxml", "03", "000.00.00.H41"),
        ("status_assignment_04.edxml", "04", "000.00.00.H41"),
        ("status_processing_05.edxml", "05", "000.00.00.H41"),
        ("status_finish_06.edxml", "06", "000.00.00.H41"),
        ("status_cancellation_13.edxml", "13", "000.00.00.G22"),
        ("status_change-acceptance_15.edxml", "15", "000.00.00.H41"),
        ("status_change-rejection_16.edxml", "16", "000.00.00.H41"),
    ],
)
def test_each_status_package_is_matched_to_its_document(
    samples: Path, name: str, code: str, sender: str
) -> None:
    message = read(samples, name)

    assert message.message_type == "status"
    assert message.status is not None
    assert message.status.code == code
    assert message.status.description
    assert message.status.timestamp == datetime(2015, 9, 20, 4, 8, 36, tzinfo=UTC)  # 11:08:36 in Hà Nội
    assert message.status.staff is not None and message.status.staff.department == "Phong hanh chinh"
    assert message.sender.organ_id == sender
    assert message.document_id is None
    assert [rf.document_id for rf in message.response_for] == [THE_DOCUMENT]
    assert message.subject_document_id == THE_DOCUMENT
    assert quirk_line(message, "status-under-message-header") == 28


def test_status_timestamps_are_vietnam_time(samples: Path) -> None:
    status = read(samples, "status.edxml").status
    assert status is not None and status.timestamp is not None
    assert status.timestamp.utcoffset() is not None
    assert status.timestamp.isoformat() == "2018-09-28T17:25:11+07:00"


def test_the_malformed_sample_is_refused_naming_line_and_column(samples: Path) -> None:
    with pytest.raises(EdxmlError) as caught:
        read(samples, "edoc.edxml")

    assert caught.value.detail["line"] == 74
    assert caught.value.detail["column"] == 29
    assert caught.value.message.startswith("edoc.edxml is not well-formed XML at line 74, column 29: ")
    assert "Opening and ending tag mismatch" in caught.value.message
    assert isinstance(caught.value, InvalidMessageError)
    assert caught.value.code == "edxml-invalid"


def test_a_tree_already_parsed_reads_the_same(samples: Path) -> None:
    data = (samples / VPCP_DOC).read_bytes()
    assert read_edxml(parse_xml(data), source=VPCP_DOC) == read_edxml(data, source=VPCP_DOC)


# ---------------------------------------------------------------- other senders' habits


def test_business_spelled_with_one_s_is_read_and_reported(samples: Path) -> None:
    data = variant(samples, "edoc_revocation.edxml", ("Bussiness", "Business"))

    message = read_edxml(data)

    assert message.business_doc_type == "1"
    assert message.business is not None and message.business.reason == "Thu hồi văn bản điện tử"
    assert {q.line for q in message.quirks if q.code == "business-spelling"} == {96, 97, 98}


def test_day_first_dates_are_read_and_reported(samples: Path) -> None:
    data = variant(
        samples,
        VPCP_DOC,
        ("<edXML:PromulgationDate>2019/04/11", "<edXML:PromulgationDate>11/04/2019"),
        ("2019/04/11 00:00:00", "11/04/2019 08:30:00"),
    )

    message = read_edxml(data)

    assert message.promulgation_date == date(2019, 4, 11)
    assert message.traces[0].timestamp == datetime(2019, 4, 11, 1, 30, tzinfo=UTC)
    assert sorted(q.line or 0 for q in message.quirks if q.code == "date-format") == [53, 100]


def test_an_unreadable_date_is_a_quirk_not_a_refusal(samples: Path) -> None:
    data = variant(samples, VPCP_DOC, ("<edXML:DueDate>2019/04/11", "<edXML:DueDate>next week"))
    message = read_edxml(data)
    assert message.due_date is None
    assert "unreadable-date" in codes(message)


def test_the_standard_status_form_reads_without_quirks() -> None:
    data = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="{EDXML_NS}">
  <edXML:edXMLEnvelope>
    <edXML:edXMLHeader>
      <edXML:Status>
        <edXML:ResponseFor>
          <edXML:OrganId>000.00.00.H49</edXML:OrganId>
          <edXML:Code>12/UBND-VX</edXML:Code>
          <edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate>
          <edXML:DocumentId>000.00.00.H49,2026/11/20,12/UBND-VX</edXML:DocumentId>
        </edXML:ResponseFor>
        <edXML:From>
          <edXML:OrganId>000.00.00.G15</edXML:OrganId>
          <edXML:OrganName>Bộ Tư pháp</edXML:OrganName>
        </edXML:From>
        <edXML:StatusCode>03</edXML:StatusCode>
        <edXML:Description>Đã tiếp nhận</edXML:Description>
        <edXML:Timestamp>2026/11/21 09:00:00</edXML:Timestamp>
      </edXML:Status>
    </edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML:edXML>"""

    message = read_edxml(data.encode())

    assert message.quirks == ()
    assert message.message_type == "status"
    assert message.sender.organ_id == "000.00.00.G15"
    assert message.status is not None and message.status.code == "03"
    assert message.status.timestamp == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert message.subject_document_id == "000.00.00.H49,2026/11/20,12/UBND-VX"


def test_a_prefixed_signature_is_not_a_quirk(samples: Path) -> None:
    data = variant(samples, VPCP_DOC, ("<Signature>", f'<Signature xmlns="{XMLDSIG_NS}">'))
    message = read_edxml(data)
    assert message.signature is not None and message.signature.namespace == XMLDSIG_NS
    assert "signature-unprefixed" not in codes(message)


def test_attachments_and_manifest_references_that_do_not_match_are_reported(samples: Path) -> None:
    data = variant(
        samples,
        VPCP_DOC,
        ("<edXML:ContentId>cid:209</edXML:ContentId>", "<edXML:ContentId>cid:7</edXML:ContentId>"),
    )

    message = read_edxml(data)

    assert not message.attachments[0].referenced
    assert quirk_line(message, "attachment-unreferenced") == 137
    assert quirk_line(message, "reference-without-attachment") == 127


def test_content_ids_match_with_or_without_the_cid_prefix(samples: Path) -> None:
    data = variant(samples, VPCP_DOC, ("<ContentId>cid:209</ContentId>", "<ContentId>209</ContentId>"))
    message = read_edxml(data)
    assert message.attachments[0].referenced
    assert message.attachments[0].content_id == "209"


def test_content_that_contradicts_its_declared_type_is_reported(samples: Path) -> None:
    data = variant(samples, VPCP_DOC, ("application/zip", "application/pdf"))
    message = read_edxml(data)
    mismatch = [q for q in message.quirks if q.code == "attachment-type-mismatch"]
    assert len(mismatch) == 1 and "declared application/pdf" in mismatch[0].message
    assert mismatch[0].line == 137


def test_an_attachment_that_is_not_base64_is_refused(samples: Path) -> None:
    data = variant(samples, VPCP_DOC, ('QCVN_102_2016">UEsDB', 'QCVN_102_2016">%%%UEsDB'))
    with pytest.raises(
        EdxmlError, match=r"^document: AttachmentEncoded/Attachment\[1\] \(cid:209\): .* not valid base64"
    ) as caught:
        read_edxml(data)
    assert caught.value.detail["element"] == "AttachmentEncoded/Attachment"


def test_an_unknown_status_code_is_kept_and_reported(samples: Path) -> None:
    data = variant(samples, "status.edxml", ("<edXML:StatusCode>01<", "<edXML:StatusCode>7<"))
    message = read_edxml(data)
    assert message.status is not None and message.status.code == "07"
    assert {"status-code-format", "unknown-status-code"} <= codes(message)


# ---------------------------------------------------------------- refused, naming the element


def test_a_document_without_from_is_refused(samples: Path) -> None:
    text = (samples / VPCP_DOC).read_text(encoding="utf-8")
    data = re.sub(r"<edXML:From>.*?</edXML:From>", "", text, count=1, flags=re.DOTALL).encode()
    with pytest.raises(EdxmlError, match=r"MessageHeader/From is missing") as caught:
        read_edxml(data, source="x.edxml")
    assert caught.value.detail["element"] == "MessageHeader/From"
    assert caught.value.detail["line"] == 5


def test_an_empty_sender_organ_id_is_refused(samples: Path) -> None:
    data = variant(
        samples, "status.edxml", ("<edXML:OrganId>000.00.00.H41</edXML:OrganId>", "<edXML:OrganId/>")
    )
    with pytest.raises(
        EdxmlError, match=r"^status\.edxml: MessageHeader/From/OrganId is missing or empty \(line 6\)$"
    ):
        read_edxml(data, source="status.edxml")


def test_a_status_package_without_status_code_is_refused(samples: Path) -> None:
    data = variant(samples, "status.edxml", ("<edXML:StatusCode>01</edXML:StatusCode>", ""))
    with pytest.raises(EdxmlError, match="without StatusCode") as caught:
        read_edxml(data)
    assert caught.value.detail["element"] == "MessageHeader/StatusCode"


def test_a_document_without_document_id_is_refused(samples: Path) -> None:
    data = variant(samples, VPCP_DOC, (f"<edXML:DocumentId>{THE_DOCUMENT}</edXML:DocumentId>", ""))
    with pytest.raises(EdxmlError, match="without DocumentId") as caught:
        read_edxml(data)
    assert caught.value.detail["element"] == "MessageHeader/DocumentId"


# ---------------------------------------------------------------- hostile or foreign input


def test_a_dtd_with_entities_is_refused() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x "boom">]><edXML>&x;</edXML>'
    with pytest.raises(EdxmlError, match="DOCTYPE") as caught:
        read_edxml(data)
    assert caught.value.detail["refused"] == "xml-refused"


def test_deep_nesting_is_refused() -> None:
    data = f'<edXML xmlns="{EDXML_NS}">{"<a>" * 300}{"</a>" * 300}</edXML>'.encode()
    with pytest.raises(EdxmlError, match=r"(?i)depth"):
        read_edxml(data)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(EdxmlError, match="not well-formed"):
        read_edxml(b"", source="empty.edxml")


def test_another_root_is_refused() -> None:
    with pytest.raises(EdxmlError, match=r"the root element is 'HoSo', not edXML \(line 1\)"):
        read_edxml(b"<HoSo><MaHoSo>1</MaHoSo></HoSo>")


def test_a_document_over_the_size_limit_is_refused(samples: Path) -> None:
    with pytest.raises(EdxmlError, match="exceeds the limit of 4096"):
        read_edxml((samples / VPCP_DOC).read_bytes(), limits=XmlLimits(max_bytes=4096))
