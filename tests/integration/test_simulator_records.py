"""Simulators that remember, over real HTTP on loopback: records in SQLite survive a restart (a repeated
message id still gets the first answer), the query operation lists what is held and in which status,
status-only steps move a case on by themselves, and a REST/JSON service validates against its JSON
Schemas and answers through an XSLT."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sim_support import (
    JUSTICE,
    LAND_NS,
    LAND_SIMULATOR,
    SOAP_HEADERS,
    justice_adapter,
    land_adapter,
    land_request,
    project,
    wait_for,
)

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, SimulatorSpec, simulator_spec
from lienthong.xml import HUB_NS, SOAP11_NS, parse_xml


def land_spec(tmp_path: Path, **changes: Any) -> SimulatorSpec:
    config = project(tmp_path / "project", land_adapter(LAND_SIMULATOR | changes))
    return simulator_spec(config, "land", environ={})


def records(server: SimulatorServer, **filters: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        response = http.get("/_sim/records", params=filters)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found


def test_records_and_idempotency_survive_a_restart(tmp_path: Path) -> None:
    spec = land_spec(tmp_path, store=str(tmp_path / "sim" / "land.db"))
    assert spec.store == str(tmp_path / "sim" / "land.db")
    dossier, request = land_request(0, message_id="hub-msg-0001")

    with SimulatorServer(spec) as first, httpx.Client(timeout=10) as http:
        answer = http.post(first.url, content=request, headers=SOAP_HEADERS)
        assert answer.status_code == 200, answer.text
        assert b"DD-" in answer.content

    with SimulatorServer(spec) as second, httpx.Client(timeout=10) as http:  # a new process would do the same
        again = http.post(second.url, content=request, headers=SOAP_HEADERS)
        assert (again.status_code, again.content) == (200, answer.content)  # the first answer, byte for byte
        assert second.stats()["duplicates"] == 1
        _, other = land_request(1, message_id="hub-msg-0002")
        assert b"-000002</" in http.post(second.url, content=other, headers=SOAP_HEADERS).content
        [held] = records(second, key=dossier)

    assert held["message_id"] == "hub-msg-0001"
    assert (held["operation"], held["status"], held["count"]) == ("TiepNhanHoSo", "received", 2)
    assert held["client"] == "000.00.00.H49"
    assert (tmp_path / "sim" / "land.db").is_file()


def test_a_memory_store_forgets_on_restart(tmp_path: Path) -> None:
    spec = land_spec(tmp_path, store=":memory:")
    _, request = land_request(0, message_id="hub-msg-0001")
    for _ in range(2):
        with SimulatorServer(spec) as server, httpx.Client(timeout=10) as http:
            assert http.post(server.url, content=request, headers=SOAP_HEADERS).status_code == 200
            assert server.stats()["duplicates"] == 0


def test_query_lists_what_is_held_and_in_which_status(tmp_path: Path) -> None:
    steps = {"then": [{"after": "200ms", "status": "processing"}]}
    operation = {"answer": "mappings/land/simulator/tiepnhanhoso-response.xsl", "key": "dd:MaHoSoMotCua"}
    spec = land_spec(tmp_path, operations={"dd:TiepNhanHoSo": operation | steps})
    with SimulatorServer(spec) as server, httpx.Client(timeout=10) as http:
        dossiers = []
        for index in range(3):
            dossier, request = land_request(index)
            dossiers.append(dossier)
            assert http.post(server.url, content=request, headers=SOAP_HEADERS).status_code == 200
        wait_for(
            lambda: len(records(server, status="processing")) == 3, timeout=10, what="3 cases processing"
        )

        # over the control API, filtered by key and by time
        [one] = records(server, key=dossiers[1])
        assert (one["status"], one["operation"]) == ("processing", "TiepNhanHoSo")
        assert one["updated_at"] >= one["received_at"]
        later = (datetime.now().astimezone() + timedelta(hours=1)).isoformat()
        assert records(server, since=later) == []
        assert len(records(server, until=later)) == 3
        assert records(server, status="received") == []

        # as an operation of the system, in its namespace
        query = (
            f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:lt="{HUB_NS}"><soap:Header/><soap:Body>'
            f'<dd:TraCuuHoSo xmlns:dd="{LAND_NS}"><dd:status>processing</dd:status>'
            f"<dd:key>{dossiers[2]}</dd:key>"
            "</dd:TraCuuHoSo></soap:Body></soap:Envelope>"
        )
        answer = http.post(server.url, content=query.encode(), headers=SOAP_HEADERS | {"SOAPAction": '""'})
        assert answer.status_code == 200, answer.text
        body = parse_xml(answer.content).find(f"{{{SOAP11_NS}}}Body/{{{LAND_NS}}}TraCuuHoSoResponse")
        assert body is not None
        assert body.findtext(f"{{{LAND_NS}}}total") == "1"
        assert body.findtext(f"{{{LAND_NS}}}record/{{{LAND_NS}}}key") == dossiers[2]
        assert body.findtext(f"{{{LAND_NS}}}record/{{{LAND_NS}}}status") == "processing"
        assert server.stats()["unique"] == 3  # a query is not a record


def test_an_invalid_step_is_refused_when_the_yaml_is_loaded(tmp_path: Path) -> None:
    from lienthong.errors import ConfigError

    operation = {"answer": "mappings/land/simulator/tiepnhanhoso-response.xsl", "then": [{"after": "1s"}]}
    with pytest.raises(ConfigError) as caught:
        land_spec(tmp_path, operations={"dd:TiepNhanHoSo": operation})
    assert "a step does something" in str(caught.value)


# ---------------------------------------------------------------- REST/JSON


@pytest.fixture
def justice(tmp_path: Path) -> SimulatorServer:
    config = project(tmp_path / "justice", justice_adapter(), source=JUSTICE)
    return SimulatorServer(simulator_spec(config, "justice", environ={}), FaultPlan(seed=1))


def registration(code: str = "000.00.00.H49-261121-0007") -> dict[str, Any]:
    return {
        "module": "LTKS",
        "maHoSoMCDT": code,
        "maDonVi": "000.00.00.H49",
        "ngayTiepNhan": "20261121091500",
        "data": {"hoTen": "Nguyễn Thị Ánh Tuyết", "gioiTinh": "2", "noiSinh": "Hạ Long, Quảng Ninh"},
    }


def test_a_rest_service_validates_answers_through_its_xslt_and_is_idempotent(
    justice: SimulatorServer,
) -> None:
    with justice, httpx.Client(base_url=justice.base_url, timeout=10) as http:
        first = http.post("/api/hotich/NhanDKHT", json=registration(), headers={"X-Message-Id": "hub-1"})
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == "application/json"
        assert first.json() == {
            "status": 1,
            "maHoSoMCDT": "000.00.00.H49-261121-0007",
            "module": "LTKS",
            "soBienNhan": "HT-000001",
            "thoiGianTiepNhan": first.json()["thoiGianTiepNhan"],
        }
        again = http.post("/api/hotich/NhanDKHT", json=registration(), headers={"X-Message-Id": "hub-1"})
        assert again.content == first.content
        assert justice.stats()["duplicates"] == 1

        bad = registration() | {"module": "LTXX", "maDonVi": "H49"}
        refused = http.post("/api/hotich/NhanDKHT", json=bad, headers={"X-Message-Id": "hub-2"})
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert {e["path"] for e in refused.json()["errors"]} == {"/module", "/maDonVi"}
        missing = http.post("/api/hotich/NhanDKHT", json=registration())
        assert missing.status_code == 400 and "X-Message-Id" in missing.json()["detail"]
        assert justice.stats()["unique"] == 1


def test_a_polled_rest_result_is_ready_after_its_delay(justice: SimulatorServer) -> None:
    code = "000.00.00.H49-261121-0008"
    poll = {"maDinhDanhHoSo": [code], "maTinh": "22", "module": "LTKS"}
    with justice, httpx.Client(base_url=justice.base_url, timeout=10) as http:
        assert http.post("/api/hotich/LayKetQua", json=poll).json()["trangThai"] == "KhongTimThay"
        sent = http.post("/api/hotich/NhanDKHT", json=registration(code), headers={"X-Message-Id": "hub-8"})
        assert sent.status_code == 200
        assert http.post("/api/hotich/LayKetQua", json=poll).json()["trangThai"] == "DangXuLy"
        result = wait_for(
            lambda: (
                (r := http.post("/api/hotich/LayKetQua", json=poll).json())["trangThai"] == "DaCoKetQua" and r
            ),
            timeout=10,
            what="the result to be ready",
        )
        assert result == {"maHoSoMCDT": code, "trangThai": "DaCoKetQua"}
        listed = http.get("/api/hotich/tracuu", params={"status": "ready"}).json()
        assert listed["total"] == 1 and listed["records"][0]["key"] == code
        [step] = http.get("/_sim/steps").json()
        assert (step["state"], step["attempts"]) == ("done", 0)


def test_rest_faults_rejections_and_outages(justice: SimulatorServer) -> None:
    with justice, httpx.Client(base_url=justice.base_url, timeout=10) as http:
        http.put("/_sim/faults", json={"reject_next": 1}).raise_for_status()
        rejected = http.post("/api/hotich/NhanDKHT", json=registration(), headers={"X-Message-Id": "hub-r"})
        assert rejected.status_code == 422 and rejected.headers["content-type"] == "application/problem+json"
        accepted = http.post("/api/hotich/NhanDKHT", json=registration(), headers={"X-Message-Id": "hub-r"})
        assert accepted.status_code == 200  # a rejection is not remembered: the same id is processed afresh

        http.put("/_sim/faults", json={"outage_seconds": 5}).raise_for_status()
        down = http.post("/api/hotich/NhanDKHT", json=registration(), headers={"X-Message-Id": "hub-d"})
        assert down.status_code == 503 and int(down.headers["retry-after"]) >= 1
        http.put("/_sim/faults", json={"clear": True, "fail_next": 1, "mode": "reset"}).raise_for_status()
        with pytest.raises(httpx.TransportError):
            http.post("/api/hotich/NhanDKHT", json=registration(), headers={"X-Message-Id": "hub-x"})
        assert justice.stats()["faults_served"] == 2


def test_the_shipped_land_simulator_holds_its_callback_without_a_hub_url(tmp_path: Path) -> None:
    """land.yaml's registry takes a dossier in; its status push (its first later step) waits, held, for
    a simulator that knows where the hub is, instead of calling anyone or retrying in a loop."""
    from project_support import LAND_ADAPTER, adapter_configuration

    spec = simulator_spec(adapter_configuration(LAND_ADAPTER), "land", store=str(tmp_path / "land.db"))
    assert spec.callbacks is None
    with SimulatorServer(spec) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        dossier, request = land_request(0)
        assert http.post(server.url, content=request, headers=SOAP_HEADERS).status_code == 200
        held = wait_for(
            lambda: [s for s in http.get("/_sim/steps").json() if s["state"] == "held"],
            timeout=15,
            what="held",
        )
        [record] = records(server, key=dossier)
    assert record["status"] == "received"
    assert [(s["step"], s["attempts"]) for s in held] == [(0, 0)]
    assert "no hub URL" in held[0]["last_error"]
