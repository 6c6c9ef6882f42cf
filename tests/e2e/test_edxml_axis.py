"""Official documents over real HTTP: the shipped vpcp and qlvb adapters and edXML routes, a hub serving
its REST API on loopback, and two fake axis endpoints on loopback (the national axis, the province's
document system) that keep the protocol's rules (tests/axis_support.py: hash-file checked, mailboxes,
pending until updateStatus).

* The province's document system (QLVB) submits an edXML document (JSON envelope, base64): it reaches
  the axis with a hash-file that matches its bytes, addressed to its recipients, and the axis's DocId
  is kept with the delivery.
* A ministry's document waiting on the axis is fetched, answered 01 (arrived) back through the axis,
  delivered to QLVB and confirmed done; fetched twice (an axis that forgot the confirmation), it is
  still delivered once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axis_support import (
    AXIS_KEY,
    MINISTRY,
    OTHER_MINISTRY,
    PROVINCE,
    QLVB_ADAPTER,
    QLVB_KEY,
    VPCP_ADAPTER,
    FakeAxis,
    edxml_routes,
    ministry_document,
    province_document,
)
from conftest import HUB_ENVIRON, TEST_RETRY, TEST_WORKERS, Project, new_project
from support import free_port, wait_until

from lienthong.compose import Hub, build_hub
from lienthong.devtools.background import BackgroundServer
from lienthong.intake.callers import CallerRegistry
from lienthong.intake.rest import create_app
from lienthong.xml import parse_xml

QLVB_HUB_KEY = "test-qlvb-hub-key-not-a-secret"


@dataclass
class AxisWorld:
    project: Project
    hub: Hub
    axis: FakeAxis
    qlvb: FakeAxis
    client: httpx.Client

    def rows(self, sql: str, *args: object) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.project.database}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, args)]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AxisWorld]:
    monkeypatch.setenv("VPCP_API_KEY", AXIS_KEY)
    monkeypatch.setenv("QLVB_AXIS_API_KEY", QLVB_KEY)
    axis, qlvb = FakeAxis(AXIS_KEY), FakeAxis(QLVB_KEY)
    axis_server = BackgroundServer(axis.asgi()).start()
    qlvb_server = BackgroundServer(qlvb.asgi()).start()
    project = new_project(tmp_path / "project", adapters=(VPCP_ADAPTER, QLVB_ADAPTER), routes=edxml_routes())
    callers = project.read("hub.yaml")["callers"] + [
        {
            "agency": PROVINCE,
            "name": "QLVB",
            "api_key_env": "HUB_QLVB_API_KEY",
            "services": ["rest:submit", "rest:read"],
        }
    ]
    project.update(
        "hub.yaml",
        {
            "database": {"url": f"sqlite:///{project.database}"},
            "api": {"port": 0},
            "workers": TEST_WORKERS,
            "callers": callers,
        },
    )
    common = {"timeout": "5s", "connect_timeout": "1s", "retry": TEST_RETRY}
    project.update(
        "adapters/vpcp.yaml",
        {**common, "endpoint": f"{axis_server.url}/axis", "receiving": {"interval": "300ms"}},
    )
    project.update("adapters/qlvb.yaml", {**common, "endpoint": f"{qlvb_server.url}/qlvb"})
    hub = build_hub(project.load())
    environ = {**HUB_ENVIRON, "HUB_QLVB_API_KEY": QLVB_HUB_KEY}
    app = create_app(hub, callers=CallerRegistry(hub.config.hub.callers, environ))
    server = BackgroundServer(app, port=free_port()).start()
    client = httpx.Client(base_url=server.url, timeout=30, headers={"X-API-Key": QLVB_HUB_KEY})
    try:
        yield AxisWorld(project, hub, axis, qlvb, client)
    finally:
        client.close()
        server.stop()
        hub.close()
        axis_server.stop()
        qlvb_server.stop()


def test_a_document_from_qlvb_reaches_the_axis_with_its_hash_and_the_axis_id_is_kept(
    world: AxisWorld,
) -> None:
    document = province_document()
    body = {
        "sender_message_id": "qlvb-2026-125",
        "kind": "document",
        "sender": PROVINCE,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(document).decode("ascii"),
    }
    response = world.client.post("/api/v1/messages", json=body)
    assert response.status_code == 202, response.text
    message_id = response.json()["message_id"]

    def delivered() -> dict[str, Any] | None:
        view: dict[str, Any] = world.client.get(f"/api/v1/messages/{message_id}").json()
        return view if view["deliveries"] and view["deliveries"][0]["state"] == "delivered" else None

    view = wait_until(delivered, timeout=30, what="the document delivered to the axis")
    assert [d["target"] for d in view["deliveries"]] == ["vpcp"]

    # What the axis holds: the stored bytes, addressed to both ministries, its hash-file checked.
    [send] = [h for op, h in world.axis.calls if op == "sendEdoc"]
    [edoc] = world.axis.edocs.values()
    assert send["hash-file"] == hashlib.sha256(edoc.body).hexdigest()
    assert (send["from"], send["to"], send["messagetype"]) == (
        PROVINCE,
        f"{MINISTRY},{OTHER_MINISTRY}",
        "edoc",
    )
    [stored] = world.rows(
        "SELECT payload FROM deliveries JOIN delivery_payloads ON delivery_id = id WHERE target = 'vpcp'"
    )
    assert edoc.body == stored["payload"]
    assert parse_xml(edoc.body).findtext(".//{*}CodeNumber") == "125"
    # The axis's id of the document, kept with the delivery's answer.
    [attempt] = world.rows(
        "SELECT a.response FROM attempts a JOIN deliveries d ON a.delivery_id = d.id WHERE d.target = 'vpcp'"
    )
    assert json.loads(attempt["response"])["DocId"] == edoc.doc_id


def test_a_ministry_document_is_fetched_answered_01_delivered_once_and_confirmed(world: AxisWorld) -> None:
    world.axis.lose_updates = True  # the first confirmation is lost: the document is listed again
    body = ministry_document()
    doc_id = world.axis.put(body, sender=MINISTRY, to=(PROVINCE,))  # the hub's schedule runs already

    # Fetched at least twice (the axis forgot the first 'done'), delivered to QLVB once.
    wait_until(
        lambda: sum(1 for d, _, s in world.axis.updates if d == doc_id and s == "done") >= 2,
        timeout=30,
        what="two confirmations of the document on the axis",
    )
    world.axis.lose_updates = False
    wait_until(lambda: world.qlvb.edocs, timeout=30, what="the document delivered to QLVB")
    # The hub's 01 went back to the axis, to the ministry, about that document.
    arrived = wait_until(
        lambda: [e for e in world.axis.edocs.values() if e.message_type == "status"],
        timeout=30,
        what="status 01 on the axis",
    )

    [delivered] = world.qlvb.edocs.values()
    assert delivered.body == body and delivered.to == (PROVINCE,) and delivered.sender == MINISTRY
    [status] = arrived
    assert (status.sender, status.to) == (PROVINCE, (MINISTRY,))
    tree = parse_xml(status.body)
    assert tree.findtext(".//{*}StatusCode") == "01"
    assert tree.findtext(".//{*}ResponseFor/{*}DocumentId") == parse_xml(body).findtext(".//{*}DocumentId")
    wait_until(
        lambda: world.axis.edocs[doc_id].statuses.get(PROVINCE) == "done",
        timeout=30,
        what="the document confirmed done on the axis",
    )
    assert len(world.qlvb.edocs) == 1
    fetched = world.rows("SELECT sender, sender_message_id FROM messages WHERE sender = ?", MINISTRY)
    assert fetched == [{"sender": MINISTRY, "sender_message_id": f"axis:{doc_id}"}]
    assert len([op for op, h in world.axis.calls if op == "getEdoc" and h["docid"] == doc_id]) >= 2
