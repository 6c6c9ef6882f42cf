"""REST intake end to end: a provincial system's HTTP calls, the hub's answers, the registry's inbox.

Every test talks to a hub served by uvicorn on loopback and delivering to the land registry
simulator over real SOAP. The assertions are what a sender, an operator or the registry sees: HTTP
statuses and problem+json bodies, the status API, the registry's ``/_sim/`` view, and the rows the
SQLite database holds (a refused request must leave none behind).
"""

from __future__ import annotations

import base64
import hashlib
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache
from typing import Any

import httpx
import pytest
from land_support import LAND_NS
from lxml import etree
from soap_support import row_counts

from lienthong.delivery.breaker import BreakerState
from lienthong.devtools.samples import HOSO_NS, PROCEDURE_CODE, SampleDossier, sample_dossiers
from lienthong.soap import parse_envelope, request_hash
from lienthong.xml import HUB_NS, SOAP11_NS, parse_xml

PROVINCE = "000.00.00.H49"
DAY = date(2026, 11, 21)
PROBLEM_JSON = "application/problem+json"
LAND_RULE: dict[str, Any] = {
    "name": "land-transfer",
    "match": {
        "kind": "dossier",
        "procedure_code": ["1.004227*"],
        "xpath": "boolean(/h:HoSo/h:ThongTinThuaDat)",
        "namespaces": {"h": HOSO_NS},
    },
    "targets": ["land"],
}

HubFactory = Callable[..., Any]


@cache
def samples() -> tuple[SampleDossier, ...]:
    return tuple(sample_dossiers(8, day=DAY))


def sample(index: int = 0) -> SampleDossier:
    return samples()[index]


def body(
    payload: bytes,
    *,
    sender_message_id: str | None = None,
    procedure: str = PROCEDURE_CODE,
    dossier_code: str | None = "000.00.00.H49-261121-0001",
    content_type: str = "application/xml",
    **extra: Any,
) -> dict[str, Any]:
    """A message as a one-stop system sends it: payload as base64, so the exact bytes travel."""
    return {
        "sender_message_id": sender_message_id or f"motcua-{uuid.uuid4()}",
        "kind": "dossier",
        "sender": PROVINCE,
        "procedure_code": procedure,
        "dossier_code": dossier_code,
        "content_type": content_type,
        "payload_base64": base64.b64encode(payload).decode("ascii"),
        **extra,
    }


def dossier(index: int = 0, **extra: Any) -> dict[str, Any]:
    s = sample(index)
    return body(s.xml, dossier_code=s.dossier_code, **extra)


