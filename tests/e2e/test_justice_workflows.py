"""The Ministry of Justice over real HTTP: the shipped justice adapter, its simulator on loopback, a hub.

* Civil status: a birth registration entered at the one-stop desk is pushed to the civil status
  service as NhanDKHT JSON (module LTKS); the hub polls LayKetQua on its schedule, only for dossiers
  still awaiting a result, and stores the result once, however often it is polled.
* Criminal record: a request goes to the LLTP system over SOAP; the system pushes the certificate back
  to /soap/justice, and the hub keeps the PDF byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from conftest import HUB_ENVIRON, TEST_RETRY, TEST_WORKERS, Project, new_project
from justice_support import (
    BIRTH,
    JUSTICE,
    JUSTICE_ADAPTER,
    LLTP,
    LLTP_NS,
    PROVINCE,
    SAMPLE_PDF,
    birth_dossier,
    lltp_dossier,
)
from ruamel.yaml import YAML
from support import MOTCUA_HEADERS, free_port, wait_until

from lienthong.compose import Hub, build_hub
from lienthong.delivery.polling import Poller
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.demo import dossier_body
from lienthong.devtools.simulator import SimulatorServer, simulator_spec
from lienthong.devtools.simulator.records import RecordFilter
from lienthong.intake.callers import CallerRegistry
from lienthong.intake.rest import create_app
from lienthong.store import AwaitingDossier
from lienthong.xml import parse_xml

ROOT = Path(__file__).resolve().parents[2]
JUSTICE_KEY = "test-justice-key-not-a-secret"
POLL_LINE = re.compile(
    r"poll justice/LayKetQua/(?P<group>\S+) asked \d+ dossiers \((?P<codes>[^)]*)\): (?P<rest>.*)"
)


def shipped_routes(*names: str) -> list[dict[str, Any]]:
    """The shipped rules, targeting justice only (the national portal's sync is not this test's)."""
    routes = YAML(typ="safe", pure=True).load((ROOT / "config" / "routes.yaml").read_text(encoding="utf-8"))
    return [r | {"targets": ["justice"]} for r in routes["routes"] if r["name"] in names]


@dataclass
class JusticeWorld:
    project: Project
    hub: Hub
    url: str
    sim: SimulatorServer
    client: httpx.Client

    def submit(self, code: str, procedure: str, xml: bytes) -> str:
        response = self.client.post("/api/v1/messages", json=dossier_body(code, procedure, xml))
        assert response.status_code == 202, response.text
        return str(response.json()["message_id"])

    def wait_delivered(self, message_id: str) -> dict[str, Any]:
        def delivered() -> dict[str, Any] | None:
            view: dict[str, Any] = self.client.get(f"/api/v1/messages/{message_id}").json()
            return view if all(d["state"] == "delivered" for d in view["deliveries"]) else None

        return wait_until(delivered, timeout=30, what=f"message {message_id} delivered")

    def messages(self, **where: str) -> list[dict[str, Any]]:
        clause = " AND ".join(f"{k} = ?" for k in where) or "1 = 1"
        with sqlite3.connect(f"file:{self.project.database}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT id, kind, sender, recipient, dossier_code, procedure_code, sender_message_id, "
                "causation_id, content_type, payload FROM messages JOIN message_payloads ON message_id = id "
                f"WHERE {clause}",
                tuple(where.values()),
            )
            return [dict(r) for r in rows]


@pytest.fixture
def justice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JusticeWorld]:
    """The shipped justice adapter and routes, its simulator (fast steps) and a hub polling every 300 ms."""
    monkeypatch.setenv("JUSTICE_API_KEY", "test-civil-status-key-not-a-secret")  # what the hub sends
    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    project = new_project(
        tmp_path / "project",
        adapters=(JUSTICE_ADAPTER,),
        routes=shipped_routes("civil-status", "criminal-record"),
    )
    project.update(
        "hub.yaml",
        {
            "database": {"url": f"sqlite:///{project.database}"},
            "api": {"port": 0},
            "workers": TEST_WORKERS,
        },
    )
    callers = project.read("hub.yaml")["callers"] + [
        {
            "agency": JUSTICE,
            "name": "Bộ Tư pháp",
            "api_key_env": "HUB_JUSTICE_API_KEY",
            "services": ["soap:justice/*"],
        }
    ]
    project.update("hub.yaml", {"callers": callers})
    adapter = project.read("adapters/justice.yaml")
    services = adapter["simulator"]["services"]
    services[0]["operations"]["NhanDKHT"]["then"] = [{"after": "800ms", "status": "ready"}]
    services[1]["operations"]["lltp:YeuCauLLTP"]["then"][0]["after"] = "300ms"
    project.update(
        "adapters/justice.yaml",
        {
            "simulator": {
                "store": ":memory:",
                "retry_initial": "100ms",
                "retry_max": "500ms",
                "services": services,
            }
        },
    )
    spec = simulator_spec(
        project.load(), "justice", hub_url=hub_url, environ={"JUSTICE_SIM_API_KEY": JUSTICE_KEY}
    )
    with SimulatorServer(spec) as sim:
        base = sim.base_url
        project.update(
            "adapters/justice.yaml",
            {
                "endpoint": f"{base}/api/hotich/NhanDKHT",
                "timeout": "5s",
                "connect_timeout": "1s",
                "retry": TEST_RETRY,
                "operations": {"YeuCauLLTP": {"endpoint": f"{base}/soap/lltp"}},
                "polling": {
                    "LayKetQua": {
                        "interval": "300ms",
                        "request": {"endpoint": f"{base}/api/hotich/LayKetQua"},
                    }
                },
            },
        )
        hub = build_hub(project.load())
        environ = {**HUB_ENVIRON, "HUB_JUSTICE_API_KEY": JUSTICE_KEY}
        app = create_app(hub, callers=CallerRegistry(hub.config.hub.callers, environ))
        server = BackgroundServer(app, port=hub_port).start()
        client = httpx.Client(base_url=server.url, timeout=30, headers=MOTCUA_HEADERS)
        try:
            yield JusticeWorld(project, hub, server.url, sim, client)
        finally:
            client.close()
            server.stop()
            hub.close()


def poll_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    found = (POLL_LINE.match(r.getMessage()) for r in caplog.records if r.name == "lienthong.poll")
    return [m for m in found if m is not None]


def test_a_birth_registration_is_pushed_polled_and_its_result_stored_once(
    justice: JusticeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.poll")
    code = "000.00.00.H49-261121-0001"
    child = "Nguyễn Ngọc Ánh"
    lltp_code = "000.00.00.H49-261121-0002"
    message_id = justice.submit(code, BIRTH, birth_dossier(code, child=child))
    justice.wait_delivered(justice.submit(lltp_code, LLTP, lltp_dossier(lltp_code)))
    view = justice.wait_delivered(message_id)
    assert [(d["target"], d["operation"]) for d in view["deliveries"]] == [("justice", "NhanDKHT")]

    # What the civil status service received: JSON its schema accepts, the values entered once.
    [record] = justice.sim.core.store.query(RecordFilter(key=code, operation="NhanDKHT"))
    sent = json.loads(record.request)
    schema = json.loads((ROOT / "schemas" / "justice" / "nhandkht.schema.json").read_text(encoding="utf-8"))
    assert jsonschema_rs.validator_for(schema).is_valid(sent)
    assert (sent["module"], sent["maHoSoMCDT"], sent["maDonVi"], sent["maTTHC"]) == (
        "LTKS",
        code,
        PROVINCE,
        BIRTH,
    )
    hoTich = sent["data"]["hoTich"]
    assert (hoTich["nksHoTen"], hoTich["nksNgaySinh"], hoTich["nksGioiTinh"]) == (child, "02/11/2026", "2")
    assert (hoTich["meHoTen"], hoTich["meSoGiayToTuyThan"]) == ("Trần Thị Hương", "022190001234")
    assert (hoTich["chaHoTen"], hoTich["chaSoGiayToTuyThan"]) == ("Nguyễn Đức Thắng", "022091005678")
    assert record.request == justice.hub.store.get_message(uuid.UUID(message_id)).deliveries[0].payload

    # Polled on the schedule until the result is ready (800 ms after it was taken in), then stored.
    answers = wait_until(
        lambda: justice.messages(kind="answer", sender=JUSTICE, dossier_code=code),
        timeout=20,
        what="the polled result",
    )
    [answer] = answers
    result = json.loads(answer["payload"])
    assert (result["maHoSoMCDT"], result["trangThai"], result["module"]) == (code, "10", "LTKS")
    assert result["ketQuaXuLy"]["nksHoTen"] == child
    assert answer["sender_message_id"] == f"poll:justice/LayKetQua:{code}:{result['maHoSoLT']}"
    assert (answer["recipient"], answer["procedure_code"], answer["content_type"]) == (
        PROVINCE,
        BIRTH,
        "application/json",
    )
    assert str(answer["causation_id"]).replace("-", "") == message_id.replace("-", "")

    # Later polls never ask about it again, and no poll asked about the LLTP request (not awaited there).
    wait_until(lambda: len(poll_lines(caplog)) >= 1, timeout=5, what="poll log lines")
    lines = poll_lines(caplog)
    assert any("0 ready" in m["rest"] for m in lines), "a poll before the result was ready"
    assert all(m["codes"] == code and m["group"] == BIRTH for m in lines)
    asked_before = len(lines)
    polls_now = justice.hub.pollers.run_once()
    assert polls_now == [], "nothing awaits: no call"
    assert len(poll_lines(caplog)) == asked_before

    # Polled again anyway (two processes, a crash before the lease was given back): a repeat.
    [poller] = justice.hub.pollers.pollers
    assert isinstance(poller, Poller)
    delivered_at = justice.hub.store.get_message(uuid.UUID(message_id)).deliveries[0].delivered_at
    assert delivered_at is not None
    again = AwaitingDossier(code, BIRTH, uuid.UUID(message_id), delivered_at)
    outcome = poller.poll_group("justice/LayKetQua/again", BIRTH, [again])
    assert (outcome.ready, outcome.new, outcome.repeats) == (1, 0, 1)
    assert len(justice.messages(kind="answer", sender=JUSTICE, dossier_code=code)) == 1


def test_a_criminal_record_request_gets_its_pdf_certificate_back_byte_for_byte(justice: JusticeWorld) -> None:
    code = "000.00.00.H49-261121-0007"
    person = "Đỗ Thị Quỳnh"
    message_id = justice.submit(code, LLTP, lltp_dossier(code, person=person))
    view = justice.wait_delivered(message_id)
    assert [(d["target"], d["operation"]) for d in view["deliveries"]] == [("justice", "YeuCauLLTP")]
    [record] = justice.sim.core.store.query(RecordFilter(key=code))
    request = parse_xml(record.request).find(f".//{{{LLTP_NS}}}YeuCauLLTP")
    assert request is not None
    assert request.findtext(f"{{{LLTP_NS}}}ToKhai/{{{LLTP_NS}}}HoVaTen") == person
    assert request.findtext(f"{{{LLTP_NS}}}MaHoSo") == code

    [answer] = wait_until(
        lambda: justice.messages(kind="answer", sender=JUSTICE, dossier_code=code),
        timeout=20,
        what="the certificate pushed by the LLTP system",
    )
    pushed = parse_xml(answer["payload"])
    assert pushed.tag == f"{{{LLTP_NS}}}TraKetQuaLLTP"
    assert pushed.findtext(f"{{{LLTP_NS}}}HoVaTen") == person
    pdf = base64.b64decode(pushed.findtext(f"{{{LLTP_NS}}}TepKetQua/{{{LLTP_NS}}}NoiDung") or "")
    assert pdf.startswith(b"%PDF-1.4")
    assert hashlib.sha256(pdf).hexdigest() == hashlib.sha256(SAMPLE_PDF.read_bytes()).hexdigest()
    steps = httpx.get(justice.sim.base_url + "/_sim/steps", timeout=10).json()
    [step] = [s for s in steps if s["state"] == "done"]
    assert answer["sender_message_id"] == step["callback_id"]
