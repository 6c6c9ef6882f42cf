"""Every refusal answers well and is recorded (docs/api.md, docs/soap.md), over real HTTP.

REST refusals answer problem+json and SOAP ones a Fault, each with the right status, and each leaves
exactly one line on ``lienthong.audit`` naming the reason, the agency, the service and the remote
address — never the key or the payload. An error that is the hub's own is a 500 in the caller's
protocol with a reference the operators find in the log, never ``text/plain``.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from soap_support import HUB_ENVIRON, LAND, LAND_HEADERS, PROVINCE, fault, fault_detail
from support import MOTCUA_API_KEY

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.trust.keys import DevCa, create_dev_ca
from lienthong.xml import parse_xml

PROBLEM_JSON = "application/problem+json"
SOAP11 = "text/xml; charset=utf-8"


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="lienthong.audit"):
        yield caplog


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "lienthong.audit" and r.getMessage().startswith("refused ")
    ]


def dossier(index: int = 0, *, xml: bytes | None = None, **extra: Any) -> dict[str, Any]:
    s = sample_dossiers(index + 1)[index]
    return dossier_body(s.dossier_code, s.procedure_code, xml or s.xml, f"refusals-{uuid.uuid4()}") | extra


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:lienthong:problem:{code}"
    assert body["status"] == status
    vietnamese, _english = body["title"].split(" / ")
    assert not vietnamese.isascii()
    return body


#: Text the sample dossier carries (names, ID numbers, addresses): never in an audit line.
_TEXTS = [str(t).strip() for t in parse_xml(sample_dossiers(1)[0].xml).itertext()]
CITIZEN_DATA = [t for t in _TEXTS if len(t) >= 6 and not t.isascii()] + [
    t for t in _TEXTS if t.isdigit() and len(t) >= 9
]


def _schema_breaking() -> bytes:
    text = sample_dossiers(1)[0].xml.decode("utf-8")
    return text.replace("<ChuHoSo>", "<ChuHoSoX>").replace("</ChuHoSo>", "</ChuHoSoX>").encode("utf-8")


def _bad_id_number() -> bytes:
    """The sample dossier with its owner's ID number (whatever the day's sample holds) made invalid."""
    xml = sample_dossiers(1)[0].xml
    return re.sub(rb"(<SoGiayToChuHoSo>\d+)<", rb"\1 *<", xml, count=1)


def _refuse_conflict(hub: Any) -> httpx.Response:
    first = dossier()
    assert hub.submit(first).status_code == 202
    other = sample_dossiers(2)[1].xml
    refused: httpx.Response = hub.submit(first | {"payload_base64": base64.b64encode(other).decode()})
    return refused


def _post_raw(hub: Any, data: bytes, content_type: str) -> httpx.Response:
    client: httpx.Client = hub.client
    return client.post("/api/v1/messages", content=data, headers={"content-type": content_type})


SUBMIT, READ = "rest:submit", "rest:read"
#: (name, how to provoke it, status, problem type, agency in the audit line (a pattern), service in it)
REST_REFUSALS: list[tuple[str, Callable[[Any], httpx.Response], int, str, str, str]] = [
    ("xml", lambda h: h.submit(dossier(xml=b"<HoSo><a></HoSo>")), 422, "xml-refused", PROVINCE, SUBMIT),
    ("schema", lambda h: h.submit(dossier(xml=_schema_breaking())), 422, "schema-invalid", PROVINCE, SUBMIT),
    # libxml2 quotes the value it refuses (an ID number that breaks its pattern): not into the log.
    ("schema-value", lambda h: h.submit(dossier(xml=_bad_id_number())), 422, "schema-invalid", PROVINCE,
     SUBMIT),
    ("conflict", _refuse_conflict, 409, "idempotency-conflict", PROVINCE, SUBMIT),
    ("too-large", lambda h: h.submit(dossier(xml=b"<HoSo>" + b" " * 5000 + b"</HoSo>")), 413,
     "payload-too-large", PROVINCE, SUBMIT),
    ("media-type", lambda h: _post_raw(h, b"{}", "text/plain"), 415, "unsupported-media-type", PROVINCE,
     SUBMIT),
    ("contract", lambda h: h.submit({"kind": "dossier"}), 422, "request-invalid", PROVINCE, SUBMIT),
    # Today the body is parsed before the caller is identified, so the agency may not be known yet.
    ("not-json", lambda h: _post_raw(h, b"{", "application/json"), 400, "malformed-request",
     f"(-|{PROVINCE})", SUBMIT),
    ("not-found", lambda h: h.client.get(f"/api/v1/messages/{uuid.uuid4()}"), 404, "not-found", PROVINCE,
     READ),
    ("no-route", lambda h: h.client.get("/api/v1/nothing-here"), 404, "not-found", "-", "-"),
    ("method", lambda h: h.client.delete("/api/v1/messages"), 405, "method-not-allowed", "-", "-"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("provoke", "status", "code", "agency", "service"),
    [pytest.param(*case[1:], id=case[0]) for case in REST_REFUSALS],
)
def test_every_rest_refusal_is_problem_json_and_one_audit_line(
    hub_factory: Callable[..., Any],
    audit: pytest.LogCaptureFixture,
    provoke: Callable[[Any], httpx.Response],
    status: int,
    code: str,
    agency: str,
    service: str,
) -> None:
    hub = hub_factory(api={"max_payload_size": "4KiB"})
    audit.clear()
    response = provoke(hub)
    assert_problem(response, status, code)
    (line,) = refusals(audit)
    expected = f"refused reason={code} agency={agency} service={re.escape(service)} remote=127\\.0\\.0\\.1:"
    assert re.match(expected, line), line
    assert f"{response.request.method} {response.request.url.path}" in line
    assert MOTCUA_API_KEY not in audit.text
    assert CITIZEN_DATA
    for value in CITIZEN_DATA:
        assert value not in audit.text


def test_a_method_not_allowed_names_the_allowed_ones(hub_server: Any) -> None:
    response = hub_server.client.put("/api/v1/messages", json={})
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    "raw",
    [
        rb'"payload": "\ud800"',
        rb'"payload": "<HoSo>x\udfff</HoSo>"',
        rb'"payload": "<HoSo/>", "headers": {"x-\ud83d": "v"}',
        rb'"payload": "<HoSo/>", "dossier_code": "\ud800"',
    ],
    ids=["payload", "payload-low-surrogate", "header-name", "dossier-code"],
)
def test_a_lone_surrogate_is_a_422_problem_not_a_500(
    hub_server: Any, audit: pytest.LogCaptureFixture, raw: bytes
) -> None:
    data = b'{"sender_message_id": "surrogate-1", "kind": "dossier", "sender": "%s", %s}' % (
        PROVINCE.encode(),
        raw,
    )
    response = hub_server.client.post(
        "/api/v1/messages", content=data, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "request-invalid")
    # Named by the hub's own check, or by pydantic's where it sees the text first.
    assert any("surrogate" in e["message"] or "unicode" in e["message"] for e in body["errors"]), body
    assert hub_server.count_messages() == 0
    assert len(refusals(audit)) == 1


def test_an_unexpected_error_is_a_problem_500_with_a_reference_in_the_log(
    hub_server: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("disk on fire at /var/lib/hub")

    monkeypatch.setattr(hub_server.hub.store, "list_messages", broken)
    with caplog.at_level(logging.ERROR, logger="lienthong.api"):
        response = hub_server.client.get("/api/v1/messages")
    body = assert_problem(response, 500, "hub-error")
    assert "disk on fire" not in response.text  # the detail stays in the log
    reference = body["reference"]
    assert re.fullmatch(r"[0-9a-f-]{36}", reference)
    (record,) = [r for r in caplog.records if r.name == "lienthong.api" and reference in r.getMessage()]
    assert record.exc_info is not None and "disk on fire" in str(record.exc_info[1])


# ---------------------------------------------------------------- under /soap/: SOAP Faults


@pytest.fixture
def soap_hub(hub_factory: Callable[..., Any]) -> Any:
    return hub_factory(environ=HUB_ENVIRON, headers=LAND_HEADERS)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/soap/land", 404),  # neither ?wsdl nor ?xsd
        ("GET", "/soap/land?xsd=nope.xsd", 404),
        ("GET", "/soap/nowhere?wsdl", 404),
        ("GET", "/soap/land/deeper", 404),
        ("PUT", "/soap/land", 405),
        ("DELETE", "/soap/nowhere", 405),
    ],
)
def test_http_refusals_under_soap_are_soap_faults_and_audited(
    soap_hub: Any, audit: pytest.LogCaptureFixture, method: str, path: str, status: int
) -> None:
    audit.clear()
    response = soap_hub.client.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == SOAP11
    assert fault(response).code == "Client"
    code = "not-found" if status == 404 else "method-not-allowed"
    assert fault_detail(response).findtext("{*}code") == code
    if status == 405:
        assert "POST" in response.headers["allow"]
    (line,) = refusals(audit)
    adapter = path.split("?", maxsplit=1)[0].split("/")[2]
    assert line.startswith(f"refused reason={code} agency=- service=soap:{adapter} remote=127.0.0.1:"), line


def test_an_unexpected_error_under_soap_is_a_receiver_fault_with_a_reference(
    soap_hub: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("template missing")

    monkeypatch.setattr(type(soap_hub.hub.inbound["land"].published), "render", broken)
    with caplog.at_level(logging.ERROR, logger="lienthong.api"):
        response = soap_hub.client.get("/soap/land?wsdl")
    assert response.status_code == 500
    assert response.headers["content-type"] == SOAP11
    assert fault(response).code == "Server"
    assert "template missing" not in response.text
    reference = fault_detail(response).findtext("{*}reference")
    assert reference and any(reference in r.getMessage() for r in caplog.records if r.name == "lienthong.api")


# ---------------------------------------------------------------- signatures, alike on both paths


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Đăng ký đất đai"})


def test_a_rest_signature_refusal_is_audited_like_a_soap_one(
    hub_factory: Callable[..., Any],
    project_factory: Callable[..., Any],
    land_sim: Any,
    dev_ca: DevCa,
    audit: pytest.LogCaptureFixture,
) -> None:
    project = project_factory(land_sim.url)
    anchors = [str(dev_ca.ca_certificate)]
    project.update(
        "hub.yaml", {"trust": {"agencies": {PROVINCE: {"anchors": anchors, "require_signature": True}}}}
    )
    hub = hub_factory(project)
    audit.clear()
    response = hub.submit(dossier())
    assert_problem(response, 403, "signature-missing")
    (line,) = refusals(audit)
    assert line.startswith(f"refused reason=signature-missing agency={PROVINCE} service=rest:submit "), line