def assert_problem(response: httpx.Response, status: int, code: str, english_title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:lienthong:problem:{code}"
    assert problem["status"] == status
    vietnamese, english = problem["title"].split(" / ")
    assert english == english_title
    assert not vietnamese.isascii(), "the title must also be in Vietnamese"
    assert problem["detail"]
    return problem


def without_declaration(xml: bytes) -> bytes:
    assert xml.startswith(b"<?xml")
    return xml.split(b"?>", 1)[1].strip()


def assert_sent_as_soap(hub: Any, sim: Any, message_id: str, correlation_id: str) -> None:
    """The registry got the stored translation, byte for byte, in a SOAP 1.1 envelope with the
    hub's header; its answer is bound to exactly that request."""
    [stored] = hub.hub.store.get_message(uuid.UUID(message_id)).deliveries
    request = stored.history[-1].request
    assert sim.request_hash(message_id) == request_hash(request), "the registry got other bytes"
    envelope = parse_xml(request)
    assert envelope.tag == f"{{{SOAP11_NS}}}Envelope"
    header = envelope.find(f"{{{SOAP11_NS}}}Header")
    assert header is not None
    assert header.findtext(f"{{{HUB_NS}}}messageId") == message_id
    assert header.findtext(f"{{{HUB_NS}}}correlationId") == correlation_id
    assert header.findtext(f"{{{HUB_NS}}}client") == PROVINCE
    [soap_body] = envelope.iterfind(f"{{{SOAP11_NS}}}Body/*")
    assert soap_body.tag == f"{{{LAND_NS}}}TiepNhanHoSo"
    assert without_declaration(stored.payload) in request
    assert etree.tostring(soap_body, method="c14n", exclusive=True) == etree.tostring(
        parse_xml(stored.payload), method="c14n", exclusive=True
    )

    answer = parse_envelope(stored.response, "soap11")
    assert answer.fault is None
    assert answer.header["requestHash"] == request_hash(request)
    assert answer.body is not None
    assert answer.body.findtext(f"{{{LAND_NS}}}MaHoSoDatDai")


# ---------------------------------------------------------------- the happy path


def test_a_land_dossier_reaches_the_registry_in_a_soap_envelope(hub_server: Any, land_sim: Any) -> None:
    s = sample()
    response = hub_server.submit(dossier())

    assert response.status_code == 202, response.text
    accepted = response.json()
    message_id = accepted["message_id"]
    assert uuid.UUID(message_id)
    assert accepted["duplicate"] is False
    assert response.headers["location"] == accepted["status_url"]
    assert accepted["status_url"] == f"{hub_server.url}/api/v1/messages/{message_id}"
    assert accepted["route"] == {
        "status": "routed",
        "rule": "land-transfer",
        "targets": ["land"],
        "reason": "matched rule 'land-transfer'",
    }

    view = hub_server.wait(message_id)
    assert view["correlation_id"] == accepted["correlation_id"]
    assert view["payload_sha256"] == hashlib.sha256(s.xml).hexdigest()
    [delivery] = view["deliveries"]
    assert delivery["target"] == "land"
    assert delivery["attempts"] == 1
    assert delivery["delivered_at"] is not None
    [attempt] = delivery["history"]
    assert (attempt["number"], attempt["outcome"], attempt["response_status"], attempt["error"]) == (
        1,
        "delivered",
        200,
        None,
    )

    # The registry saw one call, carrying the hub's ids and the province as client.
    [seen] = land_sim.received()
    assert seen["message_id"] == message_id
    assert seen["correlation_id"] == accepted["correlation_id"]
    assert seen["client"] == PROVINCE
    assert seen["service"] == "000.00.00.G13/land/TiepNhanHoSo"
    assert (seen["outcome"], seen["count"]) == ("accepted", 1)
    assert land_sim.stats()["total"] == 1

    assert_sent_as_soap(hub_server, land_sim, message_id, accepted["correlation_id"])

    # And the sender can fetch its payload back exactly as it was sent.
    payload = hub_server.client.get(f"/api/v1/messages/{message_id}/payload")
    assert payload.status_code == 200
    assert payload.content == s.xml
    assert payload.headers["content-type"].startswith("application/xml")
    assert payload.headers["digest"] == f"sha-256={hashlib.sha256(s.xml).hexdigest()}"


def test_a_utf16_dossier_is_delivered_and_kept_byte_exact(hub_server: Any, land_sim: Any) -> None:
    s = sample(1)
    text = s.xml.decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'")
    utf16 = text.replace("\n", "\r\n").encode("utf-16")  # with BOM and CRLF line ends
    applicant = parse_xml(s.xml).findtext(f"{{{HOSO_NS}}}ChuHoSo")
    assert applicant and not applicant.isascii()

    accepted = hub_server.submit(body(utf16, dossier_code=s.dossier_code)).json()
    assert accepted["route"]["status"] == "routed"
    view = hub_server.wait(accepted["message_id"])

    assert view["payload_size"] == len(utf16)
    assert hub_server.client.get(f"/api/v1/messages/{accepted['message_id']}/payload").content == utf16
    request = (
        hub_server.hub.store.get_message(uuid.UUID(accepted["message_id"])).deliveries[0].history[0].request
    )
    assert applicant.encode("utf-8") in request, "the registry must get the applicant's name intact"


def test_binary_payloads_are_stored_and_returned_exactly(hub_server: Any) -> None:
    raw = bytes(range(256)) * 4 + b"\xff\xfe\x00not utf-8 \xc3\x28"
    response = hub_server.submit(body(raw, content_type="application/pdf"))

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["route"]["status"] == "unroutable"  # no rule takes a PDF; it is kept, not lost
    back = hub_server.client.get(f"/api/v1/messages/{accepted['message_id']}/payload")
    assert back.content == raw
    assert back.headers["content-type"] == "application/pdf"
    assert back.headers["digest"] == f"sha-256={hashlib.sha256(raw).hexdigest()}"


def test_decomposed_vietnamese_metadata_and_payload_are_stored_nfc(hub_server: Any, land_sim: Any) -> None:
    s = sample(2)
    nfd_payload = unicodedata.normalize("NFD", s.xml.decode("utf-8")).encode("utf-8")
    assert nfd_payload != s.xml
    sender_id = "hồ-sơ-Hạ-Long-0001"
    recipient = "Văn phòng Đăng ký đất đai Quảng Ninh"
    message = body(
        nfd_payload,
        sender_message_id=unicodedata.normalize("NFD", sender_id),
        recipient=unicodedata.normalize("NFD", recipient),
        dossier_code=s.dossier_code,
    )
    message.pop("payload_base64")
    message["payload"] = nfd_payload.decode("utf-8")  # as JSON text

    accepted = hub_server.submit(message).json()
    view = hub_server.wait(accepted["message_id"])

    assert view["sender_message_id"] == unicodedata.normalize("NFC", sender_id)
    assert view["recipient"] == unicodedata.normalize("NFC", recipient)
    # The payload is stored in NFC (docs/vietnamese-text.md): here, the sample's own bytes again.
    assert view["payload_sha256"] == hashlib.sha256(s.xml).hexdigest()
    back = hub_server.client.get(f"/api/v1/messages/{accepted['message_id']}/payload").content
    assert back == s.xml

    # Composed or decomposed, it is the same message id: a resend in NFC is a duplicate.
    again = {**message, "sender_message_id": sender_id, "recipient": recipient}
    repeat = hub_server.submit(again).json()
    assert (repeat["duplicate"], repeat["message_id"]) == (True, accepted["message_id"])


# ---------------------------------------------------------------- idempotency


def test_the_same_message_sent_twice_is_delivered_once(hub_server: Any, land_sim: Any) -> None:
    message = dossier()
    first = hub_server.submit(message)
    second = hub_server.submit(message)

    assert (first.status_code, second.status_code) == (202, 202)
    a, b = first.json(), second.json()
    assert (a["duplicate"], b["duplicate"]) == (False, True)
    assert b["message_id"] == a["message_id"] != message["sender_message_id"]
    assert b["sender_message_id"] == a["sender_message_id"] == message["sender_message_id"]
    assert b["correlation_id"] == a["correlation_id"]
    assert second.headers["location"] == first.headers["location"]
    view = hub_server.wait(a["message_id"])
    assert len(view["deliveries"]) == 1
    assert row_counts(hub_server.project.database)["messages"] == 1
    assert land_sim.stats()["total"] == 1


def test_the_deprecated_message_id_field_is_still_the_senders_id(hub_server: Any, land_sim: Any) -> None:
    """API 1.0 clients name the sender's id ``message_id``: it is taken as ``sender_message_id``, so
    the same message sent under either name is one message; both names at once is ambiguous."""
    message = dossier()
    old_style = {("message_id" if k == "sender_message_id" else k): v for k, v in message.items()}
    assert "sender_message_id" not in old_style

    first = hub_server.submit(old_style)
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert accepted["sender_message_id"] == message["sender_message_id"]
    assert hub_server.wait(accepted["message_id"])["sender_message_id"] == message["sender_message_id"]

    repeat = hub_server.submit(message).json()
    assert (repeat["duplicate"], repeat["message_id"]) == (True, accepted["message_id"])

    both = {**message, "message_id": "another-id"}
    problem = assert_problem(hub_server.submit(both), 422, "request-invalid", "Invalid request")
    assert any("sender_message_id" in e["message"] for e in problem["errors"])
    assert row_counts(hub_server.project.database)["messages"] == 1


def test_the_openapi_document_names_the_old_field_deprecated(hub_server: Any) -> None:
    schema = hub_server.client.get("/openapi.json").json()["components"]["schemas"]["SubmitMessage"]
    assert schema["properties"]["message_id"]["deprecated"] is True
    assert "sender_message_id" in schema["properties"]
    assert schema["oneOf"] == [{"required": ["sender_message_id"]}, {"required": ["message_id"]}]


def test_a_reused_message_id_with_other_content_is_refused(hub_server: Any, land_sim: Any) -> None:
    message = dossier()
    accepted = hub_server.submit(message).json()
    hub_server.wait(accepted["message_id"])
    before = row_counts(hub_server.project.database)

    changed = {**dossier(3), "sender_message_id": message["sender_message_id"]}
    problem = assert_problem(
        hub_server.submit(changed), 409, "idempotency-conflict", "Message id reused for different content"
    )

    assert message["sender_message_id"] in problem["detail"]
    assert "different content" in problem["detail"]
    assert problem["message_id"] == accepted["message_id"]
    assert row_counts(hub_server.project.database) == before
    assert land_sim.stats()["total"] == 1


# ---------------------------------------------------------------- refused input


def test_malformed_json_is_a_400_and_stores_nothing(hub_server: Any) -> None:
    before = row_counts(hub_server.project.database)
    response = hub_server.client.post(
        "/api/v1/messages",
        content=b'{"sender_message_id": "x", "kind": ',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed-request", "Malformed request")
    assert row_counts(hub_server.project.database) == before


@pytest.mark.parametrize(
    ("payload_base64", "reason"),
    [
        ("PEhvU28v*", "Only base64 data is allowed"),  # a character outside the alphabet
        ("PEhvU28vPg", "Incorrect padding"),  # cut short
        ("PEhvU28vPg==QQ==", "Excess data after padding"),
        ("PEhvU28vPg==ạ", "only ASCII characters"),  # once a 500 text/plain: a ValueError, not binascii's
    ],
    ids=["alphabet", "padding", "after-padding", "non-ascii"],
)
def test_a_payload_that_is_not_base64_is_a_422_and_stores_nothing(
    hub_server: Any, payload_base64: str, reason: str
) -> None:
    before = row_counts(hub_server.project.database)
    message = dossier() | {"payload_base64": payload_base64}

    problem = assert_problem(hub_server.submit(message), 422, "invalid-message", "Invalid message")

    assert problem["detail"].startswith("payload_base64 is not valid base64: ")
    assert reason in problem["detail"]
    assert row_counts(hub_server.project.database) == before


def test_missing_fields_are_listed_by_location(hub_server: Any) -> None:
    before = row_counts(hub_server.project.database)
    response = hub_server.client.post("/api/v1/messages", json={"kind": "dossier", "payload": "<a/>"})
    problem = assert_problem(response, 422, "request-invalid", "Invalid request")
    locations = {e["location"] for e in problem["errors"]}
    assert {"body.sender_message_id", "body.sender"} <= locations
    assert all(e["message"] for e in problem["errors"])
    assert row_counts(hub_server.project.database) == before


def test_xml_that_is_not_well_formed_is_refused_with_its_position(hub_server: Any) -> None:
    text = sample().xml.decode("utf-8")
    line = next(i for i, text_line in enumerate(text.splitlines(), start=1) if "</ChuHoSo>" in text_line)
    broken = text.replace("</ChuHoSo>", "</ChuHoSoo>").encode("utf-8")
    before = row_counts(hub_server.project.database)

    problem = assert_problem(hub_server.submit(body(broken)), 422, "xml-refused", "XML refused")

    assert "not well-formed" in problem["detail"]
    assert problem["line"] == line
    assert isinstance(problem["column"], int) and problem["column"] > 0
    assert row_counts(hub_server.project.database) == before


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        b'<HoSo xmlns="urn:lienthong:province:hoso:1"><ChuHoSo>&lol2;</ChuHoSo></HoSo>',
        b'<?xml version="1.0"?>\n<!DOCTYPE HoSo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<HoSo xmlns="urn:lienthong:province:hoso:1"><ChuHoSo>&xxe;</ChuHoSo></HoSo>',
        b'<!DOCTYPE HoSo SYSTEM "http://127.0.0.1:9/hoso.dtd">\n'
        b'<HoSo xmlns="urn:lienthong:province:hoso:1"/>',
    ],
    ids=["entity-expansion", "external-entity", "external-dtd"],
)
def test_doctype_and_entities_are_refused(hub_server: Any, payload: bytes) -> None:
    before = row_counts(hub_server.project.database)
    problem = assert_problem(hub_server.submit(body(payload)), 422, "xml-refused", "XML refused")
    assert "DOCTYPE" in problem["detail"]
    assert row_counts(hub_server.project.database) == before


