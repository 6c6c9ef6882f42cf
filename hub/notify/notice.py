"""The notice document, ``tb:ThongBaoCongDan`` (schemas/hub/notice.xsd): what the citizen is told,
already rendered, and where to. The hub's own format; the email plugin reads it, the SMS adapter's
mapping turns it into the gateway's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lxml import etree

from lienthong.errors import PermanentDeliveryError
from lienthong.xml import parse_xml, serialize

NOTICE_NS: Final = "urn:lienthong:notice:1"
_FIELDS: Final = ("MaHoSo", "TrangThaiHoSo", "Kenh", "NguoiNhan", "HoTen", "TieuDe", "NoiDung")

#: The national dossier statuses (schemas/province/hoso.xsd TrangThaiHoSoType), as templates name them.
STATUS_NAMES: Final = {
    "1": "Mới đăng ký",
    "2": "Đã tiếp nhận",
    "3": "Không được tiếp nhận",
    "4": "Đang xử lý",
    "5": "Yêu cầu bổ sung giấy tờ",
    "6": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "7": "Công dân yêu cầu rút hồ sơ",
    "8": "Dừng xử lý",
    "9": "Đã xử lý xong",
    "10": "Đã trả kết quả",
}


@dataclass(frozen=True)
class Notice:
    dossier_code: str
    status: str
    channel: str  # email | sms
    recipient: str
    name: str | None
    subject: str | None
    text: str

    def to_xml(self) -> bytes:
        root = etree.Element(f"{{{NOTICE_NS}}}ThongBaoCongDan", nsmap={"tb": NOTICE_NS})
        values = (
            self.dossier_code,
            self.status,
            self.channel,
            self.recipient,
            self.name,
            self.subject,
            self.text,
        )
        for name, value in zip(_FIELDS, values, strict=True):
            if value is not None:
                etree.SubElement(root, f"{{{NOTICE_NS}}}{name}").text = value
        return serialize(root)

    @classmethod
    def from_xml(cls, payload: bytes) -> Notice:
        """Read a stored notice; a payload that is not one is the sender's fault (never retried)."""
        try:
            root = parse_xml(payload, what="notice")
        except Exception as exc:
            raise PermanentDeliveryError(f"not a notice: {exc}") from exc
        if root.tag != f"{{{NOTICE_NS}}}ThongBaoCongDan":
            raise PermanentDeliveryError(f"not a notice: root element {root.tag}")
        values = {name: root.findtext(f"{{{NOTICE_NS}}}{name}") for name in _FIELDS}
        missing = [n for n in ("MaHoSo", "TrangThaiHoSo", "Kenh", "NguoiNhan", "NoiDung") if not values[n]]
        if missing:
            raise PermanentDeliveryError(f"the notice lacks {', '.join(missing)}")
        return cls(
            dossier_code=values["MaHoSo"] or "",
            status=values["TrangThaiHoSo"] or "",
            channel=values["Kenh"] or "",
            recipient=values["NguoiNhan"] or "",
            name=values["HoTen"],
            subject=values["TieuDe"],
            text=values["NoiDung"] or "",
        )
