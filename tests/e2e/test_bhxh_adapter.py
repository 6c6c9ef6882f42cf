"""No Python for a new ministry: Vietnam Social Security (BHXH) added from a fixture folder.

tests/fixtures/bhxh-adapter/ is what a provincial IT person writes by following
docs/howto/add-an-adapter.md for a REST/JSON system with two operations: a YAML file on the built-in
``rest`` plugin, JSON Schemas, one XSLT and one declarative YAML mapping, a simulator section, cases
and the routes to add. This test copies it into a fresh project beside the land adapter and drives
the installed ``hub`` as that person would, each command a process of its own: ``hub config check``,
``hub simulate bhxh``, ``hub serve``, then a dossier of each kind sent through the REST API, and
``hub status``. What the simulated system recorded is read back from its SQLite file: the JSON it
received satisfies the same schema and carries the values the one-stop system entered.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from conftest import ROOT, Project, new_project
from project_support import FIXTURES, LAND_ADAPTER, AdapterSource, base_routes
from ruamel.yaml import YAML
from support import (
    LOOPBACK,
    MOTCUA_HEADERS,
    ProcessGroup,
    free_port,
    hub_command,
    hub_env,
    sqlite_url,
    start_serve,
    wait_for_port,
    wait_until,
)

from lienthong.devtools.demo import dossier_body

BHXH = AdapterSource("bhxh", FIXTURES / "bhxh-adapter")
CASES = BHXH.cases
API_KEY = "bhxh-test-key-not-a-secret"
NEWBORN = CASES / "newborn-card" / "input.xml"
ENROLMENT = CASES / "employee-enrolment" / "input.xml"


def _routes() -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = YAML(typ="safe", pure=True).load(
        (BHXH.root / "config" / "routes.yaml").read_text(encoding="utf-8")
    )["routes"]
    return routes


def bhxh_project(dest: Path) -> Project:
    """The land adapter as the tests assemble it, then BHXH added as the how-to says: its YAML into
    config/adapters/, its own schemas and mappings beside land's, its routes after land's."""
    project = new_project(dest, adapters=(LAND_ADAPTER,), routes=[*base_routes(), *_routes()])
    shutil.copy2(BHXH.file, project.config_dir / "adapters" / "bhxh.yaml")
    for resource in BHXH.resources():
        if (project.root / resource).exists():  # schemas/province: the province's own, shared with land
            for file in (BHXH.root / resource).rglob("*.xsd"):
                there = project.root / file.relative_to(BHXH.root)
                assert there.read_bytes() == file.read_bytes(), f"{there} differs from the fixture's"
            continue
        shutil.copytree(BHXH.root / resource, project.root / resource)
    return project


def run_hub(*args: str | Path, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hub_command(*map(str, args)),
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def base_env(project: Project, **extra: str) -> dict[str, str]:
    return hub_env(
        database_url=sqlite_url(project.database),
        land_endpoint="http://127.0.0.1:9/unused",
        BHXH_API_KEY=API_KEY,
        **extra,
    )


# ---------------------------------------------------------------- the fixture is data


def test_the_fixture_is_data_only_and_the_hub_does_not_know_bhxh() -> None:
    files = [p.relative_to(BHXH.root).as_posix() for p in BHXH.root.rglob("*") if p.is_file()]
    assert "config/adapters/bhxh.yaml" in files
    assert not [f for f in files if not f.endswith((".yaml", ".xsl", ".json", ".xsd", ".xml", ".md"))], files
    mentions = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "hub").rglob("*")
        if p.is_file()
        and p.suffix != ".pyc"
        and "bhxh" in p.read_text(encoding="utf-8", errors="ignore").lower()
    ]
    assert mentions == [], "the hub has code or data for BHXH; it should need none"


# ---------------------------------------------------------------- hub config check


def test_hub_config_check_accepts_bhxh_beside_land(tmp_path: Path) -> None:
    project = bhxh_project(tmp_path / "project")

    result = run_hub("config", "check", "-c", project.config_dir, cwd=project.root, env=base_env(project))

    assert result.returncode == 0, result.stderr
    assert "2 adapter(s), 3 route(s)" in result.stdout


def test_hub_config_check_reports_an_unknown_target_field_at_the_mapping_s_line(tmp_path: Path) -> None:
    project = bhxh_project(tmp_path / "project")
    mapping = project.root / "mappings" / "bhxh" / "hoso-to-baotanglaodong.yaml"
    text = mapping.read_text(encoding="utf-8")
    assert "\n  hinhThucNop: {path" in text
    text = text.replace("\n  hinhThucNop: {path", "\n  hinhThucNopHoSo: {path")
    mapping.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  hinhThucNopHoSo:"))

    result = run_hub("config", "check", "-c", project.config_dir, cwd=project.root, env=base_env(project))

    assert result.returncode == 2, result.stdout
    where = f"mappings/bhxh/hoso-to-baotanglaodong.yaml:{line}:3 [fields.hinhThucNopHoSo]: "
    [error] = [e for e in result.stderr.splitlines() if e.startswith(where)]
    assert "unknown target field" in error and "did you mean hinhThucNop?" in error, result.stderr


# ---------------------------------------------------------------- a dossier through it


@dataclass(frozen=True)
class Running:
    project: Project
    env: dict[str, str]
    hub: httpx.Client
    simulator: httpx.Client
    records: Path


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """``hub simulate bhxh`` and ``hub serve`` as processes, the hub pointed at the simulator."""
    project = bhxh_project(tmp_path / "project")
    hub_port, sim_port = free_port(), free_port()
    project.update("hub.yaml", {"api": {"port": hub_port}, "workers": {"poll_interval": "100ms"}})
    records = tmp_path / "bhxh-sim.db"
    env = base_env(project, BHXH_URL=f"http://{LOOPBACK}:{sim_port}")
    with ProcessGroup(tmp_path / "logs") as group:
        simulate = ["simulate", "bhxh", "-c", str(project.config_dir), "--port", str(sim_port)]
        sim = group.start("simulate", [*simulate, "--store", str(records)], env)
        wait_for_port(sim_port, alive=sim.alive)
        start_serve(group, project.config_dir, env, hub_port)
        with (
            httpx.Client(base_url=f"http://{LOOPBACK}:{hub_port}", headers=MOTCUA_HEADERS, timeout=10) as hub,
            httpx.Client(base_url=f"http://{LOOPBACK}:{sim_port}", timeout=10) as simulator,
        ):
            yield Running(project, env, hub, simulator, records)
        assert "simulating bhxh at" in sim.output()


def send(client: httpx.Client, input_xml: Path) -> tuple[str, str]:
    """Submit a case's dossier as the one-stop system; its hub message id and dossier code."""
    case: dict[str, Any] = YAML(typ="safe", pure=True).load(
        (input_xml.parent / "case.yaml").read_text("utf-8")
    )
    body = dossier_body(case["dossier_code"], case["procedure_code"], input_xml.read_bytes())
    accepted = client.post("/api/v1/messages", json=body)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["route"]["targets"] == ["bhxh"], accepted.text
    return str(accepted.json()["message_id"]), str(case["dossier_code"])