def test_a_dossier_that_breaks_the_schema_is_refused_with_every_violation(hub_server: Any) -> None:
    text = sample().xml.decode("utf-8")
    line = next(i for i, text_line in enumerate(text.splitlines(), start=1) if "<ChuHoSo>" in text_line)
    invalid = text.replace("<ChuHoSo>", "<ChuHoSoX>").replace("</ChuHoSo>", "</ChuHoSoX>").encode("utf-8")
    before = row_counts(hub_server.project.database)

    problem = assert_problem(
        hub_server.submit(body(invalid)), 422, "schema-invalid", "Schema validation failed"
    )

    assert "hoso.xsd" in problem["detail"]
    [violation, *_] = problem["violations"]
    assert violation["line"] == line
    assert violation["column"] == invalid.decode().splitlines()[line - 1].index("<ChuHoSoX") + 1
    assert violation["rule"] == "xs:sequence of HoSoType"  # xmlschema names the rule libxml2 only describes
    assert "ChuHoSoX" in violation["message"]
    children = [c.tag for c in parse_xml(sample().xml)]
    assert violation["path"] == f"/*/*[{children.index(f'{{{HOSO_NS}}}ChuHoSo') + 1}]"
    assert row_counts(hub_server.project.database) == before


def _chunks(data: bytes, size: int = 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_before_it_is_read(hub_factory: HubFactory, framing: str) -> None:
    hub = hub_factory(api={"max_body_size": "16KiB"})
    big = body(b"<HoSo xmlns='urn:lienthong:province:hoso:1'>" + b" " * 20_000 + b"</HoSo>")
    data = httpx.Request("POST", "http://x", json=big).content
    assert len(data) > 16 * 1024
    before = row_counts(hub.project.database)
    headers = {"content-type": "application/json"}
    if framing == "chunked":
        response = hub.client.post("/api/v1/messages", content=_chunks(data), headers=headers)
        assert response.request.headers["transfer-encoding"] == "chunked"
    else:
        response = hub.client.post("/api/v1/messages", content=data, headers=headers)
        assert int(response.request.headers["content-length"]) == len(data)

    problem = assert_problem(response, 413, "payload-too-large", "Payload too large")
    assert "16384" in problem["detail"]
    assert row_counts(hub.project.database) == before
    # A message under the limit still goes through on the same hub.
    assert hub.submit(dossier()).status_code == 202


# ---------------------------------------------------------------- unroutable and re-routing


UNROUTED_PROCEDURE = "2.000488"
NEW_RULE: dict[str, Any] = {
    "name": "land-2.000488",
    "match": {"kind": "dossier", "procedure_code": UNROUTED_PROCEDURE},
    "targets": ["land"],
}


def _send_unroutable(hub: Any) -> str:
    response = hub.submit(dossier(procedure=UNROUTED_PROCEDURE))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["route"]["status"] == "unroutable"
    assert accepted["route"]["targets"] == []
    assert UNROUTED_PROCEDURE in accepted["route"]["reason"]
    routed = hub.submit(dossier(1)).json()  # a routable one, which the listing must leave out
    listed = hub.client.get("/api/v1/messages", params={"unroutable": "true"}).json()
    assert [m["message_id"] for m in listed] == [accepted["message_id"]]
    assert routed["message_id"] not in {m["message_id"] for m in listed}
    view = hub.status(accepted["message_id"])
    assert view["deliveries"] == []
    return str(accepted["message_id"])


def _assert_rerouted(hub: Any, message_id: str) -> None:
    view = hub.wait(message_id)
    assert [(r["status"], r["rule"]) for r in view["route_history"]] == [
        ("unroutable", None),
        ("routed", NEW_RULE["name"]),
    ]
    assert view["route"]["status"] == "routed"
    assert [d["target"] for d in view["deliveries"]] == ["land"]
    assert hub.client.get("/api/v1/messages", params={"unroutable": "true"}).json() == []


def test_an_unroutable_message_is_kept_and_delivered_after_the_routes_are_fixed(
    hub_factory: HubFactory, land_sim: Any
) -> None:
    hub = hub_factory()
    message_id = _send_unroutable(hub)

    hub.project.set_routes([LAND_RULE, NEW_RULE])
    fixed = hub_factory(hub.project)  # the hub restarted with the new routes.yaml, same database
    assert fixed.hub.intake.reroute_unroutable() == [uuid.UUID(message_id)]
    assert fixed.hub.intake.reroute_unroutable() == []  # nothing left to re-route

    _assert_rerouted(fixed, message_id)
    assert message_id in {r["message_id"] for r in land_sim.received()}


def test_hub_replay_unroutable_reroutes_with_the_current_routes(
    hub_server: Any, land_sim: Any, hub_cli: Callable[..., Any]
) -> None:
    message_id = _send_unroutable(hub_server)
    hub_server.project.set_routes([LAND_RULE, NEW_RULE])

    result = hub_cli("replay", "--unroutable", "-c", hub_server.project.config_dir)

    assert result.returncode == 0, result.stderr
    assert "re-routed 1 message(s)" in result.stdout
    _assert_rerouted(hub_server, message_id)  # the running hub delivers what the CLI queued


# ---------------------------------------------------------------- retries, dead letters, replay


def test_a_registry_outage_is_ridden_out(hub_server: Any, land_sim: Any) -> None:
    land_sim.faults(outage_seconds=2, mode="503")
    accepted = hub_server.submit(dossier()).json()

    view = hub_server.wait(accepted["message_id"], timeout=30)

    [delivery] = view["deliveries"]
    assert delivery["attempts"] >= 2
    *failed, last = delivery["history"]
    assert last["outcome"] == "delivered"
    assert failed and all(a["outcome"] == "retry" for a in failed)
    assert all(a["error"] == f"HTTP 503 from {land_sim.url}" for a in failed)
    assert all(a["response_status"] == 503 for a in failed)
    stats = land_sim.stats()
    assert (stats["unique"], stats["faults_served"], stats["duplicates"]) == (1, len(failed), 0)


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("503", "HTTP 503 from {url}"),
        ("fault", "SOAP fault Server: Hệ thống tạm thời gián đoạn / service temporarily unavailable"),
        ("reset", "cannot reach {url}: "),
        ("timeout", "timed out calling {url}: ReadTimeout"),
    ],
    ids=["http-503", "soap-server-fault", "connection-reset", "read-timeout"],
)
def test_transient_failures_are_retried(
    hub_factory: HubFactory, land_sim: Any, mode: str, error: str
) -> None:
    hub = hub_factory(land={"timeout": "1s"}) if mode == "timeout" else hub_factory()
    land_sim.faults(fail_next=2, mode=mode, hang_seconds=3)
    accepted = hub.submit(dossier()).json()

    view = hub.wait(accepted["message_id"], timeout=30)

    [delivery] = view["deliveries"]
    assert delivery["attempts"] == 3
    assert [a["outcome"] for a in delivery["history"]] == ["retry", "retry", "delivered"]
    for attempt in delivery["history"][:2]:
        assert attempt["error"], "a failed attempt records why"
        assert error.format(url=land_sim.url) in attempt["error"]
    assert land_sim.stats()["unique"] == 1


