"""Inbound SOAP end to end: the land registry pushes status updates and results to the hub.

Every test talks to a hub served by uvicorn on loopback, over SOAP 1.1 and SOAP 1.2, with bytes
written by hand (so the exact request bytes are known) or by zeep built from the hub's own WSDL. The
assertions are what the registry sees (the answer, its HTTP status, the fault code the spec demands,
``lt:requestHash``), what an operator sees (the status API, the audit log) and what the database holds.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import zeep
import zeep.exceptions
from land_support import LAND_NS
from lxml import etree
from soap_support import (
    DOSSIER,
    HUB_ENVIRON,
    LAND,
    LAND_HEADERS,
    LAND_KEY,
    PROVINCE,
    RESULT_ACTION,
    SENDER_CODES,
    STATUS_ACTION,
    VERSIONS,
    Version,
    ack,
    answer_version,
    envelope,
    fault,
    fault_detail,
    hub_header,
    post,
    result,
    row_counts,
    soap_headers,
    status_update,
)
from support import MOTCUA_API_KEY

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.envelope import derive_correlation_id
from lienthong.intake.callers import api_key_digest
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS

LT = f"{{{HUB_NS}}}"


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@pytest.fixture
def soap_hub(hub_factory: Callable[..., Any]) -> Any:
    """The project's configuration; the registry and the one-stop system each have their key."""
    return hub_factory(environ=HUB_ENVIRON)


@pytest.fixture
def audit_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="lienthong.audit"):
        yield caplog


def assert_nothing_stored(hub: Any) -> None:
    counts = row_counts(hub.project.database)
    assert counts["messages"] == 0, counts
    assert counts["idempotency_keys"] == 0, counts
    assert hub.count_messages() == 0


def assert_fault(response: httpx.Response, version: Version, code: str, *, status: int | None = None) -> None:
    """The fault the spec demands: its code in the version's terms and the version's HTTP status,
    and the hash of the request it answers."""
    expected = {"soap11": 500, "soap12": 400 if code == "Sender" else 500}[version]
    assert response.status_code == (status or expected), response.text
    local = SENDER_CODES[version] if code == "Sender" else code
    assert fault(response).code == local, response.text
    assert hub_header(response)["requestHash"] == b64sha256(response.request.content)


# ---------------------------------------------------------------- the WSDL


