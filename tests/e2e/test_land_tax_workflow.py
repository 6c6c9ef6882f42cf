"""The land ↔ tax workflow end to end, over real HTTP: a dossier entered once at the one-stop system
reaches the land registry, the tax authority and the registry again, with every value as entered.

A hub (REST API, inbound SOAP, workers) runs with the shipped land and tax adapters and the shipped
workflow routes (config/routes.yaml: this test is about them), beside the land registry and tax
authority simulators the adapters declare, each behind a recorder of the bytes it received. The test
plays the systems that act by themselves in real life: the one-stop system (REST), the land office,
which sends the cadastral information transfer form it made from the dossier it received, and the tax
authority, which answers later with its notices. Then the one-stop system sends the payment receipt.
Every value the tax authority received must equal what the one-stop desk entered, diacritics and all,
and every message of the dossier must be in the store, correlated to its dossier code.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import ROOT, Project, RunningHub
from land_support import LAND_NS, SIMULATOR
from lxml import etree
from project_support import TAX_ADAPTER, adapter_configuration
from ruamel.yaml import YAML
from sim_recording import Recorder
from soap_support import LAND_KEY, LAND_KEY_ENV, ack, envelope, soap_headers
from support import MOTCUA_API_KEY, MOTCUA_KEY_ENV

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec
from lienthong.envelope import derive_correlation_id
from lienthong.xml import SOAP11_NS, parse_xml

HOSO_NS = "urn:lienthong:province:hoso:1"
TAX_NS = "urn:lienthong:tct:lienthongdatdai:1"
PROVINCE = "000.00.00.H49"
LAND = "000.00.00.G13"
TAX = "000.00.18.G12"
TAX_KEY = "test-tax-key-not-a-secret"
TAX_KEY_ENV = "HUB_TAX_API_KEY"
AUDITOR_KEY = "test-auditor-key-not-a-secret"
DOSSIER = "000.00.00.H49-261203-0042"
PIT = "Thuế thu nhập cá nhân từ chuyển nhượng bất động sản"
H = {"h": HOSO_NS}
DD = {"dd": LAND_NS}
TT = {"tt": TAX_NS}

ADDRESS = "Số 7 ngõ 12 phố Lê Thánh Tông, phường Hồng Gai, thành phố Hạ Long, tỉnh Quảng Ninh"
#: What the one-stop desk entered, once. Composed (NFC) Vietnamese, as the hub keeps it.
DOSSIER_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
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
RECEIPT_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<BienLaiThanhToan xmlns="{HOSO_NS}">
  <MaHoSo>{DOSSIER}</MaHoSo>
  <MaSoThue>022195007731</MaSoThue>
  <SoTien>24070000</SoTien>
  <ThoiGianThanhToan>20261210103045</ThoiGianThanhToan>
  <SoThongBaoThue>LPTB-2026-007702</SoThongBaoThue>
  <HoTenNguoiNop>Đặng Thị Thuỷ Tiên</HoTenNguoiNop>
</BienLaiThanhToan>
"""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Ministry:
    """A simulated ministry system and the recorder of what reached it."""

    server: SimulatorServer
    recorder: Recorder

    def bodies(self, tag: str) -> list[etree._Element]:
        """The SOAP body elements named ``tag`` (Clark name) it received, in order."""
        found = []
        for _, raw in self.recorder.requests:
            [entry] = [c for c in parse_xml(raw).iterfind(f"{{{SOAP11_NS}}}Body/*")]
            if entry.tag == tag:
                found.append(entry)
        return found


def _ministry(spec: Any) -> Iterator[Ministry]:
    server = SimulatorServer(spec, FaultPlan(seed=9))
    recorder = Recorder(server.app)
    server.app = recorder  # type: ignore[assignment]
    with server:
        yield Ministry(server, recorder)


@pytest.fixture
def land_registry() -> Iterator[Ministry]:
    yield from _ministry(SIMULATOR)


@pytest.fixture
def tax_authority() -> Iterator[Ministry]:
    yield from _ministry(simulator_spec(adapter_configuration(TAX_ADAPTER), "tax"))