def test_a_rejection_is_dead_at_once_and_replay_delivers_it(
    hub_server: Any, land_sim: Any, hub_cli: Callable[..., Any]
) -> None:
    land_sim.faults(reject_next=1)
    accepted = hub_server.submit(dossier()).json()
    message_id = accepted["message_id"]

    view = hub_server.wait(message_id, ["dead"])

    [delivery] = view["deliveries"]
    assert delivery["attempts"] == 1
    assert delivery["next_attempt_at"] is None
    assert delivery["last_error"].startswith("rejected by land: SOAP fault Client:")
    assert "dossier rejected: parcel data does not match the land database" in delivery["last_error"]
    assert [a["outcome"] for a in delivery["history"]] == ["dead"]
    dead = hub_server.client.get("/api/v1/messages", params={"state": "dead"}).json()
    assert [m["message_id"] for m in dead] == [message_id]

    # The registry did not take the rejected dossier in; once the cause is fixed, a replay is new to it.
    result = hub_cli("replay", "-c", hub_server.project.config_dir, "--id", message_id)
    assert result.returncode == 0, result.stderr
    assert "re-queued 1 dead delivery" in result.stdout

    view = hub_server.wait(message_id)  # the running hub picks the re-queued delivery up
    [delivery] = view["deliveries"]
    assert delivery["attempts"] == 2
    assert [a["outcome"] for a in delivery["history"]] == ["dead", "delivered"]
    assert [r["message_id"] for r in land_sim.received()] == [message_id]


