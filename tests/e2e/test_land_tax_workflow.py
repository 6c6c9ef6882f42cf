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

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import Project, RunningHub
from land_support import LAND_NS, SIMULATOR
from landtax_support import (
    AUDITOR_KEY,
    DD,
    DOSSIER,
    DOSSIER_XML,
    HOSO_NS,
    LAND,
    PIT,
    PROVINCE,
    TAX,
    TAX_KEY,
    TAX_NS,
    TT,
    WORKFLOW_ENVIRON,
    assert_as_entered,
    workflow_project,
)
from landtax_support import text as _text
from lxml import etree
from project_support import TAX_ADAPTER, adapter_configuration
from sim_recording import Recorder
from soap_support import LAND_KEY, ack, envelope, soap_headers

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec
from lienthong.envelope import derive_correlation_id
from lienthong.xml import SOAP11_NS, parse_xml

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
    """The shipped workflow routes, land and tax at their simulators, and four callers: the one-stop
    system, the land registry, the tax authority, and an auditor who reads every message."""
    project = workflow_project(project_factory, land_registry.server.url, tax_authority.server.url)
    return hub_factory(project, environ=WORKFLOW_ENVIRON)


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
