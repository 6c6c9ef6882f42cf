"""A dossier's trail over the wire: ``GET /api/v1/dossiers/{code}`` and ``hub trail`` (docs/api.md).

One hub on loopback with the land registry simulator. The one-stop system (000.00.00.H49) sends a
dossier over REST, the hub delivers it to the registry, and the registry pushes a status update for
the same dossier code over SOAP. Every system's caller then asks for the trail: the one-stop system
and the auditors see both messages in order, with their routes and the land delivery; another
agency's caller is told the dossier does not exist, exactly as for a dossier nobody ever sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from soap_support import HUB_ENVIRON, LAND, PROVINCE, STATUS_ACTION, ack, envelope, post, status_update

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.envelope import derive_correlation_id

OTHER = "000.00.00.H22"
KEYS = {"other": "test-key-other-h22", "auditor": "test-key-auditor-h49"}
PROBLEM_JSON = "application/problem+json"
ICT = ZoneInfo("Asia/Ho_Chi_Minh")


def _digest(name: str) -> list[str]:
    return [hashlib.sha256(KEYS[name].encode()).hexdigest()]


CALLERS = [
    {
        "agency": PROVINCE,
        "name": "motcua",
        "api_key_env": "HUB_MOTCUA_API_KEY",
        "services": ["rest:submit", "rest:read"],
    },
    {"agency": LAND, "name": "land", "api_key_env": "HUB_LAND_API_KEY", "services": ["soap:land/*"]},
    {
        "agency": OTHER,
        "name": "other",
        "api_key_sha256": _digest("other"),
        "services": ["rest:submit", "rest:read"],
    },
    {
        "agency": PROVINCE,
        "name": "auditor",
        "api_key_sha256": _digest("auditor"),
        "services": ["rest:read-all"],
    },
]


@pytest.fixture
def trail_hub(hub_factory: Callable[..., Any]) -> Any:
    return hub_factory(callers=CALLERS, environ=HUB_ENVIRON)


@pytest.fixture
def dossier(trail_hub: Any) -> dict[str, Any]:
    """The one-stop system's dossier, delivered to the land registry, then the registry's status update."""
    sample = sample_dossiers(1)[0]
    accepted = trail_hub.submit(dossier_body(sample.dossier_code, sample.procedure_code, sample.xml)).json()
    trail_hub.wait(accepted["message_id"])
    data = envelope(
        "soap12",
        status_update(sample.dossier_code, "4"),
        message_id="dkdd-progress-1",
        header=f"<lt:causationId>{accepted['message_id']}</lt:causationId>",
    )
    update = ack(post(trail_hub.client, "soap12", data, action=STATUS_ACTION))
    return {"code": sample.dossier_code, "dossier": accepted["message_id"], "status": update["messageId"]}


def get_trail(hub: Any, code: str, key: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": KEYS[key]} if key else {}
    response: httpx.Response = hub.client.get(f"/api/v1/dossiers/{code}", headers=headers)
    return response


def test_the_trail_shows_the_dossier_its_delivery_and_the_status_update_in_order(
    trail_hub: Any, dossier: dict[str, Any]
) -> None:
    response = get_trail(trail_hub, dossier["code"])

    assert response.status_code == 200, response.text
    trail = response.json()
    assert trail["dossier_code"] == dossier["code"]
    assert trail["correlation_id"] == str(derive_correlation_id(dossier["code"], None))
    sent, update = trail["messages"]
    assert [sent["message_id"], update["message_id"]] == [dossier["dossier"], dossier["status"]]
    assert sent["received_at"] < update["received_at"]

    assert (sent["kind"], sent["sender"], sent["procedure_code"]) == ("dossier", PROVINCE, "1.004227")
    assert sent["sender_message_id"] == f"motcua-{dossier['code']}"
    assert sent["route"]["status"] == "routed" and sent["route"]["targets"] == ["land"]
    (land,) = sent["deliveries"]
    assert (land["target"], land["operation"], land["state"], land["attempts"], land["last_error"]) == (
        "land",
        "TiepNhanHoSo",
        "delivered",
        1,
        None,
    )
    assert land["response_status"] == 200 and land["delivered_at"] is not None
    assert land["status_url"] == f"{trail_hub.url}/api/v1/messages/{dossier['dossier']}" == sent["status_url"]
    # The link leads to the delivery's attempts.
    status = trail_hub.client.get(land["status_url"]).json()
    assert [(d["target"], d["state"], len(d["history"])) for d in status["deliveries"]] == [
        ("land", "delivered", 1)
    ]

    assert (update["kind"], update["sender"], update["recipient"]) == ("status", LAND, PROVINCE)
    assert update["dossier_code"] == dossier["code"]
    assert update["causation_id"] == dossier["dossier"]
    assert update["route"]["status"] == "unroutable" and update["deliveries"] == []
    # The auditors see the same trail.
    assert get_trail(trail_hub, dossier["code"], "auditor").json() == trail


def test_another_agency_is_told_the_dossier_does_not_exist_like_an_unknown_one(
    trail_hub: Any, dossier: dict[str, Any]
) -> None:
    unknown = "000.00.00.H49-261121-9999"
    theirs = get_trail(trail_hub, dossier["code"], "other")
    missing = get_trail(trail_hub, unknown, "other")

    for response, code in ((theirs, dossier["code"]), (missing, unknown)):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json() == {
            "type": "urn:lienthong:problem:not-found",
            "title": "Không tìm thấy / Not found",
            "status": 404,
            "detail": f"no message about dossier {code}",
        }
    assert dossier["dossier"] not in theirs.text and LAND not in theirs.text
    # Once the other agency sends a message about it, it sees that message, and only that one.
    sample = sample_dossiers(1)[0]
    body = dossier_body(dossier["code"], "9.999999", sample.xml) | {"sender": OTHER}
    mine = trail_hub.client.post("/api/v1/messages", json=body, headers={"X-API-Key": KEYS["other"]}).json()
    seen = get_trail(trail_hub, dossier["code"], "other").json()["messages"]
    assert [m["message_id"] for m in seen] == [mine["message_id"]]
    everything = get_trail(trail_hub, dossier["code"], "auditor").json()["messages"]
    assert [m["message_id"] for m in everything] == [
        dossier["dossier"],
        dossier["status"],
        mine["message_id"],
    ]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("X" * 65, "a dossier code has at most 64 characters, not 65"),
        ("000.00.00.H49%0A-261121-0001", "a dossier code holds no control characters"),
        ("000.00.00.H49%7F-261121-0001", "a dossier code holds no control characters"),
        ("000.00.00.H49%C2%85-261121-0001", "a dossier code holds no control characters"),
    ],
    ids=["too-long", "newline", "delete", "c1-control"],
)
def test_a_code_no_dossier_can_have_is_refused(trail_hub: Any, code: str, message: str) -> None:
    response = get_trail(trail_hub, code)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "urn:lienthong:problem:request-invalid"
    assert body["errors"][0]["location"] == "path.code"
    assert body["errors"][0]["message"].startswith(message)


def test_the_longest_code_is_only_not_found(trail_hub: Any) -> None:
    assert get_trail(trail_hub, "X" * 64).status_code == 404


def test_a_stranger_is_not_told_anything(trail_hub: Any) -> None:
    response = httpx.get(f"{trail_hub.url}/api/v1/dossiers/X")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON


def test_the_trail_is_documented_in_openapi(trail_hub: Any) -> None:
    document = trail_hub.client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/dossiers/{code}"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DossierTrail"
    }
    delivery = document["components"]["schemas"]["TrailDeliveryView"]["properties"]
    assert {
        "target",
        "state",
        "attempts",
        "last_error",
        "delivered_at",
        "response_status",
        "status_url",
    } <= set(delivery)


# ---------------------------------------------------------------- hub trail


def test_hub_trail_shows_the_timeline_in_vietnam_time(
    trail_hub: Any, dossier: dict[str, Any], hub_cli: Callable[..., Any]
) -> None:
    config = trail_hub.project.config_dir
    trail = get_trail(trail_hub, dossier["code"]).json()

    result = hub_cli("trail", dossier["code"], "-c", config)

    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith(f"dossier {dossier['code']}")  # the table's title
    lines = [line.replace("┃", "│") for line in result.stdout.splitlines()]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.count("│") == 7]
    header, *body = rows
    assert header == ["time (ICT)", "dir", "system", "kind", "status", "message"]
    sent, update = trail["messages"]
    land = sent["deliveries"][0]

    def local(iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(ICT).strftime("%Y-%m-%d %H:%M:%S")

    assert body == [
        [local(sent["received_at"]), "in", PROVINCE, "dossier", "routed (land-transfer)", dossier["dossier"]],
        [
            local(land["delivered_at"]),
            "out",
            f"land/TiepNhanHoSo · {LAND}",
            "dossier",
            "delivered, attempt 1, HTTP 200",
            "",
        ],
        [local(update["received_at"]), "in", f"land · {LAND}", "status", "unroutable", dossier["status"]],
    ]

    as_json = hub_cli("trail", dossier["code"], "--json", "-c", config)
    assert as_json.returncode == 0, as_json.stderr
    machine = json.loads(as_json.stdout)
    for message in trail["messages"]:  # the API's shape; links only where a public URL is configured
        message["status_url"] = None
        for delivery in message["deliveries"]:
            delivery["status_url"] = None
    assert machine == trail


def test_hub_trail_of_an_unknown_dossier_fails_clearly(trail_hub: Any, hub_cli: Callable[..., Any]) -> None:
    result = hub_cli("trail", "000.00.00.H49-261121-9999", "-c", trail_hub.project.config_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no message about dossier 000.00.00.H49-261121-9999" in result.stderr

    bad = hub_cli("trail", "X" * 65, "-c", trail_hub.project.config_dir)
    assert bad.returncode == 1
    assert "invalid dossier code: a dossier code has at most 64 characters, not 65" in bad.stderr