def delivered(client: httpx.Client, message_id: str) -> dict[str, Any]:
    def view() -> dict[str, Any] | None:
        data: dict[str, Any] = client.get(f"/api/v1/messages/{message_id}").json()
        states = [d["state"] for d in data["deliveries"]]
        return data if states == ["delivered"] else None

    return wait_until(view, timeout=30, what=f"message {message_id} delivered to bhxh")


def recorded_request(records: Path, dossier_code: str) -> tuple[str, Any]:
    """The operation and the JSON the simulated system keeps for a dossier, from its SQLite file."""
    with sqlite3.connect(f"file:{records}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT operation, request FROM records WHERE key = ?", (dossier_code,)).fetchall()
    [(operation, request)] = rows
    return str(operation), json.loads(bytes(request))


def status_row(running: Running, message_id: str, target: str) -> str:
    """The row ``hub status`` prints for the delivery to ``target`` (adapter/operation)."""
    project = running.project
    status = run_hub("status", message_id, "-c", project.config_dir, cwd=project.root, env=running.env)
    assert status.returncode == 0, status.stderr
    [row] = [line for line in status.stdout.splitlines() if target in line]
    return row


def schema(name: str) -> Any:
    with (BHXH.root / "schemas" / "bhxh" / name).open(encoding="utf-8") as f:
        return jsonschema_rs.validator_for(json.load(f))


