"""Citizens told, over real HTTP and SMTP: the hub, the land registry's pushes, the one-stop system's
callback (motcua simulator), an SMTP sink on loopback (aiosmtpd) and the SMS gateway's simulator.

A dossier with the citizen's email and phone is entered; the registry reports it processing (4), then
its result (10). Each status reaches the citizen once by email and once by SMS, rendered from the
Vietnamese templates — even when the mail server refuses for a while and the hub is restarted in
between (the notice is a stored delivery), and when the registry reports the same status again.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TEST_BREAKER, TEST_RETRY, Project, RunningHub, Simulator
from project_support import ROOT, AdapterSource
from sim_support import wait_for
from smtp_sink import SmtpSink
from soap_support import HUB_ENVIRON, RESULT_ACTION, STATUS_ACTION, ack, envelope, post

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec

CODE = "000.00.00.H49-261121-0001"
DOSSIER_FILE = ROOT / "adapters" / "land" / "cases" / "transfer-basic" / "input.xml"
STATUS_FILE = ROOT / "adapters" / "dvcqg" / "cases" / "land-status-processing" / "input.xml"
RESULT_FILE = ROOT / "adapters" / "dvcqg" / "cases" / "land-result-certificate" / "input.xml"
EMAIL = "nguyenthihuong88@gmail.com"  # as the dossier gives them
PHONE = "0912345678"
DD = "urn:lienthong:tnmt:dangkydatdai:1"
TB = "urn:lienthong:notice:1"
SECRETS = {
    "MOTCUA_CALLBACK_API_KEY": "test-motcua-callback-key-not-a-secret",
    "SMS_GATEWAY_API_KEY": "test-sms-gateway-key-not-a-secret",
}
ROUTES: list[dict[str, Any]] = [
    {
        "name": "land-transfer",
        "match": {"kind": "dossier", "procedure_code": ["1.004227*"]},
        "targets": ["land"],
    },
    {
        "name": "land-status",
        "match": {
            "kind": "status",
            "sender": "000.00.00.G13",
            "xpath": "boolean(/dd:CapNhatTrangThaiHoSo)",
            "namespaces": {"dd": DD},
        },
        "targets": ["motcua"],
    },
    {
        "name": "land-result",
        "match": {
            "kind": "answer",
            "sender": "000.00.00.G13",
            "xpath": "boolean(/dd:TraKetQuaHoSo)",
            "namespaces": {"dd": DD},
        },
        "targets": ["motcua"],
    },
    *[
        {
            "name": f"notice-{channel}",
            "match": {
                "kind": "status",
                "sender": "000.00.00.H49",
                "xpath": f"boolean(/tb:ThongBaoCongDan[tb:Kenh = '{channel}'])",
                "namespaces": {"tb": TB},
            },
            "targets": [channel],
        }
        for channel in ("email", "sms")
    ],
]
TEMPLATES = {
    "4": {
        "subject": "Hồ sơ {{ ma_ho_so }} đang được xử lý",
        "email": "Kính gửi {{ chu_ho_so }},\n{{ noi_dung_xu_ly }}.\nNgày hẹn trả: {{ ngay_hen_tra }}.",
        "sms": "Ho so {{ ma_ho_so }} dang duoc xu ly. Hen tra: {{ ngay_hen_tra }}",
    },
    "10": {
        "subject": "Hồ sơ {{ ma_ho_so }} đã có kết quả",
        "email": "Kính gửi {{ chu_ho_so }},\n{% for g in giay_to_ket_qua %}- {{ g }}\n{% endfor %}",
        "sms": "Ho so {{ ma_ho_so }} da co ket qua",
    },
}


@dataclass
class World:
    project: Project
    start: Callable[[], RunningHub]
    sink: SmtpSink
    motcua: SimulatorServer
    sms: SimulatorServer
    sms_store: Path

    def sms_sent(self) -> list[tuple[str, str]]:
        """(Phone, Content) of every request the gateway took, in order, as the hub sent them."""
        with sqlite3.connect(f"file:{self.sms_store}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT request FROM records ORDER BY sequence").fetchall()
        return [(body["Phone"], body["Content"]) for body in (json.loads(row[0]) for row in rows)]

    def sms_bodies(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = httpx.get(
            f"{self.sms.base_url}/_sim/records", params={"key": PHONE}
        ).json()
        return records

    def checks(self) -> list[tuple[str, str]]:
        with sqlite3.connect(f"file:{self.project.database}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT status, outcome FROM notice_checks ORDER BY checked_at").fetchall()
        return [(str(s), str(o)) for s, o in rows]


@pytest.fixture
def world(
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    land_sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    adapters = tuple(AdapterSource(name, ROOT) for name in ("motcua", "email", "sms"))
    project = project_factory(land_sim.url, adapters=adapters, routes=ROUTES)
    sink = SmtpSink()
    sink.start()
    servers: list[SimulatorServer] = []
    try:
        for name in ("motcua", "sms"):
            spec = simulator_spec(project.load(), name, store=tmp_path / f"{name}.db", environ=SECRETS)
            server = SimulatorServer(spec, FaultPlan(seed=5))
            server.start()
            servers.append(server)
        motcua, sms = servers
        fast = {"retry": TEST_RETRY, "circuit_breaker": TEST_BREAKER}
        project.update("adapters/motcua.yaml", {"endpoint": motcua.url, **fast})
        project.update("adapters/sms.yaml", {"endpoint": sms.url, **fast})
        project.update("adapters/email.yaml", {"endpoint": sink.url, "timeout": "5s", **fast})
        project.update("hub.yaml", {"notify": {"enabled": True, "interval": "200ms", "templates": TEMPLATES}})
        yield World(
            project, lambda: hub_factory(project, environ=HUB_ENVIRON), sink, motcua, sms, tmp_path / "sms.db"
        )
    finally:
        for server in servers:
            server.stop()
        sink.stop()


def submit_dossier(hub: RunningHub) -> None:
    response = hub.submit(
        {
            "sender_message_id": f"motcua-{CODE}",
            "kind": "dossier",
            "sender": "000.00.00.H49",
            "procedure_code": "1.004227",
            "dossier_code": CODE,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(DOSSIER_FILE.read_bytes()).decode("ascii"),
        }
    )
    assert response.status_code == 202, response.text
    hub.wait(response.json()["message_id"])


def push(hub: RunningHub, file: Path, action: str, message_id: str) -> str:
    body = re.sub(r"<\?xml[^>]*\?>|<!--.*?-->", "", file.read_text(encoding="utf-8"), flags=re.S).strip()
    response = post(hub.client, "soap11", envelope("soap11", body, message_id=message_id), action=action)
    assert response.status_code == 200, response.text
    return str(ack(response)["messageId"])


def emails_to_citizen(world: World, count: int) -> list[Any]:
    return wait_for(
        lambda: [r for r in world.sink.received] if len(world.sink.received) >= count else None,
        timeout=60,
        what=f"{count} emails at the SMTP sink",
    )


def test_each_status_change_reaches_the_citizen_once_by_email_and_sms_across_a_restart(world: World) -> None:
    world.sink.refuse("451 4.3.0 Mailbox busy, try again later")
    hub = world.start()
    submit_dossier(hub)
    status_id = push(hub, STATUS_FILE, STATUS_ACTION, "dkdd-status-0001")
    hub.wait(status_id)  # the one-stop system has it

    # The notice is stored and tried; the mail server keeps refusing; the hub goes down meanwhile.
    wait_for(lambda: world.sink.refused >= 1, timeout=60, what="an email attempt the server refused")
    hub.stop()
    world.sink.refuse(None)

    hub = world.start()  # the same database: the notice is still due, nothing is made twice
    [first] = emails_to_citizen(world, 1)
    mail = first.message
    assert first.rcpt_tos == (EMAIL,)
    assert mail["Subject"] == f"Hồ sơ {CODE} đang được xử lý"
    text = mail.get_content()
    assert "Kính gửi Nguyễn Thị Hương," in text
    assert "Hồ sơ đang được thẩm định tại Văn phòng đăng ký đất đai." in text
    assert "Ngày hẹn trả: 07/12/2026 16:30." in text  # the registry's new appointment, in Vietnam time
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Trung tâm Phục vụ hành chính công tỉnh Quảng Ninh",
        "thongbao@quangninh.gov.vn",
    )
    [sms] = wait_for(world.sms_bodies, timeout=60, what="the SMS at the gateway")
    assert sms["operation"] == "GuiTinNhan"

    # The registry reports the same status again (a new message of its own): no second notice.
    again = push(hub, STATUS_FILE, STATUS_ACTION, "dkdd-status-0002")
    assert again != status_id
    hub.wait(again)
    wait_for(lambda: len(world.checks()) >= 2, timeout=60, what="the second report examined")
    assert world.checks() == [("4", "sent"), ("4", "repeat")]

    # The result: one more email and SMS, naming the certificate.
    hub.wait(push(hub, RESULT_FILE, RESULT_ACTION, "dkdd-result-0001"))
    wait_for(lambda: len(world.checks()) >= 3, timeout=60, what="the result examined")
    emails = emails_to_citizen(world, 2)
    hub.stop()
    hub = world.start()  # and nothing is sent again after another restart
    wait_for(lambda: len(world.sms_bodies()) >= 2, timeout=60, what="the second SMS")
    assert [e.message["Subject"] for e in world.sink.received] == [
        f"Hồ sơ {CODE} đang được xử lý",
        f"Hồ sơ {CODE} đã có kết quả",
    ]
    assert "Giấy chứng nhận" in emails[1].message.get_content()
    assert len({e.message["Message-ID"] for e in emails}) == 2
    assert world.checks() == [("4", "sent"), ("4", "repeat"), ("10", "sent")]
    assert len(world.sms_bodies()) == 2
    assert world.sms_sent() == [
        (PHONE, f"Ho so {CODE} dang duoc xu ly. Hen tra: 07/12/2026 16:30"),
        (PHONE, f"Ho so {CODE} da co ket qua"),
    ]

    # The notices are in the dossier's trail like any message: caused by the status, delivered.
    trail = hub.client.get(f"/api/v1/dossiers/{CODE}").json()
    notices = [
        m for m in trail["messages"] if m.get("sender") == "000.00.00.H49" and m.get("kind") == "status"
    ]
    assert len(notices) == 4, trail