@pytest.fixture
def workflow_hub(
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    land_registry: Ministry,
    tax_authority: Ministry,
) -> RunningHub:
    """The shipped workflow routes as far as land and tax go (the one-stop system's and the national
    portal's targets are left out: tests/e2e/test_portal_workflow.py has them), land and tax at their
    simulators, and four callers: the one-stop system, the land registry, the tax authority, and an
    auditor who reads every message."""
    shipped = YAML(typ="safe", pure=True).load((ROOT / "config" / "routes.yaml").read_text(encoding="utf-8"))
    routes = [
        rule | {"targets": [t for t in rule["targets"] if t in ("land", "tax")]}
        for rule in shipped["routes"]
        if any(t in ("land", "tax") for t in rule["targets"])
    ]
    project = project_factory(land_registry.server.url, routes=routes, adapters=(TAX_ADAPTER,))
    project.update(
        "adapters/tax.yaml",
        {"endpoint": tax_authority.server.url, "timeout": "5s", "connect_timeout": "1s"}
        | {"retry": {"initial_backoff": "200ms", "max_backoff": "1s", "jitter": "100ms"}},
    )
    callers = project.read("hub.yaml")["callers"] + [
        {"agency": TAX, "name": "Tổng cục Thuế", "api_key_env": TAX_KEY_ENV, "services": ["soap:tax/*"]},
        {
            "agency": PROVINCE,
            "name": "Kiểm toán",
            "api_key_sha256": [_digest(AUDITOR_KEY)],
            "services": ["rest:read-all"],
        },
    ]
    project.write("hub.yaml", project.read("hub.yaml") | {"callers": callers})
    environ = {MOTCUA_KEY_ENV: MOTCUA_API_KEY, LAND_KEY_ENV: LAND_KEY, TAX_KEY_ENV: TAX_KEY}
    return hub_factory(project, environ=environ)


def _text(el: etree._Element, path: str, ns: dict[str, str] | None = None) -> str:
    found = el.find(path, ns)
    assert found is not None and found.text is not None, f"{path} missing in {etree.tostring(el)!r}"
    return found.text


def _wait_delivered(auditor: httpx.Client, message_id: str, targets: int) -> dict[str, Any]:
    """Poll the status API (as the auditor) until the message's ``targets`` deliveries are delivered."""
    deadline = time.monotonic() + 30
    while True:
        view: dict[str, Any] = auditor.get(f"/api/v1/messages/{message_id}").raise_for_status().json()
        states = [d["state"] for d in view["deliveries"]]
        if len(states) == targets and all(s == "delivered" for s in states):
            return view
        assert time.monotonic() < deadline, f"not delivered after 30s: {view}"
        time.sleep(0.05)


def _post_soap(
    hub: RunningHub, path: str, key: str, action: str, body: str, message_id: str
) -> dict[str, Any]:
    headers = soap_headers("soap11", action) | {"X-API-Key": key}
    response = httpx.post(
        f"{hub.url}{path}", content=envelope("soap11", body, message_id=message_id), headers=headers
    )
    assert response.status_code == 200, response.text
    answer = ack(response)
    assert answer["routeStatus"] == "routed", answer
    return answer


def _cadastral_form(received: etree._Element, case_id: str) -> str:
    """What the land office sends the tax authority: a form filled from the dossier it received (as the
    land simulator will do by itself once it can call back)."""
    applicant = received.find("dd:ThongTinNguoiNopDon", DD)
    assert applicant is not None
    parcels = "".join(
        "<dd:ThongTinThuaDat>"
        + "".join(
            f"<dd:{name}>{_text(parcel, f'dd:{name}', DD)}</dd:{name}>"
            for name in ("SoThuTuThua", "SoHieuBanDo", "DienTich", "MucDichSuDung", "DiaChiChiTiet")
            if parcel.find(f"dd:{name}", DD) is not None
        )
        + "</dd:ThongTinThuaDat>"
        for parcel in received.iterfind("dd:ThongTinThuaDat", DD)
    )
    return (
        f'<dd:PhieuChuyenThongTinDiaChinh xmlns:dd="{LAND_NS}">'
        "<dd:SoPhieu>PCTT-2026-000517</dd:SoPhieu>"
        f"<dd:MaHoSoMotCua>{_text(received, 'dd:MaHoSoMotCua', DD)}</dd:MaHoSoMotCua>"
        f"<dd:SoBienNhan>{_text(received, 'dd:SoBienNhan', DD)}</dd:SoBienNhan>"
        f"<dd:MaHoSoDatDai>{case_id}</dd:MaHoSoDatDai>"
        f"<dd:MaTTHC>{_text(received, 'dd:MaTTHC', DD)}</dd:MaTTHC>"
        "<dd:NgayLapPhieu>2026-12-04T10:20:00+07:00</dd:NgayLapPhieu>"
        "<dd:NguoiNopThue>"
        f"<dd:HoTen>{_text(applicant, 'dd:HoTen', DD)}</dd:HoTen>"
        f"<dd:SoGiayTo>{_text(applicant, 'dd:SoGiayTo', DD)}</dd:SoGiayTo>"
        f"<dd:DiaChi>{_text(applicant, 'dd:DiaChi', DD)}</dd:DiaChi>"
        f"<dd:SoDienThoai>{_text(applicant, 'dd:SoDienThoai', DD)}</dd:SoDienThoai>"
        "</dd:NguoiNopThue>"
        f"{parcels}"
        "</dd:PhieuChuyenThongTinDiaChinh>"
    )


