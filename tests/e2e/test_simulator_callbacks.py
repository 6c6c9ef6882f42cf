"""A simulated land registry that answers later, as the real one does: after taking a dossier in, it
calls the hub's inbound endpoint (POST /soap/land, SOAP 1.1, its own API key) with CapNhatTrangThaiHoSo,
retries until the hub takes it, signs it where the agency must sign, and resumes after a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sim_support import LAND_NS, LAND_SIMULATOR, SOAP_HEADERS, land_adapter, land_request, project, wait_for
from soap_support import HUB_ENVIRON, LAND, LAND_KEY, PROVINCE
from support import agencies_signing_under_one_ca

from lienthong.devtools.simulator import SimulatorServer, SimulatorSpec, simulator_spec
from lienthong.trust.keys import DevCa, create_dev_ca
from lienthong.xml import XMLDSIG_NS, parse_xml

CALLBACK: dict[str, Any] = {
    "answer": "mappings/land/simulator/tiepnhanhoso-response.xsl",
    "key": "dd:MaHoSoMotCua",
    "then": [
        {"after": "300ms", "status": "processing"},
        {
            "call": "CapNhatTrangThaiHoSo",
            "body": "mappings/land/simulator/capnhattrangthai-callback.xsl",
            "status": "notified",
        },
    ],
}


def callback_spec(
    tmp_path: Path,
    hub_url: str,
    *,
    store: str = ":memory:",
    signing: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
) -> SimulatorSpec:
    """The land simulator with a status update after TiepNhanHoSo, calling ``hub_url`` as the registry."""
    simulator = LAND_SIMULATOR | {
        "operations": {"dd:TiepNhanHoSo": CALLBACK},
        "store": store,
        "api_key_env": "LAND_SIM_API_KEY",
        "retry_initial": "100ms",
        "retry_max": "500ms",
    }
    if signing is not None:
        simulator["signing"] = signing
    config = project(tmp_path / "sim-project", land_adapter(simulator))
    return simulator_spec(
        config, "land", hub_url=hub_url, environ={"LAND_SIM_API_KEY": LAND_KEY, **(environ or {})}
    )


def stored_messages(database: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [
            dict(r)
            for r in conn.execute(
                "SELECT kind, sender, recipient, dossier_code, sender_message_id, payload "
                "FROM messages JOIN message_payloads ON message_payloads.message_id = messages.id"
            )
        ]


def sim_records(server: SimulatorServer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(server.base_url + "/_sim/records", timeout=10).json()
    return found


def take_in(server: SimulatorServer, index: int = 0) -> str:
    dossier, request = land_request(index)
    response = httpx.post(server.url, content=request, headers=SOAP_HEADERS, timeout=10)
    assert response.status_code == 200, response.text
    return dossier


def test_a_status_update_reaches_the_hub_as_a_message_from_the_land_registry(
    hub_factory: Callable[..., Any], tmp_path: Path
) -> None:
    hub = hub_factory(environ=HUB_ENVIRON)
    with SimulatorServer(callback_spec(tmp_path, hub.url)) as sim:
        dossier = take_in(sim)
        [record] = wait_for(
            lambda: [r for r in sim_records(sim) if r["status"] == "notified"],
            timeout=20,
            what="the callback",
        )
        [message] = stored_messages(hub.project.database)
        [step0, step1] = httpx.get(sim.base_url + "/_sim/steps").json()

    assert record["key"] == dossier
    assert (message["kind"], message["sender"], message["recipient"]) == ("status", LAND, PROVINCE)
    assert message["dossier_code"] == dossier
    assert message["sender_message_id"] == step1["callback_id"]
    update = parse_xml(message["payload"])
    assert update.tag == f"{{{LAND_NS}}}CapNhatTrangThaiHoSo"
    assert update.findtext(f"{{{LAND_NS}}}TrangThai") == "4"
    assert update.findtext(f"{{{LAND_NS}}}MaHoSoDatDai", "").startswith("DD-")
    assert (step0["state"], step1["state"], step1["attempts"]) == ("done", "done", 1)


def test_callbacks_wait_for_a_hub_that_is_down_and_survive_a_simulator_restart(
    hub_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """The hub is not there at first; the simulator stops with its callback pending; another simulator
    process on the same records delivers it once the hub is up, exactly once."""
    from support import free_port

    down = f"http://127.0.0.1:{free_port()}"
    store = str(tmp_path / "var" / "sim" / "land.db")
    with SimulatorServer(callback_spec(tmp_path, down, store=store)) as first:
        dossier = take_in(first)
        failing = wait_for(
            lambda: [
                s
                for s in httpx.get(first.base_url + "/_sim/steps").json()
                if s["step"] == 1 and s["attempts"] >= 2
            ],
            timeout=20,
            what="the callback to be tried against a hub that is down",
        )
        assert "ConnectError" in failing[0]["last_error"]

    hub = hub_factory(environ=HUB_ENVIRON)
    with SimulatorServer(callback_spec(tmp_path / "again", hub.url, store=store)) as second:
        wait_for(
            lambda: [r for r in sim_records(second) if r["status"] == "notified"],
            timeout=20,
            what="the callback",
        )
    [message] = stored_messages(hub.project.database)
    assert message["dossier_code"] == dossier and message["sender"] == LAND


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Đăng ký đất đai"})


def test_a_signed_status_update_is_verified_by_a_hub_that_requires_the_registry_to_sign(
    hub_factory: Callable[..., Any],
    project_factory: Callable[..., Any],
    land_sim: Any,
    dev_ca: DevCa,
    tmp_path: Path,
) -> None:
    hub_project = project_factory(land_sim.url)
    hub_project.update("hub.yaml", agencies_signing_under_one_ca(dev_ca.ca_certificate, PROVINCE, LAND))
    hub = hub_factory(hub_project, environ=HUB_ENVIRON)
    certificate, key = dev_ca.agencies[LAND]
    signing = {"key_file_env": "LAND_SIM_KEY", "certificate_file_env": "LAND_SIM_CERT"}
    environ = {"LAND_SIM_KEY": str(key), "LAND_SIM_CERT": str(certificate)}

    unsigned = callback_spec(tmp_path / "unsigned", hub.url)
    with SimulatorServer(unsigned) as sim:  # the hub refuses it, and the simulator keeps trying
        take_in(sim, 0)
        refused = wait_for(
            lambda: [
                s for s in httpx.get(sim.base_url + "/_sim/steps").json() if s["step"] == 1 and s["attempts"]
            ],
            timeout=20,
            what="a refused callback",
        )
        assert "must be signed" in refused[0]["last_error"]

    signed = callback_spec(tmp_path / "signed", hub.url, signing=signing, environ=environ)
    with SimulatorServer(signed) as sim:
        dossier = take_in(sim, 1)
        wait_for(
            lambda: [r for r in sim_records(sim) if r["status"] == "notified"],
            timeout=20,
            what="the callback",
        )
    [message] = stored_messages(hub.project.database)
    assert message["dossier_code"] == dossier
    assert etree.fromstring(message["payload"]).find(f"{{{XMLDSIG_NS}}}Signature") is not None
