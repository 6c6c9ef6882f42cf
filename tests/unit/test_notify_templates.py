"""The notices' templates and document: every shipped template renders in Vietnamese from a real
status report and dossier, a template's mistakes are configuration errors with file and line (or a
refused notice, never a blank in a citizen's message), and the notice document reads back as written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from lxml import etree
from project_support import ROOT

from lienthong.config.files import load_configuration
from lienthong.errors import ConfigError, PermanentDeliveryError
from lienthong.notify.notice import Notice
from lienthong.notify.templates import Renderer, contact, context
from lienthong.xml import parse_xml

DOSSIER = ROOT / "adapters" / "land" / "cases" / "transfer-basic" / "input.xml"
REPORT: dict[str, object] = {
    "MaHoSo": "000.00.00.H49-261121-0001",
    "TrangThaiHoSo": "4",
    "ThoiDiemXuLy": "20261123140509",
    "DonViXuLy": "000.00.00.G13",
    "TenDonViXuLy": "Văn phòng đăng ký đất đai",
    "NoiDungXuLy": "Hồ sơ đang được thẩm định",
    "NgayHenTraMoi": "20261207163000",
    "DanhSachGiayToKetQua": [{"TenGiayTo": "Giấy chứng nhận quyền sử dụng đất", "SoHieu": "DE 123456"}],
}


def values(status: str) -> dict[str, object]:
    who = contact(etree.fromstring(DOSSIER.read_bytes()))
    return context(REPORT | {"TrangThaiHoSo": status}, who, "000.00.00.H49-261121-0001", "1.004227")


def test_the_dossier_gives_the_citizen_and_the_report_the_status() -> None:
    who = contact(etree.fromstring(DOSSIER.read_bytes()))
    assert (who.name, who.email, who.phone, who.due) == (
        "Nguyễn Thị Hương",
        "nguyenthihuong88@gmail.com",
        "0912345678",
        "20261205163000",
    )
    given = values("4")
    assert given["ten_trang_thai"] == "Đang xử lý"
    assert given["thoi_diem_xu_ly"] == "23/11/2026 14:05"
    assert given["ngay_hen_tra"] == "07/12/2026 16:30"  # the new appointment wins over NgayHenTra
    assert given["giay_to_ket_qua"] == ["Giấy chứng nhận quyền sử dụng đất"]


def test_every_shipped_template_renders() -> None:
    config = load_configuration(ROOT / "config", environ={})
    templates = config.hub.notify.templates
    assert set(templates) >= {"3", "4", "5", "6", "10"}
    renderer = Renderer()
    for status, template in templates.items():
        given = values(status)
        subject = renderer.render(template.subject, given)
        assert "000.00.00.H49-261121-0001" in subject, status
        if template.email is not None:
            text = renderer.render(template.email, given)
            assert text.startswith("Kính gửi Nguyễn Thị Hương,"), (status, text)
            assert "{{" not in text and "{%" not in text
        if template.sms is not None:
            sms = renderer.render(template.sms, given)
            assert sms.isascii() and len(sms) <= 160, (status, sms)  # one SMS without diacritics
    result = renderer.render(templates["10"].email or "", values("10"))
    assert "- Giấy chứng nhận quyền sử dụng đất" in result


def test_a_template_naming_what_the_hub_does_not_give_fails_instead_of_leaving_a_blank() -> None:
    with pytest.raises(UndefinedError):
        Renderer().render("Kính gửi {{ ho_ten_chu }}", values("4"))


def problems(tmp_path: Path, templates: str) -> list[str]:
    (tmp_path / "config" / "adapters").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "routes.yaml").write_text("routes: []\n", encoding="utf-8")
    hub = "hub:\n  name: Quảng Ninh\n  agency: 000.00.00.H49\nnotify:\n  templates:\n"
    (tmp_path / "config" / "hub.yaml").write_text(hub + textwrap.indent(templates, "    "), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_configuration(tmp_path / "config", environ={})
    return [str(issue) for issue in caught.value.issues]


def test_a_template_syntax_error_is_a_configuration_error_with_its_line(tmp_path: Path) -> None:
    [found] = problems(tmp_path, '"4":\n  subject: "Hồ sơ {{ ma_ho_so }"\n')
    assert found.startswith("config/hub.yaml:7:7 [notify.templates.4.subject]: invalid Jinja2 template"), (
        found
    )
    [found] = problems(tmp_path, '"11":\n  subject: "Hồ sơ"\n')
    assert "template keys must be status codes '1' to '10', not 11" in found, found


def test_the_notice_reads_back_as_written_and_refuses_what_is_not_one() -> None:
    notice = Notice(
        "000.00.00.H49-261121-0001", "10", "email", "a@b.vn", "Nguyễn Thị Hương", "Tiêu đề", "Nội dung"
    )
    assert Notice.from_xml(notice.to_xml()) == notice
    assert parse_xml(notice.to_xml()).tag == "{urn:lienthong:notice:1}ThongBaoCongDan"
    with pytest.raises(PermanentDeliveryError, match="root element"):
        Notice.from_xml(b"<HoSo/>")
    with pytest.raises(PermanentDeliveryError, match="lacks TrangThaiHoSo, Kenh, NguoiNhan, NoiDung"):
        Notice.from_xml(
            b'<ThongBaoCongDan xmlns="urn:lienthong:notice:1"><MaHoSo>x</MaHoSo></ThongBaoCongDan>'
        )
