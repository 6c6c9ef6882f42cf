"""The province's document system simulator (``hub simulate qlvb``) over real HTTP on loopback: it takes
what the hub delivers with sendEdoc, keeps it (``/_sim/records``), and answers each new document with
status packages 03 → 05 → 06 through the hub's REST intake — here a recorder standing in for the hub,
which is down at first, so the answers are retried with the same bytes and the same id."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from edxml_sim_support import (
    FINANCE,
    NS,
    PROVINCE,
    QLVB_CALLER_KEY,
    QLVB_KEY,
    AxisClient,
    document,
    document_id,
    sim_spec,
)
from sim_support import wait_for
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator.axis import EdxmlSimulatorServer
from lienthong.xml import parse_xml


class Recorder:
    """The hub's REST intake as QLVB sees it: records every call; the first ``down`` are 503s."""

    def __init__(self, down: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.down = down
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/api/v1/messages", self.intake, methods=["POST"])])

    async def intake(self, request: Request) -> Response:
        envelope = await request.json()
        with self._lock:
            self.calls.append((dict(request.headers), envelope))
            if self.down > 0:
                self.down -= 1
                return JSONResponse({"title": "store unavailable"}, 503, headers={"Retry-After": "1"})
        return JSONResponse({"message_id": str(uuid.uuid4()), "duplicate": False}, 202)


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    hub = Recorder(down=1)
    server = BackgroundServer(hub.app).start()
    yield hub, server.url
    server.stop()


def test_qlvb_keeps_deliveries_and_answers_the_hub_03_05_06(
    tmp_path: Path, recorder: tuple[Recorder, str]
) -> None:
    hub, hub_url = recorder
    spec = sim_spec(tmp_path, "qlvb", hub_url=hub_url, retry_initial="100ms")
    incoming = document(FINANCE, (PROVINCE,))
    with EdxmlSimulatorServer(spec) as server, AxisClient(server.url, QLVB_CALLER_KEY) as qlvb:
        sent = qlvb.send(incoming, sender=FINANCE, to=PROVINCE)
        assert (sent.status_code, sent.json()["status"]) == (200, "OK")

        [record] = httpx.get(f"{server.base_url}/_sim/records").json()
        assert (record["from"], record["to"], record["messageType"]) == (FINANCE, PROVINCE, "edoc")
        assert record["edxml"]["document_id"] == document_id(incoming)

        taken = wait_for(
            lambda: ok if len(ok := [c for c in hub.calls]) >= 4 else None,
            timeout=10,
            what="3 answers + 1 retry",
        )
        # the first attempt met a 503: the same envelope came again, before the next answer (in order)
        assert taken[0][1] == taken[1][1]
        assert len({e["sender_message_id"] for _, e in taken[1:]}) == 3
        codes = []
        for headers, envelope in taken[1:]:
            assert headers["x-api-key"] == QLVB_KEY
            assert (envelope["kind"], envelope["sender"], envelope["recipient"]) == (
                "status",
                PROVINCE,
                FINANCE,
            )
            assert envelope["content_type"] == "application/xml"
            status = parse_xml(base64.b64decode(envelope["payload_base64"])).find(
                "ed:edXMLEnvelope/ed:edXMLHeader/ed:Status", NS
            )
            assert status is not None
            assert status.findtext("ed:From/ed:OrganId", namespaces=NS) == PROVINCE
            assert status.findtext("ed:ResponseFor/ed:DocumentId", namespaces=NS) == document_id(incoming)
            codes.append(status.findtext("ed:StatusCode", namespaces=NS))
        assert codes == ["03", "05", "06"]
        answers = httpx.get(f"{server.base_url}/_sim/answers").json()
        assert [(a["code"], a["state"]) for a in answers] == [("03", "done"), ("05", "done"), ("06", "done")]
        assert answers[0]["attempts"] == 2
        qlvb.close()


def test_qlvb_keeps_status_packages_without_answering_them(
    tmp_path: Path, recorder: tuple[Recorder, str]
) -> None:
    hub, hub_url = recorder
    status = (
        b'<?xml version="1.0" encoding="UTF-8"?><edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
        b"<edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:Status><edXML:ResponseFor>"
        b"<edXML:DocumentId>000.00.00.H49,2026/11/20,7/UBND-VP</edXML:DocumentId></edXML:ResponseFor>"
        b"<edXML:From><edXML:OrganId>000.00.00.G06</edXML:OrganId></edXML:From>"
        b"<edXML:StatusCode>03</edXML:StatusCode></edXML:Status></edXML:edXMLHeader></edXML:edXMLEnvelope></edXML:edXML>"
    )
    with (
        EdxmlSimulatorServer(sim_spec(tmp_path, "qlvb", hub_url=hub_url)) as server,
        AxisClient(server.url, QLVB_CALLER_KEY) as qlvb,
    ):
        assert qlvb.send(status, sender=FINANCE, to=PROVINCE, messagetype="status").json()["status"] == "OK"
        [record] = httpx.get(f"{server.base_url}/_sim/records").json()
        assert record["messageType"] == "status"
        assert (record["edxml"]["status_code"], record["edxml"]["response_for"]) == (
            "03",
            "000.00.00.H49,2026/11/20,7/UBND-VP",
        )
        assert httpx.get(f"{server.base_url}/_sim/answers").json() == []
        assert hub.calls == []
        qlvb.close()


def test_without_a_hub_url_the_answers_wait(tmp_path: Path) -> None:
    spec = sim_spec(tmp_path, "qlvb", store=str(tmp_path / "qlvb.db"))
    assert spec.hub is None
    with EdxmlSimulatorServer(spec) as server:
        qlvb = AxisClient(server.url, QLVB_CALLER_KEY)
        qlvb.send(document(FINANCE, (PROVINCE,)), sender=FINANCE, to=PROVINCE)
        qlvb.close()
        answers = httpx.get(f"{server.base_url}/_sim/answers").json()
        assert [(a["code"], a["state"], a["attempts"]) for a in answers] == [
            ("03", "pending", 0),
            ("05", "pending", 0),
            ("06", "pending", 0),
        ]
    hub = Recorder()
    with BackgroundServer(hub.app) as running:  # started later, with the hub's URL: they go out
        later = sim_spec(tmp_path, "qlvb", store=str(tmp_path / "qlvb.db"), hub_url=running.url)
        with EdxmlSimulatorServer(later):
            wait_for(lambda: len(hub.calls) == 3, timeout=10, what="the 3 held answers")
