"""Each agency reads only its own messages, over the wire (docs/api.md, "Who sees which messages").

One hub on loopback, four callers: the province's one-stop system (000.00.00.H49), another
provincial body (000.00.00.H22), the land registry (000.00.00.G13, whose adapter ``land`` receives the
routed dossiers) and the province's auditors (``rest:read-all``). Every assertion is what a caller sees
on the list, status and payload endpoints, and what the audit log says about a probe.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers

PROVINCE = "000.00.00.H49"
OTHER = "000.00.00.H22"
LAND = "000.00.00.G13"
KEYS = {
    "motcua": "test-key-motcua-h49",
    "other": "test-key-other-h22",
    "land": "test-key-land-g13",
    "auditor": "test-key-auditor",
    "wildcard": "test-key-wildcard-h22",
}
PROBLEM_JSON = "application/problem+json"


def _caller(agency: str, name: str, services: list[str]) -> dict[str, Any]:
    digest = hashlib.sha256(KEYS[name].encode()).hexdigest()
    return {"agency": agency, "name": name, "api_key_sha256": [digest], "services": services}


CALLERS = [
    _caller(PROVINCE, "motcua", ["rest:submit", "rest:read"]),
    _caller(OTHER, "other", ["rest:submit", "rest:read"]),
    _caller(LAND, "land", ["rest:read"]),
    _caller(PROVINCE, "auditor", ["rest:read-all"]),
    _caller(OTHER, "wildcard", ["rest:*"]),  # a pattern never grants reading everything
]


class Hub:
    def __init__(self, running: Any) -> None:
        self.running = running

    def as_(self, name: str) -> httpx.Client:
        client: httpx.Client = self.running.client
        client.headers["X-API-Key"] = KEYS[name]
        return client

    def submit(
        self, name: str, sender: str, index: int, *, land: bool = True, correlation_id: str | None = None
    ) -> str:
        s = sample_dossiers(index + 1)[index]
        body = dossier_body(s.dossier_code, s.procedure_code if land else "9.999999", s.xml)
        body |= {"sender": sender, "sender_message_id": f"{name}-{index}"}
        if correlation_id is not None:
            body["correlation_id"] = correlation_id
        response = self.as_(name).post("/api/v1/messages", json=body)
        assert response.status_code == 202, response.text
        message_id: str = response.json()["message_id"]
        return message_id

    def listed(self, name: str, **params: Any) -> list[str]:
        response = self.as_(name).get("/api/v1/messages", params=params)
        assert response.status_code == 200, response.text
        return [m["message_id"] for m in response.json()]


@pytest.fixture
def hub(hub_factory: Callable[..., Any]) -> Hub:
    return Hub(hub_factory(callers=CALLERS, headers={}))


@pytest.fixture
def messages(hub: Hub) -> dict[str, str]:
    """The province's dossier to the land registry, another body's dossier to it, and another body's
    message that no route takes (so no adapter receives it)."""
    return {
        "province_to_land": hub.submit("motcua", PROVINCE, 0),
        "other_to_land": hub.submit("other", OTHER, 1),
        "other_unroutable": hub.submit("other", OTHER, 2, land=False),
    }


def test_the_list_holds_only_the_callers_agencys_messages(hub: Hub, messages: dict[str, str]) -> None:
    assert set(hub.listed("motcua")) == {messages["province_to_land"]}
    assert set(hub.listed("other")) == {messages["other_to_land"], messages["other_unroutable"]}
    # The land registry receives what is routed to its adapter, from whichever agency sent it.
    assert set(hub.listed("land")) == {messages["province_to_land"], messages["other_to_land"]}
    assert set(hub.listed("auditor")) == set(messages.values())
    assert set(hub.listed("wildcard")) == {messages["other_to_land"], messages["other_unroutable"]}
    # Filters narrow what a caller may see; they never widen it.
    assert hub.listed("motcua", unroutable="true") == []
    assert hub.listed("other", unroutable="true") == [messages["other_unroutable"]]
    assert set(hub.listed("motcua", target="land")) == {messages["province_to_land"]}
    assert hub.listed("motcua", limit=1) == [messages["province_to_land"]]


def test_an_exchange_is_listed_by_correlation_id_within_what_the_caller_may_see(hub: Hub) -> None:
    exchange = str(uuid.uuid4())
    mine = hub.submit("motcua", PROVINCE, 0, correlation_id=exchange)
    theirs = hub.submit("other", OTHER, 1, land=False, correlation_id=exchange)
    elsewhere = hub.submit("motcua", PROVINCE, 2)

    assert hub.listed("motcua", correlation_id=exchange) == [mine]
    assert hub.listed("other", correlation_id=exchange) == [theirs]
    assert hub.listed("auditor", correlation_id=exchange) == [theirs, mine]  # newest first
    assert hub.listed("land", correlation_id=exchange) == [mine]
    assert hub.listed("auditor", correlation_id=str(uuid.uuid4())) == []
    assert elsewhere in hub.listed("motcua")
    refused = hub.as_("motcua").get("/api/v1/messages", params={"correlation_id": "not-a-uuid"})
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM_JSON)


@pytest.mark.parametrize("suffix", ["", "/payload"], ids=["status", "payload"])
def test_another_agencys_message_is_not_found_like_an_unknown_id(
    hub: Hub, messages: dict[str, str], suffix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.audit")
    theirs = messages["other_to_land"]
    unknown = str(uuid.uuid4())
    probe = hub.as_("motcua").get(f"/api/v1/messages/{theirs}{suffix}")
    missing = hub.as_("motcua").get(f"/api/v1/messages/{unknown}{suffix}")

    for response, message_id in ((probe, theirs), (missing, unknown)):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"] == "urn:lienthong:problem:not-found"
        assert body["detail"] == f"no message with id {message_id}"
        assert set(body) == {"type", "title", "status", "detail"}
    assert b"HoSo" not in probe.content and OTHER not in probe.text

    refused = [r.getMessage() for r in caplog.records if r.name == "lienthong.audit"]
    assert any(
        f"reason=not-found agency={PROVINCE} service=rest:read" in line and theirs in line for line in refused
    ), refused


@pytest.mark.parametrize("suffix", ["", "/payload"], ids=["status", "payload"])
def test_each_party_reads_the_message_it_sent_or_receives(
    hub: Hub, messages: dict[str, str], suffix: str
) -> None:
    mine = messages["province_to_land"]
    for name in ("motcua", "land", "auditor"):
        response = hub.as_(name).get(f"/api/v1/messages/{mine}{suffix}")
        assert response.status_code == 200, (name, response.text)
        if suffix:
            assert response.content == sample_dossiers(1)[0].xml
        else:
            assert response.json()["sender"] == PROVINCE
    for name in ("other", "wildcard"):
        assert hub.as_(name).get(f"/api/v1/messages/{mine}{suffix}").status_code == 404
    # The land registry is no party to a message no route sent it.
    unroutable = messages["other_unroutable"]
    assert hub.as_("land").get(f"/api/v1/messages/{unroutable}{suffix}").status_code == 404
    assert hub.as_("auditor").get(f"/api/v1/messages/{unroutable}{suffix}").status_code == 200


def test_read_all_alone_does_not_allow_submitting(hub: Hub) -> None:
    response = hub.as_("auditor").post("/api/v1/messages", json=dossier_body("X-1", "1.004227", b"<x/>"))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