def test_the_wsdl_points_at_the_endpoint_it_was_fetched_from(soap_hub: Any) -> None:
    response = httpx.get(f"{soap_hub.url}/soap/land?wsdl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    wsdl = etree.fromstring(response.content)
    addresses = [el.get("location", "") for el in wsdl.iter("{*}address")]
    assert addresses == [f"{soap_hub.url}/soap/land"] * 2
    locations = sorted(
        el.get("schemaLocation", "") for el in wsdl.iter("{http://www.w3.org/2001/XMLSchema}import")
    )
    assert locations == [
        f"{soap_hub.url}/soap/land?xsd=hub/hub.xsd",
        f"{soap_hub.url}/soap/land?xsd=land/dangkydatdai.xsd",
    ]
    for location in locations:
        schema = httpx.get(location)
        assert schema.status_code == 200
        etree.XMLSchema(etree.fromstring(schema.content))  # each compiles on its own


@pytest.mark.parametrize(
    "query",
    [
        "xsd=../../../etc/passwd",
        "xsd=/etc/passwd",
        "xsd=land/hub-inbound.wsdl",
        "xsd=land/../../config/hub.yaml",
        "xsd=%2e%2e/hub/hub.xsd",
        "",
        "xsd=",
    ],
)
def test_only_the_schemas_the_wsdl_imports_are_served(soap_hub: Any, query: str) -> None:
    response = httpx.get(f"{soap_hub.url}/soap/land?{query}")
    assert response.status_code == 404
    assert b"root:" not in response.content and b"callers" not in response.content


def test_an_adapter_without_inbound_service_has_no_endpoint(soap_hub: Any) -> None:
    assert httpx.get(f"{soap_hub.url}/soap/tax?wsdl").status_code == 404
    response = post(soap_hub.client, "soap11", envelope("soap11", status_update())).request
    missing = soap_hub.client.post("/soap/tax", content=response.content, headers=dict(response.headers))
    assert missing.status_code == 404
    assert fault(missing).code == "Client"


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize("version", VERSIONS)
def test_a_status_update_is_stored_as_its_body_element_then_acknowledged(
    soap_hub: Any, version: Version
) -> None:
    data = envelope(version, status_update(), message_id=f"dkdd-{version}-1")
    response = post(soap_hub.client, version, data, action=STATUS_ACTION)

    assert response.status_code == 200, response.text
    assert answer_version(response) == version
    header = hub_header(response)
    assert header["requestHash"] == b64sha256(data)
    assert header["messageId"] == f"dkdd-{version}-1"
    answer = ack(response)
    assert answer["duplicate"] == "false"
    assert answer["routeStatus"] == "unroutable"  # no provincial one-stop adapter to route to yet
    assert answer["senderMessageId"] == f"dkdd-{version}-1"
    assert answer["correlationId"] == header["correlationId"] == str(derive_correlation_id(DOSSIER, None))

    view = soap_hub.status(answer["messageId"])
    assert view["kind"] == "status"
    assert view["sender"] == LAND
    assert view["recipient"] == PROVINCE
    assert view["dossier_code"] == DOSSIER
    assert view["correlation_id"] == answer["correlationId"]
    assert view["content_type"] == "application/xml"
    stored = soap_hub.client.get(f"/api/v1/messages/{answer['messageId']}/payload")
    assert view["payload_sha256"] == hashlib.sha256(stored.content).hexdigest()
    # The body element alone, as a document of its own: no Envelope, no header block.
    assert stored.content == body_element_bytes(data, version)
    root = etree.fromstring(stored.content)
    assert root.tag == f"{{{LAND_NS}}}CapNhatTrangThaiHoSo"
    assert root.findtext(f"{{{LAND_NS}}}TrangThai") == "4"
    assert b"messageId" not in stored.content
    envelope_ = soap_hub.hub.store.get_message(uuid.UUID(answer["messageId"])).envelope
    assert envelope_.headers == {
        "soap.adapter": "land",
        "soap.operation": "CapNhatTrangThaiHoSo",
        "soap.version": "1.1" if version == "soap11" else "1.2",
        "soap.request_hash": b64sha256(data),  # the request is still bound to what was stored
    }


def body_element_bytes(request: bytes, version: Version) -> bytes:
    """What the hub stores of a request: its body element, serialised as a document of its own."""
    ns = SOAP11_NS if version == "soap11" else SOAP12_NS
    entry = etree.fromstring(request).find(f"{{{ns}}}Body/*")
    assert entry is not None
    return etree.tostring(entry, encoding="UTF-8", xml_declaration=True, with_tail=False)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("body", "action", "operation"),
    [
        (status_update(), STATUS_ACTION, "CapNhatTrangThaiHoSo"),
        (status_update(), "", "CapNhatTrangThaiHoSo"),  # no action: the body element decides
        (result(), RESULT_ACTION, "TraKetQuaHoSo"),
        (result(), "", "TraKetQuaHoSo"),
    ],
    ids=["status-by-action", "status-by-element", "result-by-action", "result-by-element"],
)
def test_operations_are_dispatched_by_action_or_body_element(
    soap_hub: Any, version: Version, body: str, action: str, operation: str
) -> None:
    response = post(
        soap_hub.client, version, envelope(version, body, message_id=f"m-{uuid.uuid4()}"), action=action
    )
    assert response.status_code == 200, response.text
    record = soap_hub.hub.store.get_message(uuid.UUID(ack(response)["messageId"]))
    assert record.envelope.headers["soap.operation"] == operation
    assert (
        record.envelope.kind.value == {"CapNhatTrangThaiHoSo": "status", "TraKetQuaHoSo": "answer"}[operation]
    )


