"""The vocabulary of edXML (QCVN 102:2016/BTTTT, amended by TT 01/2022/TT-BTTTT), in one place.

Readers look elements up by local name (real senders emit them in any order and sometimes in the
wrong namespace); writers emit them in the order below, which is the standard's. Codes that travel as
text (status codes, business document types) stay text: a sender's ``3`` and ``03`` are told apart
by the reader, which reports the first as a quirk.
"""

from __future__ import annotations

import re
from typing import Final

from lienthong.xml import EDXML_NS, XMLDSIG_NS

__all__ = [
    "AGENCY_CODE",
    "BUSINESS_DOC_TYPES",
    "BUSINESS_ORDER",
    "DATE_FORMAT",
    "EDXML_NS",
    "ENVELOPE_ORDER",
    "HEADER_ORDER",
    "MESSAGE_HEADER_ORDER",
    "ORGAN_ORDER",
    "PREFIX",
    "STATUS_CODES",
    "STATUS_ORDER",
    "TIMESTAMP_FORMAT",
    "TRACE_HEADER_LIST_ORDER",
    "XMLDSIG_NS",
    "e",
    "is_agency_code",
]

#: The prefix the standard's examples and every real sender use; the hub emits it.
PREFIX: Final = "edXML"

#: ``ddd.dd.dd.Xnn`` (QĐ 20/2020/QĐ-TTg). Checked strictly on what the hub emits only: live traffic
#: carries codes such as ``28.22.H17``, which the hub keeps as opaque strings.
AGENCY_CODE: Final = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")

DATE_FORMAT: Final = "%Y/%m/%d"  # yyyy/MM/dd
TIMESTAMP_FORMAT: Final = "%Y/%m/%d %H:%M:%S"  # yyyy/MM/dd HH:mm:ss

#: StatusCode of a status package (TT 10/2016, appendix; kept by TT 01/2022).
STATUS_CODES: Final[dict[str, tuple[str, str]]] = {
    "01": ("Đã đến", "arrived"),
    "02": ("Từ chối tiếp nhận", "rejected"),
    "03": ("Đã tiếp nhận", "accepted"),
    "04": ("Phân công", "assigned"),
    "05": ("Đang xử lý", "processing"),
    "06": ("Hoàn thành", "done"),
    "13": ("Lấy lại", "recalled"),
    "15": ("Đồng ý thu hồi/cập nhật/thay thế", "agrees to revoke, update or replace"),
    "16": ("Từ chối thu hồi/cập nhật/thay thế", "refuses to revoke, update or replace"),
}

#: BussinessDocType: what a document does to an earlier one.
BUSINESS_DOC_TYPES: Final[dict[str, tuple[str, str]]] = {
    "0": ("Văn bản mới", "new"),
    "1": ("Thu hồi", "revoke"),
    "2": ("Cập nhật", "update"),
    "3": ("Thay thế", "replace"),
}

# The standard's element order, by local name, for the writer. A name absent from a list is kept,
# after the listed ones, in the order it came.
ENVELOPE_ORDER: Final = ("edXMLHeader", "edXMLBody")
HEADER_ORDER: Final = ("MessageHeader", "Status", "TraceHeaderList", "Signature")
ORGAN_ORDER: Final = (
    "OrganId",
    "OrganizationInCharge",
    "OrganName",
    "OrganAdd",
    "Email",
    "Telephone",
    "Fax",
    "Website",
)
MESSAGE_HEADER_ORDER: Final = (
    "From",
    "To",
    "DocumentId",
    "Code",
    "PromulgationInfo",
    "DocumentType",
    "Subject",
    "Content",
    "SignerInfo",
    "DueDate",
    "OtherInfo",
    "SteeringType",
    "ToPlaces",
    "ResponseFor",
)
TRACE_HEADER_LIST_ORDER: Final = ("TraceHeader", "Bussiness")
BUSINESS_ORDER: Final = (
    "DocumentId",
    "BussinessDocType",
    "BussinessDocReason",
    "Paper",
    "StaffInfo",
    "BussinessDocumentInfo",
    "ReplacementInfoList",
)
STATUS_ORDER: Final = ("ResponseFor", "From", "StatusCode", "Description", "Timestamp", "StaffInfo")


def e(local: str) -> str:
    """The Clark name of an edXML element."""
    return f"{{{EDXML_NS}}}{local}"


def is_agency_code(code: str) -> bool:
    """Whether ``code`` is a conforming agency code (``000.00.00.G22``)."""
    return AGENCY_CODE.fullmatch(code) is not None
