"""A JSON ministry is configuration: tests/fixtures/civil-adapter/ (``plugin: rest``, an XSLT whose
output is the W3C JSON vocabulary, a JSON Schema) delivers a birth registration to a small REST/JSON
service on loopback, over real HTTP, through the hub's API and workers.

What is asserted is what the service receives (JSON bytes, the API key header, the hub's ids), what
the hub keeps (the exact bytes sent and answered) and how it classifies answers: a 503 tried again and
delivered, a rejection code dead-lettered at once, a refused API key dead-lettered.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import Project, RunningHub, Simulator
from project_support import FIXTURES, AdapterSource
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.devtools.background import BackgroundServer

CIVIL_ADAPTER = AdapterSource("civil", FIXTURES / "civil-adapter")
API_KEY = "civil-key-7f3a"
ROUTE = {
    "name": "civil-birth",
    "match": {
        "kind": "dossier",
        "xpath": "boolean(/ks:DangKyKhaiSinh)",
        "namespaces": {"ks": "urn:example:province:hotich:1"},
    },
    "targets": ["civil"],
}


def registration(name: str, code: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DangKyKhaiSinh xmlns="urn:example:province:hotich:1">'
        f"<MaHoSo>{code}</MaHoSo><HoTen>{name}</HoTen><NgaySinh>2026-11-02</NgaySinh>"
        "<NoiSinh>Bệnh viện Đa khoa tỉnh Quảng Nam</NoiSinh><NgayTiepNhan>2026-11-21</NgayTiepNhan>"
        "</DangKyKhaiSinh>"
    ).encode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class CivilService:
    """The civil-status service: checks the API key, answers ``outages`` 503s first, refuses a name
    it is told to refuse with ``error_code`` "05", and otherwise gives a receipt id."""

    outages: int = 0
    refuse: str = "Không Có Thật"
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def nhan_dkht(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append(Received(dict(request.headers), body))
            if self.outages > 0:
                self.outages -= 1
                return Response("Service Unavailable", status_code=503)
            number = len(self.received)
        if request.headers.get("x-api-key") != API_KEY:
            return Response(json.dumps({"error": "unauthorized"}), 401, media_type="application/json")
        data = json.loads(body)
        if data["data"]["hoTen"] == self.refuse:
            answer: dict[str, Any] = {"error_code": "05", "message": "Không tìm thấy công dân"}
        else:
            answer = {"error_code": "00", "maDinhDanhHoSo": f"KS-{number}"}
        return Response(json.dumps(answer, ensure_ascii=False), media_type="application/json")


@pytest.fixture
def civil() -> Iterator[tuple[CivilService, str]]:
    service = CivilService()
    app = Starlette(routes=[Route("/api/NhanDKHT", service.nhan_dkht, methods=["POST"])])
    with BackgroundServer(app) as server:
        yield service, f"{server.url}/api/NhanDKHT"


@pytest.fixture
def start_civil_hub(
    civil: tuple[CivilService, str],
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    land_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], RunningHub]:
    """A hub whose civil adapter sends ``key`` (read, as in production, from the variable its
    ``api_key.env`` names)."""

    def start(key: str) -> RunningHub:
        monkeypatch.setenv("CIVIL_API_KEY", key)
        project = project_factory(land_sim.url, adapters=(CIVIL_ADAPTER,), routes=[ROUTE])
        project.update("adapters/civil.yaml", {"endpoint": civil[1]})
        return hub_factory(project)

    return start


@pytest.fixture
def civil_hub(start_civil_hub: Callable[[str], RunningHub]) -> RunningHub:
    return start_civil_hub(API_KEY)


def submit(hub: RunningHub, name: str, code: str) -> str:
    body = {
        "sender_message_id": f"motcua-{code}",
        "kind": "dossier",
        "sender": "000.00.00.H49",
        "procedure_code": "1.001193",
        "dossier_code": code,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(registration(name, code)).decode("ascii"),
    }
    accepted = hub.submit(body)
    assert accepted.status_code == 202, accepted.text
    message_id: str = accepted.json()["message_id"]
    return message_id


def test_json_reaches_the_service_after_a_503_and_the_answer_is_kept(
    civil: tuple[CivilService, str], civil_hub: RunningHub
) -> None:
    service, _ = civil
    service.outages = 1
    code = "000.00.00.H49-261121-0001"

    message_id = submit(civil_hub, "Nguyễn Thị Lan", code)
    view = civil_hub.wait(message_id)

    [delivery] = view["deliveries"]
    assert delivery["target"] == "civil" and delivery["state"] == "delivered"
    assert [a["response_status"] for a in delivery["history"]] == [503, 200]
    assert delivery["history"][0]["outcome"] == "retry"
    first, second = service.received
    assert first.body == second.body  # the same stored bytes, tried again
    assert json.loads(second.body) == {
        "module": "LTKS",
        "maHoSoMCDT": code,
        "maDonVi": "000.00.00.H49",
        "ngayTiepNhan": "21/11/2026",
        "data": {
            "hoTen": "Nguyễn Thị Lan",
            "ngaySinh": "02/11/2026",
            "noiSinh": "Bệnh viện Đa khoa tỉnh Quảng Nam",
        },
        "fileDinhKem": [],
    }
    assert "Nguyễn Thị Lan".encode() in second.body  # UTF-8 as itself, not \u escapes
    headers = second.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-api-key"] == API_KEY
    assert headers["x-message-id"] == message_id
    assert headers["x-client"] == "000.00.00.H49"
    [stored] = civil_hub.hub.store.get_message(uuid.UUID(message_id)).deliveries
    assert stored.payload == second.body
    assert stored.response is not None
    assert json.loads(stored.response) == {"error_code": "00", "maDinhDanhHoSo": "KS-2"}


def test_a_rejection_code_is_dead_lettered_without_a_retry(
    civil: tuple[CivilService, str], civil_hub: RunningHub
) -> None:
    service, _ = civil

    message_id = submit(civil_hub, service.refuse, "000.00.00.H49-261121-0002")
    view = civil_hub.wait(message_id, ("dead",))

    [delivery] = view["deliveries"]
    assert delivery["attempts"] == 1 and len(service.received) == 1
    assert "error_code = '05'" in delivery["last_error"]
    [stored] = civil_hub.hub.store.get_message(uuid.UUID(message_id)).deliveries
    assert stored.response is not None and "Không tìm thấy công dân" in stored.response.decode()


def test_a_refused_api_key_is_dead_lettered(
    civil: tuple[CivilService, str], start_civil_hub: Callable[[str], RunningHub]
) -> None:
    service, _ = civil
    civil_hub = start_civil_hub("wrong")

    message_id = submit(civil_hub, "Trần Văn Bình", "000.00.00.H49-261121-0003")
    view = civil_hub.wait(message_id, ("dead",))

    [delivery] = view["deliveries"]
    assert "HTTP 401" in delivery["last_error"]
    assert service.received[0].headers["x-api-key"] == "wrong"


def test_a_translation_the_json_schema_refuses_is_refused_at_intake(
    civil: tuple[CivilService, str], civil_hub: RunningHub
) -> None:
    service, _ = civil
    body = {
        "sender_message_id": "motcua-bad",
        "kind": "dossier",
        "sender": "000.00.00.H49",
        "dossier_code": "",
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(registration("", "X")).decode("ascii"),
    }

    refused = civil_hub.submit(body)

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert "nhandkht.schema.json" in problem["detail"]
    assert {v["path"] for v in problem["violations"]} == {"/data/hoTen"}
    assert service.received == []