def test_a_repeat_gets_the_same_ack_and_other_content_under_the_same_id_is_refused(soap_hub: Any) -> None:
    data = envelope("soap11", status_update(), message_id="dkdd-repeat")
    first = ack(post(soap_hub.client, "soap11", data))
    again = post(soap_hub.client, "soap11", data)
    assert again.status_code == 200
    second = ack(again)
    assert second["duplicate"] == "true"
    assert {k: v for k, v in second.items() if k != "duplicate"} == {
        k: v for k, v in first.items() if k != "duplicate"
    }

    other = envelope("soap11", status_update(state="9"), message_id="dkdd-repeat")
    conflict = post(soap_hub.client, "soap11", other)
    assert_fault(conflict, "soap11", "Sender")
    assert fault_detail(conflict).findtext(f"{LT}code") == "idempotency-conflict"
    assert row_counts(soap_hub.project.database)["messages"] == 1


def test_a_status_update_joins_the_dossier_it_is_about(soap_hub: Any, land_sim: Any) -> None:
    """The one-stop system sends a dossier (REST), the hub delivers it to the registry, the registry
    pushes progress (SOAP): both messages share the dossier's correlation id; the update names the
    hub message that caused it."""
    sample = next(iter(sample_dossiers(1)))
    accepted = soap_hub.submit(dossier_body(sample.dossier_code, sample.procedure_code, sample.xml)).json()
    soap_hub.wait(accepted["message_id"])
    data = envelope(
        "soap12",
        status_update(sample.dossier_code, "6"),
        message_id="dkdd-progress-1",
        header=f"<lt:causationId>{accepted['message_id']}</lt:causationId>"
        f"<lt:client>{LAND}</lt:client><lt:service>{PROVINCE}/land/CapNhatTrangThaiHoSo</lt:service>",
    )
    answer = ack(post(soap_hub.client, "soap12", data, action=STATUS_ACTION))
    view = soap_hub.status(answer["messageId"])
    assert view["correlation_id"] == accepted["correlation_id"] == answer["correlationId"]
    assert view["causation_id"] == accepted["message_id"]


# ---------------------------------------------------------------- faults


def _two_bodies(version: Version) -> bytes:
    return envelope(version, status_update() + "\n    " + result())


