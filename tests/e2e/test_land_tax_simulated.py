"""The land ↔ tax workflow with nobody but the one-stop system acting: the simulated land registry and
tax authority do the rest by themselves, over real HTTP, as the real systems do.

A hub (REST API, inbound SOAP, workers) runs the shipped workflow routes with the shipped land and tax
adapters, beside the simulators those adapters declare, each started with the hub's URL and its own
API key (LAND_SIM_API_KEY, TAX_SIM_API_KEY: the keys the hub knows as HUB_LAND_API_KEY and
HUB_TAX_API_KEY). The test is the one-stop system: it submits the dossier over REST and, once the tax
notices have reached the land registry, the payment receipt. Then the dossier's trail
(``GET /api/v1/dossiers/{code}``) must show the whole chain in order, and every value the tax authority
received must be what the one-stop desk entered; the amounts follow the tax simulator's documented rule.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from conftest import Project, RunningHub
from land_support import LAND_NS
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
    TT,
    WORKFLOW_ENVIRON,
    H,
    assert_as_entered,
    text,
    workflow_project,
)
from lxml import etree
from project_support import LAND_ADAPTER, TAX_ADAPTER, adapter_configuration
from soap_support import LAND_KEY

from lienthong.devtools.background import bound_socket
from lienthong.devtools.simulator import RecordFilter, SimulatorServer, simulator_spec
from lienthong.xml import SOAP11_NS, parse_xml

#: The tax simulator's price table (mappings/tax/simulator/thongbaothue-callback.xsl): đồng per m².
UNIT_PRICES = {"(ODT)": 25_000_000, "(ONT)": 6_000_000, "(TMD)": 15_000_000}
OTHER_PRICE = 500_000
VN = timezone(timedelta(hours=7))


def _whole(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def assessed(entered: etree._Element) -> tuple[int, int]:
    """The registration fee (0.5 %) and personal income tax (2 %) the tax simulator's rule gives for the
    parcels as entered: area × the table's unit price for the land use, summed, in whole đồng."""
    value = Decimal(0)
    for parcel in entered.iterfind("h:ThongTinThuaDat", H):
        use = parcel.findtext("h:MucDichSuDung", "", H)
        price = next((p for code, p in UNIT_PRICES.items() if code in use), OTHER_PRICE)
        value += Decimal(text(parcel, "h:DienTich", H)) * price
    whole = _whole(value)
    return _whole(Decimal(whole) * 5 / 1000), _whole(Decimal(whole) * 2 / 100)


def _received(server: SimulatorServer, operation: str) -> list[etree._Element]:
    """The SOAP body elements of the requests the simulator took in for ``operation``, oldest first."""
    records = server.core.store.query(RecordFilter(operation=operation))
    return [next(iter(parse_xml(r.request).iterfind(f"{{{SOAP11_NS}}}Body/*"))) for r in records]


@pytest.fixture
def hub_socket() -> Iterator[Any]:
    """The hub's socket, bound first: the simulators are told its URL before the hub exists. Requested
    before ``hub_factory``, so it is closed after the hub that serves on it has stopped."""
    sock = bound_socket()
    yield sock
    sock.close()


def _simulator(adapter: Any, name: str, hub_url: str, environ: dict[str, str]) -> Iterator[SimulatorServer]:
    spec = simulator_spec(
        adapter_configuration(adapter), name, store=":memory:", hub_url=hub_url, environ=environ
    )
    with SimulatorServer(spec) as server:
        yield server


def _url(sock: Any) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@pytest.fixture
def land_registry(hub_socket: Any) -> Iterator[SimulatorServer]:
    yield from _simulator(LAND_ADAPTER, "land", _url(hub_socket), {"LAND_SIM_API_KEY": LAND_KEY})


@pytest.fixture
def tax_authority(hub_socket: Any) -> Iterator[SimulatorServer]:
    yield from _simulator(TAX_ADAPTER, "tax", _url(hub_socket), {"TAX_SIM_API_KEY": TAX_KEY})


@pytest.fixture
def workflow_hub(
    hub_socket: Any,
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    land_registry: SimulatorServer,
    tax_authority: SimulatorServer,
) -> RunningHub:
    project = workflow_project(project_factory, land_registry.url, tax_authority.url)
    return hub_factory(project, environ=WORKFLOW_ENVIRON, sock=hub_socket)


def _trail_until(
    auditor: httpx.Client, done: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float = 30
) -> list[dict[str, Any]]:
    """Poll the dossier's trail until ``done`` says so; fail with the last trail seen."""
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = auditor.get(f"/api/v1/dossiers/{DOSSIER}")
        if response.status_code == 200:
            messages = response.json()["messages"]
            if done(messages):
                return messages
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen after {timeout}s; trail: {messages}")


def _delivered(message: dict[str, Any]) -> bool:
    return bool(message["deliveries"]) and all(d["state"] == "delivered" for d in message["deliveries"])


def _notices_at_land(messages: list[dict[str, Any]]) -> bool:
    return any(m["sender"] == TAX and m["kind"] == "answer" and _delivered(m) for m in messages)


def _result_in(messages: list[dict[str, Any]]) -> bool:
    return any(m["sender"] == LAND and m["kind"] == "answer" for m in messages) and all(
        _delivered(m) for m in messages if m["route"]["status"] == "routed"
    )