def test_a_delivery_is_dead_when_its_attempts_run_out(hub_factory: HubFactory, land_sim: Any) -> None:
    hub = hub_factory(retry={"max_attempts": 2})
    land_sim.faults(outage_seconds=3600, mode="503")
    accepted = hub.submit(dossier()).json()

    view = hub.wait(accepted["message_id"], ["dead"])

    [delivery] = view["deliveries"]
    assert delivery["attempts"] == 2
    assert [a["outcome"] for a in delivery["history"]] == ["retry", "dead"]
    outage = f"HTTP 503 from {land_sim.url}"
    assert [a["error"] for a in delivery["history"]] == [
        outage,
        f"gave up after 2 attempts; last error: {outage}",
    ]
    assert delivery["last_error"] == f"gave up after 2 attempts; last error: {outage}"
    assert land_sim.stats()["faults_served"] == 2


def test_the_circuit_breaker_spares_a_registry_that_is_down(hub_factory: HubFactory, land_sim: Any) -> None:
    threshold, reset_after, outage, count = 2, 1.0, 4.0, 5
    # One delivery thread, so that calls are made one at a time and the breaker sees each result
    # before the next call: with N threads, up to N calls can be in flight when it opens.
    hub = hub_factory(
        breaker={"failure_threshold": threshold, "reset_after": f"{reset_after}s"}, workers={"count": 1}
    )
    land_sim.faults(outage_seconds=outage, mode="503")
    ids = [hub.submit(dossier(i)).json()["message_id"] for i in range(count)]

    deadline = time.monotonic() + outage + 5
    while land_sim.faults()["outage_remaining"] > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    refused = land_sim.stats()["faults_served"]
    # Without the breaker, five messages retrying every 0.2-1 s would call ~25 times in 4 s.
    assert threshold <= refused <= threshold + int(outage / reset_after)

    views = [hub.wait(message_id, timeout=20) for message_id in ids]
    assert all(v["deliveries"][0]["state"] == "delivered" for v in views)
    assert hub.hub.workers.targets["land"].breaker.state is BreakerState.CLOSED
    stats = land_sim.stats()
    assert (stats["unique"], stats["duplicates"], stats["faults_served"]) == (count, 0, refused)