FAULTS: dict[str, tuple[Callable[[Version], bytes], str | None, str, str]] = {
    # case: (request, action, fault code, detail code)
    "missing-message-id": (
        lambda v: envelope(v, status_update(), message_id=None),
        "",
        "Sender",
        "header-invalid",
    ),
    "blank-message-id": (
        lambda v: envelope(v, status_update(), message_id=" "),
        "",
        "Sender",
        "header-invalid",
    ),
    "bad-correlation-id": (
        lambda v: envelope(v, status_update(), header="<lt:correlationId>not-a-uuid</lt:correlationId>"),
        "",
        "Sender",
        "header-invalid",
    ),
    "wrong-client": (
        lambda v: envelope(v, status_update(), header="<lt:client>000.00.00.G15</lt:client>"),
        "",
        "Sender",
        "header-invalid",
    ),
    "two-body-elements": (_two_bodies, "", "Sender", "soap-invalid"),
    "empty-body": (lambda v: envelope(v, ""), "", "Sender", "soap-invalid"),
    "unknown-body-element": (
        lambda v: envelope(v, f'<dd:TiepNhanHoSo xmlns:dd="{LAND_NS}"/>'),
        "",
        "Sender",
        "unknown-operation",
    ),
    "unknown-action": (
        lambda v: envelope(v, status_update()),
        f"{LAND_NS}/XoaHoSo",
        "Sender",
        "unknown-operation",
    ),
    "action-disagrees-with-body": (
        lambda v: envelope(v, status_update()),
        RESULT_ACTION,
        "Sender",
        "unknown-operation",
    ),
    "not-well-formed": (lambda v: envelope(v, status_update())[:-30], "", "Sender", "xml-refused"),
    "must-understand": (
        lambda v: envelope(
            v,
            status_update(),
            header='<w:Security xmlns:w="urn:example:security" soap:mustUnderstand="'
            + ("1" if v == "soap11" else "true")
            + '"/>',
        ),
        "",
        "MustUnderstand",
        "must-understand",
    ),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", sorted(FAULTS))
def test_refused_requests_get_the_fault_the_spec_names_and_nothing_is_stored(
    soap_hub: Any, audit_log: pytest.LogCaptureFixture, version: Version, case: str
) -> None:
    make, action, code, detail_code = FAULTS[case]
    response = post(soap_hub.client, version, make(version), action=action)

    assert_fault(response, version, code)
    if (version, code) != ("soap11", "MustUnderstand"):  # SOAP 1.1 4.4: a MustUnderstand fault has no detail
        assert fault_detail(response).findtext(f"{LT}code") == detail_code
    assert_nothing_stored(soap_hub)
    refusals = [r.getMessage() for r in audit_log.records if r.name == "lienthong.audit"]
    assert any(f"reason={detail_code}" in line and "agency=000.00.00.G13" in line for line in refusals), (
        refusals
    )


def test_header_faults_follow_soap11_section_4_4(soap_hub: Any) -> None:
    """SOAP 1.1 forbids detail about headers in <detail>: it travels as a header block instead."""
    response = post(soap_hub.client, "soap11", envelope("soap11", status_update(), message_id=None))
    root = etree.fromstring(response.content)
    assert root.find(f"{{{SOAP11_NS}}}Header/{LT}faultDetail") is not None
    assert root.find(f".//{{{SOAP11_NS}}}Fault/detail") is None

    response = post(soap_hub.client, "soap12", envelope("soap12", status_update(), message_id=None))
    root = etree.fromstring(response.content)
    assert root.find(f".//{{{SOAP12_NS}}}Fault/{{{SOAP12_NS}}}Detail/{LT}faultDetail") is not None
    subcode = root.findtext(f".//{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Subcode/{{{SOAP12_NS}}}Value")
    assert subcode == "lt:header-invalid"
    reasons = root.findall(f".//{{{SOAP12_NS}}}Reason/{{{SOAP12_NS}}}Text")
    assert [r.get("{http://www.w3.org/XML/1998/namespace}lang") for r in reasons] == ["vi", "en"]


def test_must_understand_names_the_blocks_not_understood(soap_hub: Any) -> None:
    header = '<w:Security xmlns:w="urn:example:security" soap:mustUnderstand="true"/>'
    response = post(soap_hub.client, "soap12", envelope("soap12", status_update(), header=header))
    [block] = etree.fromstring(response.content).iterfind(f".//{{{SOAP12_NS}}}NotUnderstood")
    prefix, local = block.get("qname", "").split(":")
    assert (block.nsmap[prefix], local) == ("urn:example:security", "Security")
    # A block for another role, or not mandatory, is none of the hub's business.
    for other in (
        '<w:Security xmlns:w="urn:example:security" soap:mustUnderstand="true" '
        'soap:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>',
        '<w:Trace xmlns:w="urn:example:trace" soap:mustUnderstand="false"/>',
    ):
        data = envelope("soap12", status_update(), header=other, message_id=f"m-{uuid.uuid4()}")
        assert post(soap_hub.client, "soap12", data).status_code == 200


@pytest.mark.parametrize(
    ("sent_as", "envelope_of", "answered_in"),
    [
        ("soap11", "soap12", "soap11"),  # SOAP 1.1 section 4.4.1
        ("soap12", "soap11", "soap11"),  # SOAP 1.2 Part 1 appendix A: a 1.1 message gets a 1.1 fault
    ],
)
def test_the_wrong_envelope_version_is_a_version_mismatch(
    soap_hub: Any, sent_as: Version, envelope_of: Version, answered_in: Version
) -> None:
    response = post(soap_hub.client, sent_as, envelope(envelope_of, status_update()))
    assert response.status_code == 500
    assert answer_version(response) == answered_in
    assert fault(response).code == "VersionMismatch"
    upgrade = etree.fromstring(response.content).find(f".//{{{SOAP12_NS}}}Upgrade")
    assert upgrade is not None and len(upgrade) == 2  # env:SupportedEnvelope for 1.2 and 1.1
    assert_nothing_stored(soap_hub)


def test_a_foreign_root_under_soap12_is_a_version_mismatch(soap_hub: Any) -> None:
    response = post(soap_hub.client, "soap12", f"<Envelope>{status_update()}</Envelope>".encode())
    assert_fault(response, "soap12", "VersionMismatch")


def test_soap11_requires_the_soapaction_header(soap_hub: Any) -> None:
    response = post(soap_hub.client, "soap11", envelope("soap11", status_update()), action=None)
    assert_fault(response, "soap11", "Sender")
    assert "SOAPAction" in fault(response).reason


def test_a_non_soap_media_type_is_415(soap_hub: Any) -> None:
    data = envelope("soap11", status_update())
    response = soap_hub.client.post(
        "/soap/land", content=data, headers={"Content-Type": "application/xml", **LAND_HEADERS}
    )
    assert response.status_code == 415
    assert fault(response).code == "Client"
    assert_nothing_stored(soap_hub)


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_violations_are_located_and_explained(soap_hub: Any, version: Version) -> None:
    body = status_update(state="11", when="2026-11-21T10:15:00").replace(
        "</dd:NoiDung>", "</dd:NoiDung>\n      <dd:GhiChu>?</dd:GhiChu>"
    )
    data = envelope(version, body)
    response = post(soap_hub.client, version, data)

    assert_fault(response, version, "Sender")
    detail = fault_detail(response)
    assert detail.findtext(f"{LT}code") == "schema-invalid"
    violations = [
        {etree.QName(c).localname: c.text or "" for c in v} for v in detail.iterfind(f"{LT}violation")
    ]
    lines = data.decode().split("\n")
    by_path = {v["path"]: v for v in violations}
    state = by_path["/dd:CapNhatTrangThaiHoSo/dd:TrangThai"]
    assert lines[int(state["line"]) - 1].index("<dd:TrangThai>") + 1 == int(state["column"])
    assert "'11'" in state["message"]
    assert state["rule"] == "xs:enumeration of TrangThaiHoSoType"
    assert state["reason"]
    time_ = by_path["/dd:CapNhatTrangThaiHoSo/dd:ThoiGian"]
    assert time_["rule"] == "xs:pattern of ThoiDiemType"
    extra = by_path["/dd:CapNhatTrangThaiHoSo/dd:GhiChu"]
    assert extra["rule"] == "xs:sequence of CapNhatTrangThaiHoSoType"
    assert "GhiChu" in extra["reason"]
    assert_nothing_stored(soap_hub)


def test_an_internal_error_is_a_receiver_fault_that_leaks_nothing(
    soap_hub: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_envelope: Any) -> Any:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(soap_hub.hub.intake, "commit", broken)
    with caplog.at_level(logging.ERROR, logger="lienthong.gateway"):
        response = post(soap_hub.client, "soap12", envelope("soap12", status_update()))
    assert_fault(response, "soap12", "Receiver")
    assert b"hunter2" not in response.content and b"RuntimeError" not in response.content
    reference = fault_detail(response).findtext(f"{LT}reference")
    assert reference and any(reference in r.getMessage() and r.exc_info for r in caplog.records)
    response = post(soap_hub.client, "soap11", envelope("soap11", status_update()))
    assert_fault(response, "soap11", "Server")


# ---------------------------------------------------------------- who may call


@pytest.mark.parametrize("version", VERSIONS)
def test_without_a_key_the_answer_is_401_with_a_fault(soap_hub: Any, version: Version) -> None:
    data = envelope(version, status_update())
    headers = {k: v for k, v in soap_headers(version).items() if k != "X-API-Key"}
    response = httpx.post(f"{soap_hub.url}/soap/land", content=data, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("ApiKey")
    assert fault(response).code == SENDER_CODES[version]
    assert hub_header(response)["requestHash"] == b64sha256(data)
    assert_nothing_stored(soap_hub)


def test_only_the_adapters_agency_may_push_to_it(soap_hub: Any, audit_log: pytest.LogCaptureFixture) -> None:
    """The one-stop system (H49) has a valid key, but /soap/land is the land registry's (G13)."""
    response = post(
        soap_hub.client, "soap11", envelope("soap11", status_update()), **{"X-API-Key": MOTCUA_API_KEY}
    )
    assert response.status_code == 403
    assert fault(response).code == "Client"
    assert fault_detail(response).findtext(f"{LT}code") == "forbidden"
    assert_nothing_stored(soap_hub)
    assert any("reason=forbidden agency=000.00.00.H49" in r.getMessage() for r in audit_log.records)


def test_each_operation_must_be_granted(
    hub_factory: Callable[..., Any], project_factory: Callable[..., Any], land_sim: Any
) -> None:
    callers = [
        {
            "agency": PROVINCE,
            "name": "Một cửa",
            "api_key_sha256": [api_key_digest(MOTCUA_API_KEY)],
            "services": ["rest:read"],
        },
        {
            "agency": LAND,
            "name": "Đăng ký đất đai",
            "api_key_sha256": [api_key_digest(LAND_KEY)],
            "services": ["soap:land/CapNhatTrangThaiHoSo"],
        },
    ]
    hub = hub_factory(project_factory(land_sim.url, callers=callers), environ={})
    assert post(hub.client, "soap12", envelope("soap12", status_update())).status_code == 200
    refused = post(hub.client, "soap12", envelope("soap12", result(), message_id="other"))
    assert refused.status_code == 403
    assert fault(refused).code == "Sender"
    assert row_counts(hub.project.database)["messages"] == 1


# ---------------------------------------------------------------- zeep, from the published WSDL


class RecordingTransport(zeep.Transport):
    """zeep's transport, keeping the exact bytes of every request it posts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]  # zeep is untyped
        self.sent: list[bytes] = []

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> Any:
        self.sent.append(message if isinstance(message, bytes) else message.encode("utf-8"))
        return super().post(address, message, headers)  # type: ignore[no-untyped-call]


@pytest.fixture
def zeep_client(soap_hub: Any) -> Iterator[tuple[zeep.Client, RecordingTransport]]:
    session = requests.Session()
    session.headers["X-API-Key"] = LAND_KEY
    transport = RecordingTransport(session=session, timeout=10, operation_timeout=10)
    client = zeep.Client(f"{soap_hub.url}/soap/land?wsdl", transport=transport)  # type: ignore[no-untyped-call]
    yield client, transport
    session.close()


@pytest.mark.parametrize("port", ["HubInboundLandSoap11", "HubInboundLandSoap12"])
def test_a_zeep_client_built_from_the_wsdl_calls_every_operation(
    soap_hub: Any, zeep_client: tuple[zeep.Client, RecordingTransport], port: str
) -> None:
    client, transport = zeep_client
    service = client.bind("HubInboundLandService", port)
    calls: dict[str, dict[str, Any]] = {
        "CapNhatTrangThaiHoSo": dict(
            MaHoSoMotCua=DOSSIER,
            MaHoSoDatDai="DD-2026-000123",
            TrangThai="6",  # financial obligation: with the tax notices (land/tax workflow)
            ThoiGian="2026-11-22T09:00:00+07:00",
            NoiDung="Nộp thuế theo thông báo",
            DanhSachThongBaoThue={
                "ThongBaoThue": [
                    {
                        "SoThongBaoThue": "TB-2026-7781",
                        "LoaiThue": "Thuế thu nhập cá nhân",
                        "HoTenChu": "Nguyễn Thị Hương",
                        "SoTien": 25_000_000,
                    }
                ]
            },
        ),
        "TraKetQuaHoSo": dict(
            MaHoSoMotCua=DOSSIER,
            MaHoSoDatDai="DD-2026-000123",
            KetQua="DaCapGiayChungNhan",
            ThoiGian="2026-12-05T15:30:00+07:00",
            GiayChungNhan={
                "SoPhatHanh": "DE 123456",
                "SoVaoSo": "CS01234",
                "NgayCap": "2026-12-05",
                "CoQuanCap": "Sở Tài nguyên và Môi trường tỉnh Quảng Ninh",
            },
        ),
        "GuiPhieuChuyenThongTinDiaChinh": dict(  # for the tax authority (land/tax workflow)
            SoPhieu="PCTT-2026-000311",
            MaHoSoMotCua=DOSSIER,
            SoBienNhan=DOSSIER,
            MaHoSoDatDai="DD-2026-000123",
            MaTTHC="1.004227",
            NgayLapPhieu="2026-11-25T09:40:00+07:00",
            NguoiNopThue={
                "HoTen": "Nguyễn Thị Hương",
                "SoGiayTo": "022188004512",
                "DiaChi": "Số 18 đường Trần Hưng Đạo, phường Hồng Gai, thành phố Hạ Long",
            },
            ThongTinThuaDat=[
                {
                    "SoThuTuThua": 125,
                    "SoHieuBanDo": "38",
                    "DienTich": "96.5",
                    "DiaChiChiTiet": "Tổ 4, khu 2, phường Bãi Cháy, thành phố Hạ Long",
                }
            ],
        ),
    }
    assert set(calls) == set(client.wsdl.services["HubInboundLandService"].ports[port].binding._operations)
    for operation, args in calls.items():
        message_id = f"zeep-{port}-{operation}"
        answer = getattr(service, operation)(**args, _soapheaders={"messageId": message_id})
        assert answer.body.duplicate is False
        assert answer.body.senderMessageId == message_id
        assert base64.b64encode(answer.header.requestHash._value_1).decode() == b64sha256(transport.sent[-1])
        record = soap_hub.hub.store.get_message(uuid.UUID(answer.body.messageId))
        version: Version = "soap11" if port.endswith("11") else "soap12"
        assert record.envelope.payload == body_element_bytes(transport.sent[-1], version)
        assert record.envelope.headers["soap.request_hash"] == b64sha256(transport.sent[-1])
        assert record.envelope.headers["soap.operation"] == operation
        assert record.envelope.dossier_code == DOSSIER


def test_zeep_sees_the_hubs_faults(zeep_client: tuple[zeep.Client, RecordingTransport]) -> None:
    client, _ = zeep_client
    service = client.bind("HubInboundLandService", "HubInboundLandSoap12")
    with pytest.raises(zeep.exceptions.Fault) as info:
        service.CapNhatTrangThaiHoSo(
            MaHoSoMotCua=DOSSIER, MaHoSoDatDai="DD-1", TrangThai="4", ThoiGian="2026-11-22T09:00:00+07:00"
        )  # no lt:messageId
    assert "lt:messageId" in info.value.message
    assert info.value.code.endswith("Sender")
    assert info.value.subcodes[0].text == f"{LT}header-invalid"  # a QName, resolved by zeep
    assert info.value.detail.find(f"{LT}faultDetail/{LT}code").text == "header-invalid"
