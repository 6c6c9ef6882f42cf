"""The land registry simulator over real HTTP on loopback: the contract the hub's delivery is tested against.

These tests talk to the simulator exactly as the hub's SOAP transport will (httpx, real sockets),
so they pin down the behaviour delivery relies on: validation faults are permanent, outages are
transient, a repeated message id never creates a second case, and every answer is bound to the
request bytes by ``lt:requestHash``.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any, cast

import httpx
import pytest
import zeep
from land_support import LAND_NS, LAND_SCHEMA, MAPPING, SIMULATOR, SOAP_ACTION
from lxml import etree

from lienthong.devtools.samples import sample_dossiers
from lienthong.devtools.simulator import FaultPlan, SimulatorServer
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, parse_xml

SIM_NS = "urn:lienthong:simulator:1"

#: lxml-stubs lack DENY_ALL (in lxml since 2.2): XSLTs here may read and write nothing.
DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SIMULATOR, FaultPlan(seed=1)) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.post("/_sim/reset").status_code == 200
        yield http


@pytest.fixture(scope="module")
def land_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(LAND_SCHEMA)))


@pytest.fixture(scope="module")
def bodies() -> list[etree._Element]:
    """Land requests made the way the hub makes them: samples translated by the land mapping."""
    xslt = etree.XSLT(etree.parse(str(MAPPING)), access_control=DENY_ALL)
    return [xslt(parse_xml(s.xml)).getroot() for s in sample_dossiers(5, day=date(2026, 11, 21))]


def envelope(body: etree._Element, *, version: str = SOAP11_NS, message_id: str | None = "auto") -> bytes:
    env = etree.Element(f"{{{version}}}Envelope", nsmap={"s": version, "lt": HUB_NS})
    header = etree.SubElement(env, f"{{{version}}}Header")
    fields = {
        "messageId": str(uuid.uuid4()) if message_id == "auto" else message_id,
        "correlationId": str(uuid.uuid4()),
        "client": "000.00.00.H49",
        "service": "land/TiepNhanHoSo",
    }
    for name, value in fields.items():
        if value is not None:
            etree.SubElement(header, f"{{{HUB_NS}}}{name}").text = value
    etree.SubElement(env, f"{{{version}}}Body").append(etree.fromstring(etree.tostring(body)))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def post(http: httpx.Client, url: str, data: bytes, *, version: str = SOAP11_NS) -> httpx.Response:
    if version == SOAP11_NS:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SOAP_ACTION}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{SOAP_ACTION}"'}
    return http.post(url, content=data, headers=headers)


def fault_code(response: httpx.Response) -> str:
    env = parse_xml(response.content)
    code = env.findtext(f".//{{{SOAP11_NS}}}Fault/faultcode")
    return code or env.findtext(f".//{{{SOAP12_NS}}}Fault/{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Value") or ""


def stats(http: httpx.Client) -> dict[str, int]:
    result: dict[str, int] = http.get("/_sim/stats").json()
    return result


@pytest.mark.parametrize("version", [SOAP11_NS, SOAP12_NS], ids=["soap11", "soap12"])
def test_valid_request_is_accepted_and_bound_to_its_bytes(
    server: SimulatorServer,
    client: httpx.Client,
    bodies: list[etree._Element],
    land_schema: etree.XMLSchema,
    version: str,
) -> None:
    request = envelope(bodies[0], version=version, message_id="msg-0001")
    response = post(client, server.url, request, version=version)

    assert response.status_code == 200, response.text
    expected_type = "text/xml" if version == SOAP11_NS else "application/soap+xml"
    assert response.headers["content-type"].startswith(expected_type)
    env = parse_xml(response.content)
    assert env.tag == f"{{{version}}}Envelope"
    assert env.findtext(f"{{{version}}}Header/{{{HUB_NS}}}messageId") == "msg-0001"
    request_hash = env.find(f"{{{version}}}Header/{{{HUB_NS}}}requestHash")
    assert request_hash is not None
    assert request_hash.get("algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert request_hash.text == base64.b64encode(hashlib.sha256(request).digest()).decode()
    answer = env.find(f"{{{version}}}Body/{{{LAND_NS}}}TiepNhanHoSoResponse")
    assert answer is not None
    assert land_schema.validate(answer), land_schema.error_log
    assert answer.findtext(f"{{{LAND_NS}}}MaHoSoMotCua") == bodies[0].findtext(f"{{{LAND_NS}}}MaHoSoMotCua")
    assert answer.findtext(f"{{{LAND_NS}}}TrangThai") == "DaTiepNhan"
    case_id = answer.findtext(f"{{{LAND_NS}}}MaHoSoDatDai") or ""
    assert case_id.startswith("DD-") and case_id.endswith("-000001")
    assert "đã tiếp nhận" in (answer.findtext(f"{{{LAND_NS}}}ThongBao") or "")


def test_repeated_message_id_gets_the_same_bytes_and_no_second_case(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    request = envelope(bodies[1], message_id="msg-dup")
    first = post(client, server.url, request)
    time.sleep(1.1)  # a reprocessed request would get a later ThoiGianTiepNhan
    second = post(client, server.url, request)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert stats(client).items() >= {"total": 2, "unique": 1, "duplicates": 1}.items()
    third = post(client, server.url, envelope(bodies[2]))
    assert b"-000002</" in third.content  # the duplicate did not consume a case number
    received = client.get("/_sim/received").json()
    assert received[0]["message_id"] == "msg-dup"
    assert received[0]["count"] == 2
    assert received[0]["client"] == "000.00.00.H49"
    assert set(received[0]) >= {"message_id", "correlation_id", "client", "count", "first_at"}


def test_reused_message_id_with_other_content_is_answered_but_flagged(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    first = post(client, server.url, envelope(bodies[0], message_id="msg-reused"))
    second = post(client, server.url, envelope(bodies[1], message_id="msg-reused"))
    assert second.content == first.content  # the hub can see the mismatch in lt:requestHash
    assert stats(client).items() >= {"unique": 1, "duplicates": 1, "conflicts": 1}.items()


@pytest.mark.parametrize("version", [SOAP11_NS, SOAP12_NS], ids=["soap11", "soap12"])
def test_invalid_body_gets_a_client_fault_with_the_schema_errors(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element], version: str
) -> None:
    body = etree.fromstring(etree.tostring(bodies[0]))
    person = body.find(f"{{{LAND_NS}}}ThongTinNguoiNopDon")
    assert person is not None
    person.remove(person[0])  # HoTen is required
    response = post(client, server.url, envelope(body, version=version), version=version)

    assert response.status_code == 500
    assert fault_code(response) == ("soap:Client" if version == SOAP11_NS else "env:Sender")
    errors = parse_xml(response.content).findall(f".//{{{SIM_NS}}}error")
    assert errors and errors[0].get("line") and "HoTen" in (errors[0].text or "")
    assert "lược đồ" in response.text and "schema" in response.text
    assert stats(client)["unique"] == 0


def test_request_without_message_id_is_refused(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    response = post(client, server.url, envelope(bodies[0], message_id=None))
    assert response.status_code == 500
    assert fault_code(response) == "soap:Client"
    assert "messageId" in response.text
    assert stats(client)["unique"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x>&lol2;</x></s:Body></s:Envelope>',
        b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x>&xxe;</x></s:Body></s:Envelope>',
    ],
    ids=["entity-expansion", "external-entity"],
)
def test_doctype_payload_is_refused_unprocessed(
    server: SimulatorServer, client: httpx.Client, payload: bytes
) -> None:
    response = post(client, server.url, payload)
    assert response.status_code == 500
    assert fault_code(response) == "soap:Client"
    assert "DOCTYPE" in response.text
    assert "root:" not in response.text
    assert stats(client)["unique"] == 0


def test_outage_answers_503_then_recovers(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    assert client.put("/_sim/faults", json={"outage_seconds": 0.6, "mode": "503"}).status_code == 200
    down = post(client, server.url, envelope(bodies[0]))
    assert down.status_code == 503
    assert "Retry-After" in down.headers
    time.sleep(0.7)
    assert post(client, server.url, envelope(bodies[0])).status_code == 200
    assert stats(client).items() >= {"total": 2, "unique": 1, "faults_served": 1}.items()


def test_fail_next_fails_exactly_n_calls_in_the_chosen_mode(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    client.put("/_sim/faults", json={"fail_next": 2, "mode": "fault"})
    request = envelope(bodies[0])
    for _ in range(2):
        failed = post(client, server.url, request)
        assert failed.status_code == 500
        assert fault_code(failed) == "soap:Server"
    assert post(client, server.url, request).status_code == 200
    assert stats(client).items() >= {"faults_served": 2, "unique": 1, "duplicates": 0}.items()


def test_reject_next_is_a_permanent_client_fault_and_a_resend_is_processed_afresh(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    client.put("/_sim/faults", json={"reject_next": 1})
    request = envelope(bodies[0], version=SOAP12_NS)
    rejected = post(client, server.url, request, version=SOAP12_NS)
    assert rejected.status_code == 500
    assert fault_code(rejected) == "env:Sender"
    assert "Hồ sơ bị từ chối" in rejected.text and "dossier rejected" in rejected.text
    # Not taken in, so not remembered: the same message id, sent again, is accepted this time.
    accepted = post(client, server.url, request, version=SOAP12_NS)
    assert accepted.status_code == 200
    assert post(client, server.url, envelope(bodies[1])).status_code == 200
    assert stats(client).items() >= {"rejected": 1, "duplicates": 0, "unique": 2}.items()


def test_latency_is_added(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    client.put("/_sim/faults", json={"latency": 0.3})
    started = time.monotonic()
    assert post(client, server.url, envelope(bodies[0])).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_timeout_mode_outlasts_the_caller(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    server.faults.update({"fail_next": 1, "mode": "timeout", "hang_seconds": 5})
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            server.url,
            content=envelope(bodies[0]),
            headers={"Content-Type": "text/xml", "SOAPAction": '""'},
            timeout=0.3,
        )
    assert stats(client)["unique"] == 0


def test_reset_mode_drops_the_connection(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element]
) -> None:
    server.faults.update({"fail_next": 1, "mode": "reset"})
    with pytest.raises(httpx.TransportError):
        post(client, server.url, envelope(bodies[0]))
    assert post(client, server.url, envelope(bodies[0])).status_code == 200


def test_fault_control_rejects_unknown_settings(client: httpx.Client) -> None:
    assert client.put("/_sim/faults", json={"outage": 3}).status_code == 400
    assert client.put("/_sim/faults", json={"mode": "explode"}).status_code == 400
    plan = client.put("/_sim/faults", json={"error_rate": 0.5, "clear": True}).json()
    assert plan["error_rate"] == 0.5 and plan["fail_next"] == 0


def test_wsdl_is_served_pointing_at_the_simulator(server: SimulatorServer, client: httpx.Client) -> None:
    response = client.get(server.url, params={"wsdl": ""})
    assert response.status_code == 200
    wsdl = parse_xml(response.content)
    locations = {el.get("location") for el in wsdl.iter("{*}address")}
    assert locations == {server.url}
    imports = [el.get("schemaLocation") for el in wsdl.iter("{http://www.w3.org/2001/XMLSchema}import")]
    assert imports == [f"{SIMULATOR.path}?xsd=dangkydatdai.xsd"]
    xsd = client.get(server.url, params={"xsd": "dangkydatdai.xsd"})
    assert xsd.status_code == 200 and b"TiepNhanHoSoResponse" in xsd.content
    assert client.get(server.url, params={"xsd": "../../pyproject.toml"}).status_code == 404


@pytest.mark.parametrize("port", ["DangKyDatDaiSoap11", "DangKyDatDaiSoap12"])
def test_a_client_generated_from_the_served_wsdl_can_call_it(
    server: SimulatorServer, client: httpx.Client, bodies: list[etree._Element], port: str
) -> None:
    """WSDL, XSD and simulator agree: a stock SOAP stack (zeep) built from ?wsdl gets a typed answer."""
    soap = zeep.Client(f"{server.url}?wsdl")  # type: ignore[no-untyped-call]  # zeep is untyped
    element = soap.get_element(f"{{{LAND_NS}}}TiepNhanHoSo")  # type: ignore[no-untyped-call]
    request = element.parse(bodies[3], soap.wsdl.types)
    message_id = etree.Element(f"{{{HUB_NS}}}messageId")
    message_id.text = str(uuid.uuid4())
    service = soap.bind("DangKyDatDaiService", port)
    answer = service.TiepNhanHoSo(_soapheaders=[message_id], **request.__values__)
    assert answer.TrangThai == "DaTiepNhan"
    assert answer.MaHoSoMotCua == bodies[3].findtext(f"{{{LAND_NS}}}MaHoSoMotCua")
    assert answer.ThoiGianTiepNhan.utcoffset().total_seconds() == 7 * 3600
    assert client.get("/_sim/received").json()[0]["message_id"] == message_id.text