# ---------------------------------------------------------------- fan-out


def test_a_route_with_two_targets_delivers_to_both(
    hub_factory: HubFactory, project_factory: Callable[..., Any], land_sim: Any, land_copy_sim: Any
) -> None:
    project = project_factory(
        land_sim.url,
        extra_adapters={"land-copy": land_copy_sim.url},
        routes=[{**LAND_RULE, "targets": ["land", "land-copy"]}],
    )
    hub = hub_factory(project)
    accepted = hub.submit(dossier()).json()
    assert accepted["route"]["targets"] == ["land", "land-copy"]

    view = hub.wait(accepted["message_id"])

    assert sorted((d["target"], d["state"], d["attempts"]) for d in view["deliveries"]) == [
        ("land", "delivered", 1),
        ("land-copy", "delivered", 1),
    ]
    for sim in (land_sim, land_copy_sim):
        [seen] = sim.received()
        assert (seen["message_id"], seen["count"]) == (accepted["message_id"], 1)
        assert sim.stats()["total"] == 1
    assert land_copy_sim.received()[0]["service"] == "000.00.00.G13/land-copy/TiepNhanHoSo"


# ---------------------------------------------------------------- API documentation


def test_the_api_documents_itself(hub_server: Any) -> None:
    docs = hub_server.client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text

    spec = hub_server.client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"post"} <= set(paths["/api/v1/messages"])
    assert "/api/v1/messages/{message_id}" in paths
    assert "/api/v1/messages/{message_id}/payload" in paths
    assert "202" in paths["/api/v1/messages"]["post"]["responses"]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b'{"maHoSoMCDT": "000.00.00.H49-261121-0001", "maHoSoMCDT": "other"}', "appears twice"),
        (b"[" * 300 + b"]" * 300, "nested deeper"),
        (b'{"maHoSoMCDT": NaN}', "not valid JSON"),
        (b'{"maHoSoMCDT": "000.00.00.H49-261121-0001"', "not valid JSON"),
        ('{"chủ hồ sơ": "Quảng Ninh"}'.encode("utf-16"), "UTF-8"),
    ],
    ids=["duplicate-key", "too-deep", "nan", "truncated", "not-utf8"],
)
def test_json_payloads_a_parser_could_read_two_ways_are_refused(
    hub_server: Any, payload: bytes, words: str
) -> None:
    """A JSON payload is read with bounds, as XML is: ambiguous or hostile JSON is a 422 problem, never a
    500, and nothing is stored."""
    before = row_counts(hub_server.project.database)
    response = hub_server.submit(body(payload, content_type="application/json"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert words in response.json()["detail"]
    assert row_counts(hub_server.project.database) == before
