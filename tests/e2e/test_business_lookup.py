"""Business registry lookup over real HTTP: the hub and the registry's simulator on loopback.

A provincial system asks ``GET /api/v1/lookups/business/{code}`` (or the SOAP operation); the hub
checks the enterprise code's check digit, calls the registry with a timeout, logs the exchange as a
message and may answer from its cache. Proven here: a valid code is answered with the EntCert fields;
a wrong check digit is refused without a call; a registry that is down or silent is a clear 503 within
the timeout; a cached answer makes no second call; every exchange is a message in the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HUB_ENVIRON, Project, RunningHub, Simulator
from project_support import ROOT, AdapterSource
from support import LOOPBACK, MOTCUA_KEY_ENV, PROVINCE, ProcessGroup, free_port, hub_env, wait_for_port

from lienthong.config.files import load_configuration
from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec
from lienthong.store import AttemptOutcome, DeliveryState
from lienthong.xml import SOAP11_NS, SOAP12_NS, parse_xml

BUSINESS_ADAPTER = AdapterSource("business", ROOT)
DN = "urn:lienthong:dkkd:doanhnghiep:1"
LK = "urn:lienthong:hub:lookup:1"
REGISTRY_AGENCY = "000.00.00.G05"
#: In the simulated register: a joint-stock company of Hạ Long with two representatives.
HA_LONG = "5700100256"
#: A valid code (Σ = 114, 114 mod 11 = 4, 10 - 4 = 6) that the simulated register does not hold.
NOT_HELD = "0100109106"
#: The same code with its last digit wrong.
WRONG_DIGIT = "5700100257"
QLVB_KEY = "test-qlvb-key-not-a-secret"
LOOKUP_TIMEOUT = 1.0


@pytest.fixture(scope="session")
def _business_server() -> Iterator[Simulator]:
    spec = simulator_spec(load_configuration(ROOT / "config", environ={}), "business")
    server = SimulatorServer(spec, FaultPlan(seed=1))
    server.start()
    sim = Simulator(server)
    try:
        yield sim
    finally:
        sim.client.close()
        server.stop()


@pytest.fixture
def business_sim(_business_server: Simulator) -> Simulator:
    _business_server.reset()
    return _business_server


Factory = Callable[..., RunningHub]


@pytest.fixture
def lookup_hub(
    project_factory: Callable[..., Any], hub_factory: Factory, land_sim: Simulator, business_sim: Simulator
) -> Callable[..., RunningHub]:
    """A hub with the business adapter pointed at ``endpoint`` (default: the simulator)."""

    def start(endpoint: str | None = None, *, cache: str = "10m", threshold: int = 5) -> RunningHub:
        callers = [
            {
                "agency": PROVINCE,
                "name": "Một cửa điện tử tỉnh Quảng Ninh",
                "api_key_env": MOTCUA_KEY_ENV,
                "services": ["rest:submit", "rest:read", "lookup:business"],
            },
            {
                "agency": "000.00.00.H49.01",
                "name": "Quản lý văn bản",
                "api_key_env": "HUB_QLVB_API_KEY",
                "services": ["rest:read"],
            },
        ]
        project = project_factory(land_sim.url, adapters=[BUSINESS_ADAPTER], callers=callers)
        project.update(
            "adapters/business.yaml",
            {
                "endpoint": endpoint or business_sim.url,
                "circuit_breaker": {"failure_threshold": threshold, "reset_after": "30s"},
                "lookup": {"timeout": f"{LOOKUP_TIMEOUT}s", "cache": cache},
            },
        )
        return hub_factory(project, environ={**HUB_ENVIRON, "HUB_QLVB_API_KEY": QLVB_KEY})

    return start


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:lienthong:problem:{code}"
    return body


def test_a_valid_code_is_answered_with_the_entcert_and_logged_as_a_message(
    lookup_hub: Factory, business_sim: Simulator
) -> None:
    hub = lookup_hub()
    response = hub.client.get(f"/api/v1/lookups/business/{HA_LONG}")
    assert response.status_code == 200, response.text
    assert response.headers["X-Lookup-Source"] == "call"
    body = response.json()
    cert = body["EntCert"]
    assert body["code"] == HA_LONG and body["from_cache"] is False
    assert cert["MaSoDoanhNghiep"] == HA_LONG
    assert cert["TenTiengViet"] == "CÔNG TY CỔ PHẦN DU LỊCH VỊNH HẠ LONG XANH"
    assert cert["LoaiHinhDN"] == "Công ty cổ phần"
    assert cert["NgayDangKyLanDau"] == "2008-03-14"
    assert cert["TinhTrangPhapLy"] == "Đang hoạt động"
    assert [d["HoTen"] for d in cert["DaiDienPhapLuat"]] == ["Nguyễn Thị Thu Hằng", "Phạm Quốc Việt"]
    assert cert["NganhNgheKinhDoanh"][0] == {
        "MaNganh": "7911",
        "TenNganh": "Đại lý du lịch",
        "LaNganhChinh": True,
    }
    assert business_sim.stats()["total"] == 1

    # The exchange is a message like any other: a query from the province to the registry, delivered.
    message_id = response.headers["X-Message-Id"]
    assert body["message_id"] == message_id
    view = hub.status(message_id)
    assert view["kind"] == "query" and view["sender"] == PROVINCE and view["recipient"] == REGISTRY_AGENCY
    assert view["route"]["reason"].startswith("lookup")
    (delivery,) = view["deliveries"]
    assert delivery["target"] == "business" and delivery["state"] == "delivered"
    # ...whose attempt holds the exact bytes on the wire: the hub's message id went in lt:messageId.
    record = hub.hub.store.get_message(uuid.UUID(message_id)).deliveries[0]
    assert record.state is DeliveryState.DELIVERED
    (attempt,) = record.history
    assert attempt.outcome is AttemptOutcome.DELIVERED and attempt.worker == "lookup"
    assert attempt.request is not None and attempt.response is not None
    sent = parse_xml(attempt.request)
    assert sent.findtext(f"{{{SOAP11_NS}}}Header/{{urn:lienthong:hub:1}}messageId") == message_id
    assert sent.findtext(f".//{{{DN}}}MaSoDoanhNghiep") == HA_LONG
    assert "VỊNH HẠ LONG XANH".encode() in attempt.response
    received = business_sim.received()
    assert [r["message_id"] for r in received] == [message_id]


def test_xml_is_answered_when_asked_for(lookup_hub: Factory) -> None:
    hub = lookup_hub()
    response = hub.client.get(
        f"/api/v1/lookups/business/{HA_LONG}-001", headers={"Accept": "application/xml"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    cert = parse_xml(response.content)
    assert cert.tag == f"{{{DN}}}EntCert"
    assert cert.findtext(f"{{{DN}}}LoaiHinhDN") == "Chi nhánh"


def test_a_wrong_check_digit_is_refused_without_a_call(lookup_hub: Factory, business_sim: Simulator) -> None:
    hub = lookup_hub()
    before = hub.count_messages()
    body = _problem(hub.client.get(f"/api/v1/lookups/business/{WRONG_DIGIT}"), 422, "lookup-key-invalid")
    assert WRONG_DIGIT in body["detail"] and body["key"] == WRONG_DIGIT
    assert "the 10th digit must be 6, not 7" in body["detail"]
    _problem(hub.client.get("/api/v1/lookups/business/57001"), 422, "lookup-key-invalid")
    assert business_sim.stats()["total"] == 0
    assert hub.count_messages() == before


def test_a_code_the_registry_does_not_hold_is_404_and_still_logged(
    lookup_hub: Factory, business_sim: Simulator
) -> None:
    hub = lookup_hub()
    body = _problem(hub.client.get(f"/api/v1/lookups/business/{NOT_HELD}"), 404, "lookup-not-found")
    assert NOT_HELD in body["detail"]
    assert hub.status(body["message_id"])["deliveries"][0]["state"] == "delivered"
    # "not found" is not cached: the next ask calls again.
    _problem(hub.client.get(f"/api/v1/lookups/business/{NOT_HELD}"), 404, "lookup-not-found")
    assert business_sim.stats()["total"] == 2


def test_a_cached_answer_makes_no_second_call_and_is_logged_as_from_the_cache(
    lookup_hub: Factory, business_sim: Simulator
) -> None:
    hub = lookup_hub()
    first = hub.client.get(f"/api/v1/lookups/business/{HA_LONG}")
    second = hub.client.get(f"/api/v1/lookups/business/{HA_LONG}")
    assert first.status_code == second.status_code == 200
    assert second.headers["X-Lookup-Source"] == "cache" and second.json()["from_cache"] is True
    assert second.json()["EntCert"] == first.json()["EntCert"]
    assert business_sim.stats()["total"] == 1
    cached_id = second.headers["X-Message-Id"]
    assert cached_id != first.headers["X-Message-Id"]
    (attempt,) = hub.hub.store.get_message(uuid.UUID(cached_id)).deliveries[0].history
    assert attempt.worker == "lookup-cache" and attempt.request is None and attempt.response is not None
    assert "cache" in hub.status(cached_id)["route"]["reason"]


def test_without_a_cache_every_ask_calls(lookup_hub: Factory, business_sim: Simulator) -> None:
    hub = lookup_hub(cache="0s")
    for _ in range(2):
        assert hub.client.get(f"/api/v1/lookups/business/{HA_LONG}").headers["X-Lookup-Source"] == "call"
    assert business_sim.stats()["total"] == 2


def test_a_registry_that_is_down_is_a_503_at_once(lookup_hub: Factory) -> None:
    hub = lookup_hub(f"http://127.0.0.1:{free_port()}/soap/business")
    before = hub.count_messages()
    started = time.monotonic()
    response = hub.client.get(f"/api/v1/lookups/business/{HA_LONG}")
    assert time.monotonic() - started < LOOKUP_TIMEOUT + 1
    body = _problem(response, 503, "lookup-unavailable")
    assert int(response.headers["Retry-After"]) >= 1 and body["adapter"] == "business"
    assert hub.count_messages() == before


def test_a_registry_that_does_not_answer_is_a_503_within_the_timeout(
    lookup_hub: Factory, business_sim: Simulator
) -> None:
    hub = lookup_hub()
    business_sim.faults(mode="timeout", fail_next=1, hang_seconds=30)
    started = time.monotonic()
    response = hub.client.get(f"/api/v1/lookups/business/{HA_LONG}")
    elapsed = time.monotonic() - started
    _problem(response, 503, "lookup-unavailable")
    assert elapsed < LOOKUP_TIMEOUT + 1, elapsed
    assert "timed out" in response.json()["detail"]


def test_an_open_circuit_answers_503_without_calling(lookup_hub: Factory, business_sim: Simulator) -> None:
    hub = lookup_hub(threshold=2)
    business_sim.faults(mode="503", fail_next=2)
    for _ in range(2):
        _problem(hub.client.get(f"/api/v1/lookups/business/{HA_LONG}"), 503, "lookup-unavailable")
    assert business_sim.stats()["total"] == 2
    response = hub.client.get(f"/api/v1/lookups/business/{HA_LONG}")
    body = _problem(response, 503, "lookup-unavailable")
    assert "circuit is open" in body["detail"] and 1 <= int(response.headers["Retry-After"]) <= 30
    assert business_sim.stats()["total"] == 2  # not even sent
    assert hub.client.get("/healthz").json()["adapters"]["business"]["circuit"] == "open"


def test_lookups_need_the_right_and_a_known_adapter(lookup_hub: Factory, business_sim: Simulator) -> None:
    hub = lookup_hub()
    anonymous = httpx.get(f"{hub.url}/api/v1/lookups/business/{HA_LONG}")
    _problem(anonymous, 401, "unauthenticated")
    other = httpx.get(f"{hub.url}/api/v1/lookups/business/{HA_LONG}", headers={"X-API-Key": QLVB_KEY})
    _problem(other, 403, "forbidden")
    _problem(hub.client.get(f"/api/v1/lookups/land/{HA_LONG}"), 403, "forbidden")
    assert business_sim.stats()["total"] == 0


def _soap_lookup(key: str, version: str = SOAP11_NS) -> bytes:
    prefix = "soap" if version == SOAP11_NS else "env"
    return (
        f'<{prefix}:Envelope xmlns:{prefix}="{version}" xmlns:lk="{LK}"><{prefix}:Body>'
        f"<lk:Lookup><lk:Key>{key}</lk:Key></lk:Lookup></{prefix}:Body></{prefix}:Envelope>"
    ).encode()


def test_the_soap_operation_answers_the_same(lookup_hub: Factory, business_sim: Simulator) -> None:
    hub = lookup_hub()
    wsdl = hub.client.get("/soap/lookups/business?wsdl")
    assert wsdl.status_code == 200
    assert f'location="{hub.url}/soap/lookups/business"'.encode() in wsdl.content
    xsd = hub.client.get("/soap/lookups/business?xsd=lookup.xsd")
    assert xsd.status_code == 200 and b"LookupResponse" in xsd.content

    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{LK}/Lookup"'}
    response = hub.client.post("/soap/lookups/business", content=_soap_lookup(HA_LONG), headers=headers)
    assert response.status_code == 200, response.text
    answer = parse_xml(response.content).find(f"{{{SOAP11_NS}}}Body/{{{LK}}}LookupResponse")
    assert answer is not None
    assert answer.findtext(f"{{{LK}}}FromCache") == "false"
    cert = answer.find(f"{{{LK}}}Answer/{{{DN}}}EntCert")
    assert cert is not None and cert.findtext(f"{{{DN}}}TenVietTat") == "HLGB TOURISM., JSC"
    assert hub.status(answer.findtext(f"{{{LK}}}MessageId") or "")["kind"] == "query"

    soap12 = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{LK}/Lookup"'}
    refused = hub.client.post(
        "/soap/lookups/business", content=_soap_lookup(WRONG_DIGIT, SOAP12_NS), headers=soap12
    )
    assert refused.status_code == 400
    fault = parse_xml(refused.content)
    assert fault.findtext(f".//{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Value") == "env:Sender"
    assert fault.findtext(f".//{{{SOAP12_NS}}}Subcode/{{{SOAP12_NS}}}Value") == "lt:lookup-key-invalid"
    assert WRONG_DIGIT.encode() in refused.content
    assert business_sim.stats()["total"] == 1
    assert refused.headers["content-type"].startswith("application/soap+xml")


def test_hub_simulate_business_serves_the_register(
    shipped_project: Project, lookup_hub: Factory, tmp_path: Path
) -> None:
    """``hub simulate business``: the shipped adapter's stand-in, started by hand, answers the hub."""
    port = free_port()
    env = hub_env(database_url="sqlite:///:memory:", land_endpoint="http://127.0.0.1:9/unused")
    args = ["simulate", "business", "-c", str(shipped_project.config_dir), "--port", str(port)]
    with ProcessGroup(tmp_path / "logs") as group:
        process = group.start("simulate", args, env)
        wait_for_port(port, alive=process.alive)
        url = f"http://{LOOPBACK}:{port}/soap/business"
        assert b"LayThongTinDoanhNghiep" in httpx.get(f"{url}?wsdl").content
        hub = lookup_hub(url)
        response = hub.client.get("/api/v1/lookups/business/5701456784")
        assert response.status_code == 200, response.text
        assert response.json()["EntCert"]["TenTiengViet"] == "CÔNG TY TNHH MỘT THÀNH VIÊN THỦY SẢN VÂN ĐỒN"