def _tax_notices(form: etree._Element) -> str:
    """The tax authority's answer to the form it received: two notices for the taxpayer it names."""
    taxpayer = form.find("tt:NGUOI_NOP_THUE", TT)
    assert taxpayer is not None
    name, code = _text(taxpayer, "tt:TEN_NNT", TT), _text(taxpayer, "tt:SO_GIAY_TO", TT)
    notices = (
        ("LPTB-2026-007702", "05-12-2026", "Lệ phí trước bạ nhà đất", "24070000"),
        ("TNCN-2026-019340", "06-12-2026", PIT, "96280000"),
    )
    rows = "".join(
        f"<LIST><MA_SO_THUE>{code}</MA_SO_THUE><TEN_NNT>{name}</TEN_NNT><SO_QUYET_DINH>{number}</SO_QUYET_DINH>"
        f"<NGAY_QUYET_DINH>{day}</NGAY_QUYET_DINH><TEN_TIEUMUC>{item}</TEN_TIEUMUC><SO_TIEN>{amount}</SO_TIEN></LIST>"
        for number, day, item, amount in notices
    )
    dossier = _text(form, "tt:MA_HSO", TT)
    return f"<DATA><BODY><ROW_LIST><MA_HSO>{dossier}</MA_HSO>{rows}</ROW_LIST></BODY></DATA>"


def assert_as_entered(form: etree._Element, entered: etree._Element, case_id: str) -> None:
    """Every value the tax authority received is what the one-stop desk entered."""
    taxpayer = form.find("tt:NGUOI_NOP_THUE", TT)
    assert taxpayer is not None
    assert _text(form, "tt:MA_HSO", TT) == _text(form, "tt:SO_BIEN_NHAN", TT) == DOSSIER
    assert _text(form, "tt:MA_TTHC", TT) == _text(entered, "h:MaTTHC", H)
    assert _text(form, "tt:MA_HSO_VPDK", TT) == case_id
    assert _text(form, "tt:MA_CQ_GUI", TT) == LAND
    assert _text(taxpayer, "tt:TEN_NNT", TT) == _text(entered, "h:ChuHoSo", H) == "Đặng Thị Thuỷ Tiên"
    assert _text(taxpayer, "tt:SO_GIAY_TO", TT) == _text(entered, "h:SoGiayToChuHoSo", H)
    assert _text(taxpayer, "tt:DIA_CHI", TT) == _text(entered, "h:DiaChiChuHoSo", H)
    assert _text(taxpayer, "tt:DIEN_THOAI", TT) == _text(entered, "h:SoDienThoai", H)
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


