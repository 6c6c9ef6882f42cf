"""Raw XML intake over real HTTP: the payload as the body, the envelope's fields in ``X-Hub-*`` headers.

What a sender sees (statuses, problem+json naming the header, the answer's shape), what the registry
receives, and what the database holds: a refused request leaves no row.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import pytest
from soap_support import row_counts
from test_rest_intake import PROVINCE, assert_problem, dossier, sample

from lienthong.devtools.samples import PROCEDURE_CODE


def raw_headers(sender_message_id: str | None = None, **fields: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/xml",
        "X-Hub-Kind": "dossier",
        "X-Hub-Procedure-Code": PROCEDURE_CODE,
        "X-Hub-Dossier-Code": sample().dossier_code,
    }
    if sender_message_id is not None:
        headers["X-Hub-Sender-Message-Id"] = sender_message_id
    headers.update(fields)
    return headers


def post_raw(hub: Any, payload: bytes, headers: dict[str, str]) -> httpx.Response:
    response: httpx.Response = hub.client.post("/api/v1/messages", content=payload, headers=headers)
    return response


def test_a_raw_xml_dossier_is_accepted_delivered_and_kept_byte_exact(hub_server: Any, land_sim: Any) -> None:
    s = sample()
    sender_id = f"motcua-{uuid.uuid4()}"
    response = post_raw(hub_server, s.xml, raw_headers(sender_id, **{"X-Hub-Header-ref": "so 12/UBND"}))

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["sender_message_id"] == sender_id
    assert accepted["duplicate"] is False
    assert accepted["route"]["rule"] == "land-transfer"
    assert response.headers["location"] == accepted["status_url"]
    view = hub_server.wait(accepted["message_id"])
    assert view["sender"] == PROVINCE  # X-Hub-Sender left out: the caller's agency
    assert view["kind"] == "dossier"
    assert view["dossier_code"] == s.dossier_code
    assert view["procedure_code"] == PROCEDURE_CODE
    assert view["content_type"] == "application/xml"
    assert view["payload_sha256"] == hashlib.sha256(s.xml).hexdigest()
    record = hub_server.hub.store.get_message(uuid.UUID(accepted["message_id"]))
    assert record.envelope.payload == s.xml
    assert record.envelope.headers["ref"] == "so 12/UBND"
    [seen] = land_sim.received()
    assert seen["message_id"] == accepted["message_id"]


def test_a_raw_repeat_is_answered_as_the_first_even_after_json(hub_server: Any) -> None:
    s = sample()
    sender_id = f"motcua-{uuid.uuid4()}"
    first = hub_server.submit(dossier(sender_message_id=sender_id))
    assert first.status_code == 202, first.text

    again = post_raw(hub_server, s.xml, raw_headers(sender_id))
    assert again.status_code == 202, again.text
    assert again.json()["message_id"] == first.json()["message_id"]
    assert again.json()["duplicate"] is True
    assert hub_server.count_messages() == 1


def test_the_same_id_for_other_content_is_a_conflict(hub_server: Any) -> None:
    sender_id = f"motcua-{uuid.uuid4()}"
    assert post_raw(hub_server, sample(0).xml, raw_headers(sender_id)).status_code == 202
    other = post_raw(hub_server, sample(1).xml, raw_headers(sender_id))
    assert_problem(other, 409, "idempotency-conflict", "Message id reused for different content")
    assert hub_server.count_messages() == 1


def test_a_missing_id_header_is_named(hub_server: Any) -> None:
    before = row_counts(hub_server.project.database)
    response = post_raw(hub_server, sample().xml, raw_headers())
    problem = assert_problem(response, 422, "request-invalid", "Invalid request")
    assert [e["location"] for e in problem["errors"]] == ["header.X-Hub-Sender-Message-Id"]
    assert row_counts(hub_server.project.database) == before


@pytest.mark.parametrize(
    ("headers", "location", "words"),
    [
        ({"X-Hub-Kind": "letter"}, "header.X-Hub-Kind", "dossier"),
        ({"X-Hub-Message-Id": "abc"}, "header.X-Hub-Message-Id", "X-Hub-Sender-Message-Id"),
        ({"X-Hub-Colour": "blue"}, "header.X-Hub-Colour", "no such header"),
        ({"X-Hub-Correlation-Id": "not-a-uuid"}, "header.X-Hub-Correlation-Id", "UUID"),
    ],
    ids=["kind", "message-id-is-the-hubs", "unknown", "uuid"],
)
def test_wrong_headers_are_named(hub_server: Any, headers: dict[str, str], location: str, words: str) -> None:
    response = post_raw(hub_server, sample().xml, raw_headers(f"m-{uuid.uuid4()}", **headers))
    problem = assert_problem(response, 422, "request-invalid", "Invalid request")
    [error] = [e for e in problem["errors"] if e["location"] == location]
    assert words.lower() in error["message"].lower()


def test_a_sender_that_is_not_the_caller_is_forbidden(hub_server: Any) -> None:
    headers = raw_headers(f"m-{uuid.uuid4()}", **{"X-Hub-Sender": "000.00.00.G13"})
    assert_problem(post_raw(hub_server, sample().xml, headers), 403, "forbidden", "Forbidden")


def test_utf8_and_percent_encoded_header_values_are_text(hub_server: Any) -> None:
    document_id = "000.00.00.H49,2026/11/21,12/UBND-VP Đ"
    encoded = "UTF-8''" + "".join(f"%{b:02X}" for b in document_id.encode())
    headers = raw_headers(f"m-{uuid.uuid4()}", **{"X-Hub-Document-Id": encoded})
    response = post_raw(hub_server, sample().xml, headers)
    assert response.status_code == 202, response.text
    assert hub_server.status(response.json()["message_id"])["document_id"] == document_id

    raw = raw_headers(f"m-{uuid.uuid4()}")
    raw_utf8 = [(k.encode(), v.encode()) for k, v in raw.items()]
    raw_utf8.append((b"X-Hub-Document-Id", document_id.encode("utf-8")))
    response = hub_server.client.post("/api/v1/messages", content=sample().xml, headers=raw_utf8)
    assert response.status_code == 202, response.text
    assert hub_server.status(response.json()["message_id"])["document_id"] == document_id


def test_malformed_xml_is_refused_with_line_and_column(hub_server: Any) -> None:
    before = row_counts(hub_server.project.database)
    bad = b'<?xml version="1.0" encoding="UTF-8"?>\n<HoSo>\n  <ChuHoSo>Nguyen</HoSo>\n'
    response = post_raw(hub_server, bad, raw_headers(f"m-{uuid.uuid4()}"))
    problem = assert_problem(response, 422, "xml-refused", "XML refused")
    assert (problem["line"], problem["column"]) == (3, 25)
    assert row_counts(hub_server.project.database) == before


def test_an_empty_body_is_refused(hub_server: Any) -> None:
    response = post_raw(hub_server, b"", raw_headers(f"m-{uuid.uuid4()}"))
    problem = assert_problem(response, 422, "request-invalid", "Invalid request")
    assert problem["errors"][0]["location"] == "body"


def test_a_body_that_is_neither_json_nor_xml_is_415(hub_server: Any) -> None:
    headers = raw_headers(f"m-{uuid.uuid4()}", **{"Content-Type": "text/plain"})
    problem = assert_problem(
        post_raw(hub_server, sample().xml, headers), 415, "unsupported-media-type", "Unsupported media type"
    )
    assert problem["accept"] == "application/json, application/xml"


def test_oversize_is_413_and_only_a_document_may_be_large(hub_factory: Any) -> None:
    hub = hub_factory(api={"max_body_size": "200KB", "max_payload_size": "100KB", "max_document_size": "1MB"})
    before = row_counts(hub.project.database)
    filler = b"<!--" + b"x" * 300_000 + b"-->"
    big = sample().xml.replace(b"</HoSo>", filler + b"</HoSo>")

    # A dossier over max_body_size: refused from Content-Length, before the body is read.
    problem = assert_problem(
        post_raw(hub, big, raw_headers(f"m-{uuid.uuid4()}")), 413, "payload-too-large", "Payload too large"
    )
    assert "200000" in problem["detail"]
    # Under max_body_size but over max_payload_size.
    medium = sample().xml.replace(b"</HoSo>", b"<!--" + b"x" * 150_000 + b"--></HoSo>")
    problem = assert_problem(
        post_raw(hub, medium, raw_headers(f"m-{uuid.uuid4()}")), 413, "payload-too-large", "Payload too large"
    )
    assert "100000" in problem["detail"]
    # A document may be up to max_document_size, not beyond.
    document = raw_headers(f"m-{uuid.uuid4()}", **{"X-Hub-Kind": "document"})
    response = post_raw(hub, big, document)
    assert response.status_code == 202, response.text
    assert response.json()["route"]["status"] == "unroutable"  # no route for documents in this project
    huge = sample().xml.replace(b"</HoSo>", b"<!--" + b"x" * 1_100_000 + b"--></HoSo>")
    problem = assert_problem(
        post_raw(hub, huge, raw_headers(f"m-{uuid.uuid4()}", **{"X-Hub-Kind": "document"})),
        413,
        "payload-too-large",
        "Payload too large",
    )
    assert "1000000" in problem["detail"]
    assert row_counts(hub.project.database)["messages"] == before["messages"] + 1