def test_the_simulated_ministries_carry_a_dossier_from_intake_to_certificate_by_themselves(
    workflow_hub: RunningHub, land_registry: SimulatorServer, tax_authority: SimulatorServer
) -> None:
    hub = workflow_hub
    auditor = httpx.Client(base_url=hub.url, headers={"X-API-Key": AUDITOR_KEY}, timeout=10)
    entered = parse_xml(DOSSIER_XML.encode())
    fee, income_tax = assessed(entered)

    # The one-stop desk enters the dossier once.
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

    # The registry and the tax authority act by themselves until the notices reach the registry.
    _trail_until(auditor, _notices_at_land, "the tax notices delivered to the land registry")

    # The citizen pays what the notices say; the one-stop system sends the receipt once.
    paid_at = datetime.now(VN).strftime("%Y%m%d%H%M%S")
    receipt = (
        f'<BienLaiThanhToan xmlns="{HOSO_NS}"><MaHoSo>{DOSSIER}</MaHoSo>'
        f"<MaSoThue>{text(entered, 'h:SoGiayToChuHoSo', H)}</MaSoThue><SoTien>{fee + income_tax}</SoTien>"
        f"<ThoiGianThanhToan>{paid_at}</ThoiGianThanhToan>"
        f"<HoTenNguoiNop>{text(entered, 'h:ChuHoSo', H)}</HoTenNguoiNop></BienLaiThanhToan>"
    )
    sent = hub.submit(
        {
            "sender_message_id": "mc-bl-0042",
            "kind": "document",
            "sender": PROVINCE,
            "dossier_code": DOSSIER,
            "payload": receipt,
        }
    )
    assert sent.status_code == 202, sent.text
    trail = _trail_until(auditor, _result_in, "the land registry's result")

    # The whole chain, in order, on the dossier's trail. The status update and the result reach the
    # hub from the registry; the one-stop and national portal adapters will route them.
    chain = [
        (
            m["sender"],
            m["kind"],
            m["route"]["rule"],
            sorted((d["target"], d["operation"], d["state"]) for d in m["deliveries"]),
        )
        for m in trail
    ]
    assert [c[:2] for c in chain] == [
        (PROVINCE, "dossier"),
        (LAND, "status"),
        (LAND, "document"),
        (TAX, "answer"),
        (PROVINCE, "document"),
        (LAND, "answer"),
    ], chain
    assert chain[0][2:] == ("land-transfer", [("land", "TiepNhanHoSo", "delivered")])
    assert chain[2][2:] == ("land-tax-transfer-form", [("tax", "NhanPhieuChuyenTTDC", "delivered")])
    assert chain[3][2:] == ("land-tax-notices", [("land", "DongBoKetQuaThue", "delivered")])
    assert chain[4][2:] == (
        "land-tax-payment-receipt",
        [("land", "NhanBienLaiThanhToan", "delivered"), ("tax", "NhanChungTuNopThue", "delivered")],
    )
    assert [m["received_at"] for m in trail] == sorted(m["received_at"] for m in trail)

    # Every value the tax authority received is what the one-stop desk entered.
    [intake_answer] = [
        d.response for d in hub.hub.store.get_message(uuid.UUID(trail[0]["message_id"])).deliveries
    ]
    assert intake_answer is not None
    case_id = text(parse_xml(intake_answer), ".//dd:MaHoSoDatDai", DD)
    [form] = _received(tax_authority, "PHIEU_CHUYEN_TTDC")
    assert_as_entered(form, entered, case_id)
    [voucher] = _received(tax_authority, "CHUNG_TU_NOP_THUE")
    assert [text(voucher, f"tt:{f}", TT) for f in ("MA_HSO", "MA_SO_THUE", "SO_TIEN", "TEN_NNT")] == [
        DOSSIER,
        text(entered, "h:SoGiayToChuHoSo", H),
        str(fee + income_tax),
        text(entered, "h:ChuHoSo", H),
    ]

    # The notices the registry was given: the tax simulator's rule over the parcels as entered.
    [synced] = _received(land_registry, "DongBoKetQuaThue")
    rows = [
        tuple(n.findtext(f"dd:{f}", None, DD) for f in ("LoaiThue", "HoTenChu", "MaSoThue", "SoTien"))
        for n in synced.iterfind("dd:DanhSachThongBaoThue/dd:ThongBaoThue", DD)
    ]
    applicant, id_number = text(entered, "h:ChuHoSo", H), text(entered, "h:SoGiayToChuHoSo", H)
    assert rows == [
        ("Lệ phí trước bạ nhà đất", applicant, id_number, str(fee)),
        (PIT, applicant, id_number, str(income_tax)),
    ]
    assert (fee, income_tax) == (15_156_250, 60_625_000)  # 120.35 m² ODT + 45 m² other: 3,031,250,000 đ

    # The registry's result names its own case and the certificate it issued.
    result = parse_xml(hub.hub.store.get_message(uuid.UUID(trail[5]["message_id"])).envelope.payload)
    assert result.tag == f"{{{LAND_NS}}}TraKetQuaHoSo"
    assert [text(result, f"dd:{f}", DD) for f in ("MaHoSoMotCua", "MaHoSoDatDai", "KetQua")] == [
        DOSSIER,
        case_id,
        "DaCapGiayChungNhan",
    ]
    assert text(result, "dd:GiayChungNhan/dd:CoQuanCap", DD) == "Sở Tài nguyên và Môi trường tỉnh Quảng Ninh"

    # Each simulator's record of the dossier ended where the workflow ends.
    statuses = {
        (r.operation, r.status)
        for server in (land_registry, tax_authority)
        for r in server.core.store.query(RecordFilter(key=DOSSIER))
    }
    assert statuses == {
        ("TiepNhanHoSo", "awaiting-tax"),
        ("DongBoKetQuaThue", "tax-assessed"),
        ("NhanBienLaiThanhToan", "certificate-issued"),
        ("PHIEU_CHUYEN_TTDC", "notified"),
        ("CHUNG_TU_NOP_THUE", "paid"),
    }
    auditor.close()
