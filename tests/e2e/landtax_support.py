"""The land ↔ tax workflow's pieces shared by its end-to-end tests: the dossier the one-stop desk enters
once, the hub project that carries the shipped workflow routes with the land and tax adapters, and the
check that what the tax authority received is what was entered.

Two tests use them: tests/e2e/test_land_tax_workflow.py plays the land office and the tax authority by
hand (the hub's routes and mappings under test); tests/e2e/test_land_tax_simulated.py lets the two
simulators act by themselves (the simulators' later steps under test too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from conftest import ROOT, Project
from land_support import LAND_NS
from lxml import etree
from project_support import TAX_ADAPTER
from ruamel.yaml import YAML
from soap_support import LAND_KEY, LAND_KEY_ENV
from support import MOTCUA_API_KEY, MOTCUA_KEY_ENV

HOSO_NS: Final = "urn:lienthong:province:hoso:1"
TAX_NS: Final = "urn:lienthong:tct:lienthongdatdai:1"
PROVINCE: Final = "000.00.00.H49"
LAND: Final = "000.00.00.G13"
TAX: Final = "000.00.18.G12"
TAX_KEY: Final = "test-tax-key-not-a-secret"
TAX_KEY_ENV: Final = "HUB_TAX_API_KEY"
AUDITOR_KEY: Final = "test-auditor-key-not-a-secret"
DOSSIER: Final = "000.00.00.H49-261203-0042"
PIT: Final = "Thuế thu nhập cá nhân từ chuyển nhượng bất động sản"
H: Final = {"h": HOSO_NS}
DD: Final = {"dd": LAND_NS}
TT: Final = {"tt": TAX_NS}
#: What the hub's caller registry reads: the keys of the one-stop system, land registry and tax authority.
WORKFLOW_ENVIRON: Final = {MOTCUA_KEY_ENV: MOTCUA_API_KEY, LAND_KEY_ENV: LAND_KEY, TAX_KEY_ENV: TAX_KEY}

ADDRESS: Final = "Số 7 ngõ 12 phố Lê Thánh Tông, phường Hồng Gai, thành phố Hạ Long, tỉnh Quảng Ninh"
#: What the one-stop desk entered, once. Composed (NFC) Vietnamese, as the hub keeps it.
DOSSIER_XML: Final = f"""<?xml version="1.0" encoding="UTF-8"?>
<HoSo xmlns="{HOSO_NS}">
  <MaHoSo>{DOSSIER}</MaHoSo>
  <MaTTHC>1.004227</MaTTHC>
  <TenTTHC>Đăng ký biến động quyền sử dụng đất do chuyển nhượng</TenTTHC>
  <MaLinhVuc>DATDAI</MaLinhVuc>
  <KenhThucHien>1</KenhThucHien>
  <ChuHoSo>Đặng Thị Thuỷ Tiên</ChuHoSo>
  <SoGiayToChuHoSo>022195007731</SoGiayToChuHoSo>
  <LoaiDoiTuong>1</LoaiDoiTuong>
  <DiaChiChuHoSo>{ADDRESS}</DiaChiChuHoSo>
  <SoDienThoai>0983112233</SoDienThoai>
  <TrichYeuHoSo>Nhận chuyển nhượng quyền sử dụng đất của ông Vũ Đức Thắng</TrichYeuHoSo>
  <NgayTiepNhan>20261203091500</NgayTiepNhan>
  <NgayHenTra>20261217163000</NgayHenTra>
  <TrangThaiHoSo>2</TrangThaiHoSo>
  <DonViXuLy>Chi nhánh Văn phòng Đăng ký đất đai thành phố Hạ Long</DonViXuLy>
  <MaDonViXuLy>000.20.31.H49</MaDonViXuLy>
  <ThongTinThuaDat>
    <SoThuTuThua>317</SoThuTuThua>
    <SoHieuBanDo>F-48-68-(12-c)</SoHieuBanDo>
    <DienTich>120.35</DienTich>
    <MucDichSuDung>Đất ở tại đô thị (ODT)</MucDichSuDung>
    <DiaChiChiTiet>Tổ 2, khu 5, phường Giếng Đáy, thành phố Hạ Long, tỉnh Quảng Ninh</DiaChiChiTiet>
  </ThongTinThuaDat>
  <ThongTinThuaDat>
    <SoThuTuThua>318</SoThuTuThua>
    <SoHieuBanDo>F-48-68-(12-c)</SoHieuBanDo>
    <DienTich>45</DienTich>
    <DiaChiChiTiet>Tổ 2, khu 5, phường Giếng Đáy, thành phố Hạ Long, tỉnh Quảng Ninh</DiaChiChiTiet>
  </ThongTinThuaDat>
  <TaiLieuNop>
    <TenTaiLieu>Hợp đồng chuyển nhượng quyền sử dụng đất đã được công chứng</TenTaiLieu>
  </TaiLieuNop>
