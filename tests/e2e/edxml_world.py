"""A full world for official documents over real HTTP: a hub on loopback, the axis simulator (``hub simulate
vpcp``) with two scripted ministries, the province's document system (``hub simulate qlvb``) and one dev CA
whose keys sign for the province and both ministries. Shared by the end-to-end edXML tests, which differ
only in how the ministries behave and which other agencies the hub trusts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from axis_support import PROVINCE, QLVB_ADAPTER, VPCP_ADAPTER, edxml_routes
from conftest import HUB_ENVIRON, TEST_RETRY, TEST_WORKERS, Project, new_project
from support import agencies_signing_under_one_ca, free_port

from lienthong.compose import Hub, build_hub
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator.axis import EdxmlSimulatorServer, edxml_simulator_spec
from lienthong.intake.callers import CallerRegistry
from lienthong.intake.rest import create_app
from lienthong.trust.keys import DevCa, create_dev_ca
from lienthong.xml import parse_xml

FINANCE, HOME = "000.00.00.G06", "000.00.00.G09"
AXIS_KEY, QLVB_AXIS_KEY, QLVB_HUB_KEY = "axis-key-not-a-secret", "qlvb-axis-key", "qlvb-hub-key"
ENV = {"VPCP_API_KEY": AXIS_KEY, "QLVB_AXIS_API_KEY": QLVB_AXIS_KEY, "HUB_QLVB_API_KEY": QLVB_HUB_KEY}


@dataclass
class World:
    project: Project
    hub: Hub
    ca: DevCa
    axis: EdxmlSimulatorServer
    qlvb: EdxmlSimulatorServer
    client: httpx.Client

    def mailbox(self, server: EdxmlSimulatorServer, agency: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{server.base_url}/_sim/mailbox/{agency}", timeout=10)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    def body(self, server: EdxmlSimulatorServer, doc_id: str) -> bytes:
        return httpx.get(f"{server.base_url}/_sim/messages/{doc_id}", timeout=10).content

    def status_codes(self, server: EdxmlSimulatorServer, agency: str, sender: str) -> list[str]:
        return [
            str(parse_xml(self.body(server, m["docId"])).findtext(".//{*}Status/{*}StatusCode"))
            for m in self.mailbox(server, agency)
            if m["messageType"] == "status" and m["from"] == sender
        ]

    def document_state(self, document_id: str) -> dict[str, Any]:
        """``GET /api/v1/documents/{id}`` as QLVB reads it."""
        answer = self.client.get(f"/api/v1/documents/{quote(document_id, safe='')}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


@contextmanager
def edxml_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    refuse_changes: tuple[str, ...] = (),
    trust: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[World]:
    """The world; ``refuse_changes``: ministries that answer 16 to a revocation, update or replacement;
    ``trust``: more agencies for hub.yaml's ``trust.agencies`` (beside the two ministries)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    ca = create_dev_ca(tmp_path / "keys", PROVINCE, {FINANCE: "Bộ Tài chính", HOME: "Bộ Nội vụ"})
    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    project = new_project(tmp_path / "project", adapters=(VPCP_ADAPTER, QLVB_ADAPTER), routes=edxml_routes())
    callers = project.read("hub.yaml")["callers"] + [
        {
            "agency": PROVINCE,
            "name": "QLVB",
            "api_key_env": "HUB_QLVB_API_KEY",
            "services": ["rest:submit", "rest:read"],
        }
    ]
    keys = [r.model_dump(mode="json", exclude_none=True) for r in ca.key_references()]
    trusted = agencies_signing_under_one_ca(ca.ca_certificate, FINANCE, HOME)
    trusted["trust"]["agencies"].update(trust or {})
    project.update(
        "hub.yaml",
        {
            "database": {"url": f"sqlite:///{project.database}"},
            "api": {"port": 0},
            "workers": TEST_WORKERS,
            "callers": callers,
            "keys": {"signing": keys},
            **trusted,
        },
    )
    fast = {"store": ":memory:", "delay": "100ms"}
    agencies = project.read("adapters/vpcp.yaml")["simulator"]["agencies"]
    for code in refuse_changes:
        agencies[code] = {**agencies[code], "refuse_changes": True}
    project.update(
        "adapters/vpcp.yaml",
        {"simulator": {**fast, "keys_dir": str(tmp_path / "keys" / "agencies"), "agencies": agencies}},
    )
    project.update("adapters/qlvb.yaml", {"simulator": fast})
    config = project.load()
    axis_spec = edxml_simulator_spec(config, "vpcp", environ=ENV)
    qlvb_spec = edxml_simulator_spec(config, "qlvb", environ=ENV, hub_url=hub_url)
    with EdxmlSimulatorServer(axis_spec) as axis, EdxmlSimulatorServer(qlvb_spec) as qlvb:
        common = {"timeout": "5s", "connect_timeout": "1s", "retry": TEST_RETRY}
        project.update(
            "adapters/vpcp.yaml",
            {
                **common,
                "endpoint": f"{axis.base_url}/axis",
                "signing": {"policy": "edxml"},
                "receiving": {"interval": "300ms"},
            },
        )
        project.update("adapters/qlvb.yaml", {**common, "endpoint": f"{qlvb.base_url}/qlvb"})
        hub = build_hub(project.load())
        environ = {**HUB_ENVIRON, "HUB_QLVB_API_KEY": QLVB_HUB_KEY}
        app = create_app(hub, callers=CallerRegistry(hub.config.hub.callers, environ))
        server = BackgroundServer(app, port=hub_port).start()
        client = httpx.Client(base_url=server.url, timeout=30, headers={"X-API-Key": QLVB_HUB_KEY})
        try:
            yield World(project, hub, ca, axis, qlvb, client)
        finally:
            client.close()
            server.stop()
            hub.close()