def test_a_dossier_entered_once_reaches_land_and_tax_with_every_value_as_entered(
    workflow_hub: RunningHub, land_registry: Ministry, tax_authority: Ministry
) -> None:
    hub = workflow_hub
    auditor = httpx.Client(base_url=hub.url, headers={"X-API-Key": AUDITOR_KEY}, timeout=10)
    entered = parse_xml(DOSSIER_XML.encode())

    # 1. The one-stop desk enters the dossier once; the hub gives it to the land registry.
    submitted = hub.submit(
        {
            "sender_message_id": "mc-hs-0042",
            "kind": "dossier",
            "sender": PROVINCE,
            "procedure_code": "1.004227",
            "dossier_code": DOSSIER,
            "payload": DOSSIER_XML,
        }
    )
    assert submitted.status_code == 202, submitted.text
    dossier_id = submitted.json()["message_id"]
    _wait_delivered(auditor, dossier_id, 1)
    [intake] = land_registry.bodies(f"{{{LAND_NS}}}TiepNhanHoSo")
    land_answer = hub.hub.store.get_message(uuid.UUID(dossier_id)).deliveries[0].response
    assert land_answer is not None
    case_id = _text(parse_xml(land_answer), ".//dd:MaHoSoDatDai", DD)

    # 2. The land office sends the cadastral information transfer form; the hub gives it to tax.
    form_ack = _post_soap(
        hub,
        "/soap/land",
        LAND_KEY,
        f"{LAND_NS}/GuiPhieuChuyenThongTinDiaChinh",
        _cadastral_form(intake, case_id),
        "vpdk-pctt-0517",
    )
    _wait_delivered(auditor, form_ack["messageId"], 1)
    [form] = tax_authority.bodies(f"{{{TAX_NS}}}PHIEU_CHUYEN_TTDC")

    assert_as_entered(form, entered, case_id)

    # 3. Later, the tax authority pushes its notices; the hub gives them to the land registry.
    notices_ack = _post_soap(
        hub, "/soap/tax", TAX_KEY, f"{TAX_NS}/GuiThongBaoThue", _tax_notices(form), "tct-tb-19340"
    )
    _wait_delivered(auditor, notices_ack["messageId"], 1)
    [synced] = land_registry.bodies(f"{{{LAND_NS}}}DongBoKetQuaThue")
    assert _text(synced, "dd:SoBienNhan", DD) == DOSSIER
    assert _text(synced, "dd:NgayCoKetQuaThue", DD) == "2026-12-06"
    rows = [
        tuple(n.findtext(f"dd:{f}", None, DD) for f in ("SoThongBaoThue", "LoaiThue", "HoTenChu", "SoTien"))
        for n in synced.iterfind("dd:DanhSachThongBaoThue/dd:ThongBaoThue", DD)
    ]
    assert rows == [
        ("LPTB-2026-007702", "Lệ phí trước bạ nhà đất", "Đặng Thị Thuỷ Tiên", "24070000"),
        (
            "TNCN-2026-019340",
            "Thuế thu nhập cá nhân từ chuyển nhượng bất động sản",
            "Đặng Thị Thuỷ Tiên",
            "96280000",
        ),
    ]

    # 4. The citizen pays; the one-stop system sends the receipt once; tax and land both receive it.
    paid = hub.submit(
        {
            "sender_message_id": "mc-bl-0042",
            "kind": "document",
            "sender": PROVINCE,
            "dossier_code": DOSSIER,
            "payload": RECEIPT_XML,
        }
    )
    assert paid.status_code == 202, paid.text
    _wait_delivered(auditor, paid.json()["message_id"], 2)
    [voucher] = tax_authority.bodies(f"{{{TAX_NS}}}CHUNG_TU_NOP_THUE")
    assert [_text(voucher, f"tt:{f}", TT) for f in ("MA_HSO", "MA_SO_THUE", "SO_TIEN", "THOI_GIAN_NOP")] == [
        DOSSIER,
        "022195007731",
        "24070000",
        "10-12-2026 10:30:45",
    ]
    assert _text(voucher, "tt:TEN_NNT", TT) == "Đặng Thị Thuỷ Tiên"
    [receipt] = land_registry.bodies(f"{{{LAND_NS}}}NhanBienLaiThanhToan")
    assert _text(receipt, "dd:SoBienNhan", DD) == DOSSIER
    assert _text(receipt, "dd:ThoiGianThanhToan", DD) == "2026-12-10T10:30:45+07:00"

    # 5. The dossier's messages are all in the store, correlated to its dossier code.
    correlation = derive_correlation_id(DOSSIER, None)
    listed = (
        auditor.get("/api/v1/messages", params={"correlation_id": str(correlation)}).raise_for_status().json()
    )
    trail = sorted((m["sender"], m["kind"], m["dossier_code"], m["route"]["rule"]) for m in listed)
    assert trail == sorted(
        [
            (PROVINCE, "dossier", DOSSIER, "land-transfer"),
            (LAND, "document", DOSSIER, "land-tax-transfer-form"),
            (TAX, "answer", DOSSIER, "land-tax-notices"),
            (PROVINCE, "document", DOSSIER, "land-tax-payment-receipt"),
        ]
    )
    operations = sorted(
        (d.target, d.operation)
        for m in listed
        for d in hub.hub.store.get_message(uuid.UUID(m["message_id"])).deliveries
    )
    assert operations == [
        ("land", "DongBoKetQuaThue"),
        ("land", "NhanBienLaiThanhToan"),
        ("land", "TiepNhanHoSo"),
        ("tax", "NhanChungTuNopThue"),
        ("tax", "NhanPhieuChuyenTTDC"),
    ]
    auditor.close()
