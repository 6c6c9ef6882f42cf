"""Official documents over the wire: edXML through ``POST /api/v1/messages``, read back at
``GET /api/v1/documents/{document_id}`` and ``?unmatched=true``, and ``hub documents`` (docs/api.md).

One hub on loopback. The province (000.00.00.H49) submits an edXML document to two ministries; one
ministry (000.00.00.G22) answers 01 → 03 → 05 → 06 through the same API; the province revokes it and
the ministry agrees (15). The province reads the document's states and history; another agency is told
the document does not exist, word for word as an unknown one. The test routes send no edXML anywhere
(the axis adapter is not in this project), so the document's own delivery state is ``unroutable``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from lxml import etree
from soap_support import HUB_ENVIRON

from lienthong.edxml.build import build_document, build_status
from lienthong.edxml.model import Business, Organ, ResponseFor
from lienthong.envelope import derive_correlation_id

PROVINCE, MINISTRY, SECOND, OTHER = "000.00.00.H49", "000.00.00.G22", "000.00.00.G13", "000.00.00.H22"
DOC = "000.00.00.H49,2026/11/30,120/UBND-VX"
REVOCATION = "000.00.00.H49,2026/12/01,121/UBND-VX"
KEYS = {"ministry": "test-key-ministry-g22", "other": "test-key-other-h22", "auditor": "test-key-auditor-h49"}
PROBLEM_JSON = "application/problem+json"
ICT = ZoneInfo("Asia/Ho_Chi_Minh")


def _digest(name: str) -> list[str]:
    return [hashlib.sha256(KEYS[name].encode()).hexdigest()]


CALLERS = [
    {
        "agency": PROVINCE,
        "name": "qlvb",
        "api_key_env": "HUB_MOTCUA_API_KEY",
        "services": ["rest:submit", "rest:read"],
    },
    {
        "agency": MINISTRY,
        "name": "ministry",
        "api_key_sha256": _digest("ministry"),
        "services": ["rest:submit", "rest:read"],
    },
    {"agency": OTHER, "name": "other", "api_key_sha256": _digest("other"), "services": ["rest:read"]},
    {
        "agency": PROVINCE,
        "name": "auditor",
        "api_key_sha256": _digest("auditor"),
        "services": ["rest:read-all"],
    },
]


def xml(root: etree._Element) -> str:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def the_document() -> etree._Element:
    return build_document(
        sender=Organ(PROVINCE, name="UBND tỉnh Đồng Nai"),
        recipients=[Organ(MINISTRY), Organ(SECOND)],
        code_number="120",
        code_notation="UBND-VX",
        subject="Về việc tiêm chủng mở rộng năm 2027",
        promulgation_date=date(2026, 11, 30),
    )


def the_revocation() -> etree._Element:
    return build_document(
        sender=Organ(PROVINCE),
        recipients=[Organ(MINISTRY)],
        code_number="121",
        code_notation="UBND-VX",
        subject="Thu hồi văn bản 120/UBND-VX",
        promulgation_date=date(2026, 12, 1),
        response_for=[ResponseFor(PROVINCE, "120/UBND-VX", "2026/11/30", DOC)],
        business=Business(doc_type="1", reason="Sai sót"),
    )


def answer(code: str, about: str = DOC) -> etree._Element:
    return build_status(
        about=ResponseFor(PROVINCE, "120/UBND-VX", "2026/11/30", about), sender=Organ(MINISTRY), code=code
    )


def submit(
    hub: Any, sender_id: str, kind: str, root: etree._Element, key: str | None = None, **extra: Any
) -> httpx.Response:
    sender = MINISTRY if key == "ministry" else PROVINCE
    body = {"sender_message_id": sender_id, "kind": kind, "sender": sender, "content_type": "application/xml"}
    headers = {"X-API-Key": KEYS[key]} if key else {}
    response: httpx.Response = hub.client.post(
        "/api/v1/messages", json=body | {"payload": xml(root)} | extra, headers=headers
    )
    return response


def get_document(hub: Any, document_id: str, key: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": KEYS[key]} if key else {}
    response: httpx.Response = hub.client.get(
        f"/api/v1/documents/{quote(document_id, safe='')}", headers=headers
    )
    return response


@pytest.fixture
def doc_hub(hub_factory: Callable[..., Any]) -> Any:
    return hub_factory(callers=CALLERS, environ=HUB_ENVIRON)


@pytest.fixture
def exchange(doc_hub: Any) -> dict[str, str]:
    """The document, the ministry's four answers, the revocation and the ministry's 15: message ids."""
    ids = {"document": submit(doc_hub, "qlvb-120", "document", the_document()).json()["message_id"]}
    for code in ("01", "03", "05", "06"):
        accepted = submit(doc_hub, f"g22-{code}", "status", answer(code), "ministry")
        assert accepted.status_code == 202, accepted.text
        ids[code] = accepted.json()["message_id"]
    ids["revocation"] = submit(doc_hub, "qlvb-121", "document", the_revocation()).json()["message_id"]
    ids["15"] = submit(doc_hub, "g22-15", "status", answer("15"), "ministry").json()["message_id"]
    return ids


def test_the_document_its_states_history_and_related_documents(
    doc_hub: Any, exchange: dict[str, str]
) -> None:
    response = get_document(doc_hub, DOC)

    assert response.status_code == 200, response.text
    view = response.json()
    assert view["document_id"] == DOC
    assert view["correlation_id"] == str(derive_correlation_id(None, DOC))
    assert view["document"] | {"received_at": None} == {
        "message_id": exchange["document"],
        "from": PROVINCE,
        "to": [MINISTRY, SECOND],
        "subject": "Về việc tiêm chủng mở rộng năm 2027",
        "code": "120/UBND-VX",
        "business_doc_type": "0",
        "business_doc_type_name": "new",
        "received_at": None,
    }
    states = {s["agency"]: (s["state"], s["code"], s["code_name"]) for s in view["states"]}
    assert states == {
        MINISTRY: ("revoked", "15", "agrees to revoke, update or replace"),
        SECOND: ("unroutable", None, None),  # not a recipient of the revocation
    }
    history = view["history"]
    assert [h["message_id"] for h in history] == [
        exchange[k] for k in ("document", "01", "03", "05", "06", "revocation", "15")
    ]
    assert [(h["kind"], h["message_type"], h["status_code"], h["business_doc_type"]) for h in history] == [
        ("document", "edoc", None, "0"),
        *[("status", "status", code, None) for code in ("01", "03", "05", "06")],
        ("document", "edoc", None, "1"),
        ("status", "status", "15", None),
    ]
    assert [h["from"] for h in history] == [PROVINCE, *[MINISTRY] * 4, PROVINCE, MINISTRY]
    assert history[0]["edxml_document_id"] == DOC and history[5]["edxml_document_id"] == REVOCATION
    assert all(h["deliveries"] == [] for h in history)  # no route for edXML in this project
    assert view["related"] == [
        {"document_id": REVOCATION, "relation": "revoked-by", "message_id": exchange["revocation"]}
    ]
    # Every message about the document shares its correlation id, whoever sent it.
    for key in ("document", "06", "revocation"):
        status = doc_hub.client.get(f"/api/v1/messages/{exchange[key]}").json()
        assert status["correlation_id"] == view["correlation_id"] and status["document_id"] == DOC
    # The revocation read as a document of its own: what it revokes.
    revocation = get_document(doc_hub, REVOCATION).json()
    assert revocation["related"] == [
        {"document_id": DOC, "relation": "revokes", "message_id": exchange["revocation"]}
    ]
    # The id unencoded (slashes and all) reads the same document; the auditors see the same view.
    assert doc_hub.client.get(f"/api/v1/documents/{DOC}").json() == view
    assert get_document(doc_hub, DOC, "auditor").json() == view


def test_states_move_as_answers_come(doc_hub: Any) -> None:
    submit(doc_hub, "qlvb-120", "document", the_document())

    def state() -> tuple[str, str | None]:
        (ministry,) = [s for s in get_document(doc_hub, DOC).json()["states"] if s["agency"] == MINISTRY]
        return ministry["state"], ministry["code"]

    assert state() == ("unroutable", None)
    submit(doc_hub, "g22-03", "status", answer("03"), "ministry")
    assert state() == ("accepted", "03")
    submit(doc_hub, "qlvb-121", "document", the_revocation())
    assert state() == ("revocation-pending", "03")
    submit(doc_hub, "g22-16", "status", answer("16"), "ministry")
    assert state() == ("accepted", "16")  # refused: the state before the revocation


def test_another_agency_is_told_the_document_does_not_exist_like_an_unknown_one(
    doc_hub: Any, exchange: dict[str, str]
) -> None:
    unknown = "000.00.00.H49,2026/01/01,1/UBND"
    theirs = get_document(doc_hub, DOC, "other")
    missing = get_document(doc_hub, unknown, "other")

    for response, document_id in ((theirs, DOC), (missing, unknown)):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json() == {
            "type": "urn:lienthong:problem:not-found",
            "title": "Không tìm thấy / Not found",
            "status": 404,
            "detail": f"no message about document {document_id}",
        }
    assert exchange["document"] not in theirs.text
    # The ministry sees what it is party to: its answers and the revocation (its one recipient), not
    # the document to two ministries, which names no single recipient and goes nowhere here.
    mine = get_document(doc_hub, DOC, "ministry").json()
    expected = [exchange[c] for c in ("01", "03", "05", "06", "revocation", "15")]
    assert [h["message_id"] for h in mine["history"]] == expected
    assert mine["document"] is None


def test_a_status_package_for_an_unknown_document_is_kept_and_listed(doc_hub: Any) -> None:
    orphan_id = "000.00.00.H49,2026/10/01,99/UBND"
    accepted = submit(doc_hub, "g22-orphan", "status", answer("03", about=orphan_id), "ministry")
    assert accepted.status_code == 202, accepted.text

    listed = doc_hub.client.get("/api/v1/documents", params={"unmatched": "true"})

    assert listed.status_code == 200, listed.text
    (item,) = listed.json()
    assert (item["message_id"], item["status_code"], item["from"]) == (
        accepted.json()["message_id"],
        "03",
        MINISTRY,
    )
    assert get_document(doc_hub, orphan_id).json()["document"] is None
    assert (
        doc_hub.client.get(
            "/api/v1/documents", headers={"X-API-Key": KEYS["other"]}, params={"unmatched": "true"}
        ).json()
        == []
    )
    # Once the document is there, the package is matched.
    late = build_document(
        sender=Organ(PROVINCE),
        recipients=[Organ(MINISTRY)],
        code_number="99",
        code_notation="UBND",
        subject="Văn bản đến sau",
        promulgation_date=date(2026, 10, 1),
    )
    submit(doc_hub, "qlvb-99", "document", late)
    assert doc_hub.client.get("/api/v1/documents?unmatched=true").json() == []
    without = doc_hub.client.get("/api/v1/documents")
    assert without.status_code == 422 and without.headers["content-type"] == PROBLEM_JSON


def test_a_sender_that_says_otherwise_is_refused_and_nothing_is_stored(doc_hub: Any) -> None:
    before = doc_hub.count_messages()
    wrong_kind = submit(doc_hub, "qlvb-x1", "dossier", the_document())
    wrong_id = submit(
        doc_hub, "qlvb-x2", "document", the_document(), document_id="000.00.00.H49,2026/11/30,7/X"
    )

    for response, field in ((wrong_kind, "kind"), (wrong_id, "document_id")):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()
        assert problem["type"] == "urn:lienthong:problem:document-facts-mismatch"
        assert (
            problem["title"]
            == "Thông tin kèm theo không khớp với văn bản edXML / Metadata disagrees with the edXML document"
        )
        assert problem["field"] == field and field in problem["detail"]
    assert doc_hub.count_messages() == before
    # The same document, said right, is taken, and taken once.
    first = submit(doc_hub, "qlvb-x3", "document", the_document(), document_id=DOC, document_type="edxml")
    again = submit(doc_hub, "qlvb-x3", "document", the_document(), document_id=DOC, document_type="edxml")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["duplicate"] and again.json()["message_id"] == first.json()["message_id"]


@pytest.mark.parametrize(
    ("document_id", "message"),
    [
        ("X" * 257, "a document id has at most 256 characters, not 257"),
        ("A%0AB", "a document id holds no control"),
    ],
    ids=["too-long", "newline"],
)
def test_an_id_no_document_can_have_is_refused(doc_hub: Any, document_id: str, message: str) -> None:
    response = doc_hub.client.get(f"/api/v1/documents/{document_id}")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["message"].startswith(message)


# ---------------------------------------------------------------- hub documents


def test_hub_documents_show_and_unmatched(
    doc_hub: Any, exchange: dict[str, str], hub_cli: Callable[..., Any]
) -> None:
    config = doc_hub.project.config_dir
    view = get_document(doc_hub, DOC).json()

    shown = hub_cli("documents", "show", DOC, "-c", config)

    assert shown.returncode == 0, shown.stderr
    assert f"document {DOC}" in shown.stdout
    lines = [line.replace("┃", "│") for line in shown.stdout.splitlines()]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.count("│") == 5]
    (done,) = [row for row in rows if row and row[0] == MINISTRY]
    at = datetime.fromisoformat({s["agency"]: s["at"] for s in view["states"]}[MINISTRY])
    assert done == [
        MINISTRY,
        "revoked",
        at.astimezone(ICT).strftime("%Y-%m-%d %H:%M:%S"),
        "15 agrees to revoke, update or replace",
    ]
    assert "Về việc tiêm chủng mở rộng năm 2027" in shown.stdout

    as_json = hub_cli("documents", "show", DOC, "--json", "-c", config)
    assert as_json.returncode == 0, as_json.stderr
    machine = json.loads(as_json.stdout)
    for item in view["history"]:  # the API's shape; links only where a public URL is configured
        item["status_url"] = None
    assert machine == view

    unknown = hub_cli("documents", "show", "000.00.00.H49,2026/01/01,1/UBND", "-c", config)
    assert (
        unknown.returncode == 1
        and "no message about document 000.00.00.H49,2026/01/01,1/UBND" in unknown.stderr
    )

    none = hub_cli("documents", "unmatched", "-c", config)
    assert none.returncode == 0 and "no unmatched status package" in none.stdout
    submit(
        doc_hub, "g22-orphan", "status", answer("05", about="000.00.00.H49,2026/10/01,99/UBND"), "ministry"
    )
    listed = hub_cli("documents", "unmatched", "-c", config)
    assert listed.returncode == 0, listed.stderr
    assert "000.00.00.H49,2026/10/01,99/UBND" in listed.stdout and "05 processing" in listed.stdout