</HoSo>
"""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def text(el: etree._Element, path: str, ns: dict[str, str] | None = None) -> str:
    """The text at ``path``; a missing element fails the test naming the path and the element."""
    found = el.find(path, ns)
    assert found is not None and found.text is not None, f"{path} missing in {etree.tostring(el)!r}"
    return found.text


def workflow_project(project_factory: Callable[..., Project], land_url: str, tax_url: str) -> Project:
    """A hub project with the shipped workflow routes (as far as land and tax go), land and tax at
    ``land_url`` and ``tax_url``, and
    four callers: the one-stop system, the land registry, the tax authority, and an auditor who reads
    every message (keys in :data:`WORKFLOW_ENVIRON` and :data:`AUDITOR_KEY`)."""
    shipped = YAML(typ="safe", pure=True).load((ROOT / "config" / "routes.yaml").read_text(encoding="utf-8"))
    # As far as land and tax go: the one-stop callback's and the national portal's targets are left out
    # (tests/e2e/test_portal_workflow.py has them).
    routes = [
        rule | {"targets": [t for t in rule["targets"] if t in ("land", "tax")]}
        for rule in shipped["routes"]
        if any(t in ("land", "tax") for t in rule["targets"])
    ]
    project = project_factory(land_url, routes=routes, adapters=(TAX_ADAPTER,))
    project.update(
        "adapters/tax.yaml",
        {"endpoint": tax_url, "timeout": "5s", "connect_timeout": "1s"}
        | {"retry": {"initial_backoff": "200ms", "max_backoff": "1s", "jitter": "100ms"}},
    )
    callers = project.read("hub.yaml")["callers"] + [
        {"agency": TAX, "name": "Tổng cục Thuế", "api_key_env": TAX_KEY_ENV, "services": ["soap:tax/*"]},
        {
            "agency": PROVINCE,
            "name": "Kiểm toán",
            "api_key_sha256": [digest(AUDITOR_KEY)],
            "services": ["rest:read-all"],
        },
    ]
    project.write("hub.yaml", project.read("hub.yaml") | {"callers": callers})
    return project


def assert_as_entered(form: etree._Element, entered: etree._Element, case_id: str) -> None:
    """Every value the tax authority received in the transfer form is what the one-stop desk entered."""
    taxpayer = form.find("tt:NGUOI_NOP_THUE", TT)
    assert taxpayer is not None
    assert text(form, "tt:MA_HSO", TT) == text(form, "tt:SO_BIEN_NHAN", TT) == DOSSIER
    assert text(form, "tt:MA_TTHC", TT) == text(entered, "h:MaTTHC", H)
    assert text(form, "tt:MA_HSO_VPDK", TT) == case_id
    assert text(form, "tt:MA_CQ_GUI", TT) == LAND
    assert text(taxpayer, "tt:TEN_NNT", TT) == text(entered, "h:ChuHoSo", H) == "Đặng Thị Thuỷ Tiên"
    assert text(taxpayer, "tt:SO_GIAY_TO", TT) == text(entered, "h:SoGiayToChuHoSo", H)
    assert text(taxpayer, "tt:DIA_CHI", TT) == text(entered, "h:DiaChiChuHoSo", H)
    assert text(taxpayer, "tt:DIEN_THOAI", TT) == text(entered, "h:SoDienThoai", H)
    fields = {
        "SO_THUA": "SoThuTuThua",
        "SO_TO_BAN_DO": "SoHieuBanDo",
        "DIEN_TICH": "DienTich",
        "MUC_DICH_SD": "MucDichSuDung",
        "DIA_CHI": "DiaChiChiTiet",
    }
    as_taxed = [
        {ours: parcel.findtext(f"tt:{theirs}", None, TT) for theirs, ours in fields.items()}
        for parcel in form.iterfind("tt:DS_THUA_DAT/tt:THUA_DAT", TT)
    ]
    as_entered = [
        {ours: parcel.findtext(f"h:{ours}", None, H) for ours in fields.values()}
        for parcel in entered.iterfind("h:ThongTinThuaDat", H)
    ]
    assert as_taxed == as_entered and len(as_taxed) == 2
    assert as_taxed[0]["DiaChiChiTiet"] == "Tổ 2, khu 5, phường Giếng Đáy, thành phố Hạ Long, tỉnh Quảng Ninh"