def test_a_newborn_s_card_request_reaches_the_simulated_bhxh(running: Running) -> None:
    message_id, code = send(running.hub, NEWBORN)

    view = delivered(running.hub, message_id)

    assert view["route"]["rule"] == "bhxh-newborn-card"
    [delivery] = view["deliveries"]
    assert (delivery["target"], delivery["operation"]) == ("bhxh", "CapTheBHYTTreEm")
    [record] = running.simulator.get("/_sim/records", params={"key": code}).json()
    assert (record["operation"], record["status"]) in {
        ("CapTheBHYTTreEm", "received"),
        ("CapTheBHYTTreEm", "card-issued"),
    }
    operation, sent = recorded_request(running.records, code)
    assert operation == "CapTheBHYTTreEm"
    assert schema("capthebhyt.schema.json").is_valid(sent)
    assert sent["maHoSo"] == code and sent["maTTHC"] == "1.001193"
    assert sent["maDonViGui"] == "000.00.00.H49" and sent["ngayTiepNhan"] == "23/11/2026"
    assert sent["nguoiKeKhai"]["hoTen"] == "Phạm Thị Ngọc Ánh"
    assert sent["nguoiKeKhai"]["soDinhDanh"] == "022195007731"
    assert [p["tenGiayTo"] for p in sent["giayTo"]] == ["Giấy khai sinh điện tử", "Giấy chứng sinh"]

    assert "delivered" in status_row(running, message_id, "bhxh/CapTheBHYTTreEm")


def test_an_employer_s_enrolment_report_reaches_the_simulated_bhxh(running: Running) -> None:
    message_id, code = send(running.hub, ENROLMENT)

    view = delivered(running.hub, message_id)

    assert view["route"]["rule"] == "bhxh-enrolment"
    assert [d["operation"] for d in view["deliveries"]] == ["BaoTangLaoDong"]
    operation, sent = recorded_request(running.records, code)
    assert operation == "BaoTangLaoDong"
    assert schema("baotanglaodong.schema.json").is_valid(sent)
    assert sent["maThongDiep"] == message_id  # the hub's id, which BHXH de-duplicates on
    assert sent["donVi"] == {
        "maSoThue": "5700100256",
        "tenDonVi": "Công ty Cổ phần Du lịch Vịnh Hạ Long Xanh",
        "diaChi": "Số 9 đường Hạ Long, phường Bãi Cháy, thành phố Hạ Long, tỉnh Quảng Ninh",
        "email": "nhansu@vinhhalongxanh.vn",
    }
    assert (sent["ngayTiepNhan"], sent["hanTraKetQua"]) == ("24/11/2026 14:12:05", "01/12/2026")
    assert sent["hinhThucNop"] == "TRUC_TIEP"
    assert [p.get("maGiayTo") for p in sent["hoSoKemTheo"]] == ["TK3-TS", "D02-LT"]
    # The hub kept the system's receipt, as the simulator answered it.
    answer = running.simulator.get("/api/bhxh/tracuu", params={"key": code}).json()
    assert answer["total"] == 1 and answer["records"][0]["operation"] == "BaoTangLaoDong"

    assert "delivered" in status_row(running, message_id, "bhxh/BaoTangLaoDong")
