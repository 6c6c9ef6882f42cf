"""Monthly statistics over real HTTP and the CLI: five dossiers entered at the one-stop desk, the land
registry's pushes (a result on time, one late, a dossier stopped, one in progress) and a dossier the
registry refused, then the month's report as JSON, CSV and XLSX (read back with openpyxl) and as
``hub report -o``: per agency and per procedure, received, processed, on time, late, returned, pending
and exchange failures.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_BREAKER, TEST_RETRY, Project, RunningHub, Simulator
from lxml import etree
from openpyxl import load_workbook
from project_support import ROOT, AdapterSource
from soap_support import HUB_ENVIRON, LAND_KEY_ENV, RESULT_ACTION, STATUS_ACTION, ack, envelope, post, result

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec
from lienthong.reports.monthly import VIETNAM

H = "urn:lienthong:province:hoso:1"
DD = "urn:lienthong:tnmt:dangkydatdai:1"
DOSSIER_FILE = ROOT / "adapters" / "land" / "cases" / "transfer-basic" / "input.xml"
SECRETS = {"MOTCUA_CALLBACK_API_KEY": "test-motcua-callback-key-not-a-secret"}
AUDITOR_KEY = "test-auditor-key-not-a-secret"
HA_LONG, CAM_PHA = "000.20.31.H49", "000.21.31.H49"
TRANSFER, CHANGE = "1.004227", "1.004221"
ROUTES: list[dict[str, Any]] = [
    {
        "name": "land-transfer",
        "match": {"kind": "dossier", "procedure_code": [f"{TRANSFER}*", f"{CHANGE}*"]},
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
]
CALLERS = [
    {
        "agency": "000.00.00.H49",
        "name": "Một cửa",
        "api_key_env": "HUB_MOTCUA_API_KEY",
        "services": ["rest:submit", "rest:read"],
    },
    {"agency": "000.00.00.G13", "name": "Đất đai", "api_key_env": LAND_KEY_ENV, "services": ["soap:land/*"]},
    {
        "agency": "000.00.00.H49",
        "name": "Kiểm tra viên",
        "api_key_env": "HUB_AUDITOR_API_KEY",
        "services": ["rest:read-all"],
    },
]


@dataclass
class Month:
    hub: RunningHub
    month: str
    project: Project


@pytest.fixture
def month(
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    land_sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Month]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    project = project_factory(
        land_sim.url, adapters=(AdapterSource("motcua", ROOT),), routes=ROUTES, callers=CALLERS
    )
    spec = simulator_spec(project.load(), "motcua", store=tmp_path / "motcua.db", environ=SECRETS)
    server = SimulatorServer(spec, FaultPlan(seed=7))
    server.start()
    try:
        project.update(
            "adapters/motcua.yaml",
            {"endpoint": server.url, "retry": TEST_RETRY, "circuit_breaker": TEST_BREAKER},
        )
        hub = hub_factory(project, environ={**HUB_ENVIRON, "HUB_AUDITOR_API_KEY": AUDITOR_KEY})
        before = datetime.now(VIETNAM).strftime("%Y-%m")
        fill(hub, land_sim)
        after = datetime.now(VIETNAM).strftime("%Y-%m")
        assert before == after, "the month changed while the dossiers were entered: run again"
        yield Month(hub, after, project)
    finally:
        server.stop()


def dossier(code: str, procedure: str, agency: str, due: str) -> bytes:
    tree = etree.fromstring(DOSSIER_FILE.read_bytes())
    for name, value in (
        ("MaHoSo", code),
        ("MaTTHC", procedure),
        ("MaDonViXuLy", agency),
        ("NgayHenTra", due),
    ):
        tree.find(f"{{{H}}}{name}").text = value  # type: ignore[union-attr]
    return etree.tostring(tree, encoding="UTF-8", xml_declaration=True)


def submit(hub: RunningHub, code: str, procedure: str, agency: str, due: str) -> str:
    response = hub.submit(
        {
            "sender_message_id": f"motcua-{code}",
            "kind": "dossier",
            "sender": "000.00.00.H49",
            "procedure_code": procedure,
            "dossier_code": code,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(dossier(code, procedure, agency, due)).decode("ascii"),
        }
    )
    assert response.status_code == 202, response.text
    return str(response.json()["message_id"])


def push(hub: RunningHub, body: str, action: str, message_id: str) -> None:
    response = post(hub.client, "soap11", envelope("soap11", body, message_id=message_id), action=action)
    assert response.status_code == 200, response.text
    hub.wait(str(ack(response)["messageId"]))


def status(code: str, state: str, when: str) -> str:
    return (
        f'<dd:CapNhatTrangThaiHoSo xmlns:dd="{DD}"><dd:MaHoSoMotCua>{code}</dd:MaHoSoMotCua>'
        f"<dd:MaHoSoDatDai>DD-2026-000123</dd:MaHoSoDatDai><dd:TrangThai>{state}</dd:TrangThai>"
        f"<dd:ThoiGian>{when}</dd:ThoiGian></dd:CapNhatTrangThaiHoSo>"
    )


def code(n: int) -> str:
    return f"000.00.00.H49-261121-{n:04d}"


def fill(hub: RunningHub, land: Simulator) -> None:
    """The result is reported 2026-12-05 15:30 (Vietnam time): due at 16:30 that day is on time."""
    for n, procedure, agency, due in (
        (1, TRANSFER, HA_LONG, "20261205163000"),  # result on time
        (2, TRANSFER, HA_LONG, "20261203163000"),  # result late
        (3, CHANGE, HA_LONG, "20261205163000"),  # stopped (8): returned
        (4, CHANGE, CAM_PHA, "20261205163000"),  # processing (4): pending
    ):
        hub.wait(submit(hub, code(n), procedure, agency, due))
    land.faults(reject_next=1)  # the registry refuses the fifth: a dead letter, an exchange failure
    hub.wait(submit(hub, code(5), TRANSFER, CAM_PHA, "20261205163000"), states=("dead",))
    push(hub, result(code(1)), RESULT_ACTION, "dkdd-kq-1")
    push(hub, result(code(2)), RESULT_ACTION, "dkdd-kq-2")
    push(hub, status(code(3), "8", "2026-11-25T09:00:00+07:00"), STATUS_ACTION, "dkdd-tt-3")
    push(hub, status(code(4), "4", "2026-11-25T09:00:00+07:00"), STATUS_ACTION, "dkdd-tt-4")


NUMBERS = ("received", "processed", "on_time", "late", "returned", "pending", "exchange_failures")
EXPECTED_ROWS = {
    (HA_LONG, TRANSFER): (2, 2, 1, 1, 0, 0, 0),
    (HA_LONG, CHANGE): (1, 0, 0, 0, 1, 0, 0),
    (CAM_PHA, TRANSFER): (1, 0, 0, 0, 0, 1, 1),
    (CAM_PHA, CHANGE): (1, 0, 0, 0, 0, 1, 0),
}


def auditor(hub: RunningHub) -> dict[str, str]:
    return {"X-API-Key": AUDITOR_KEY}


def test_the_monthly_report_counts_each_dossier_where_it_stands(month: Month) -> None:
    hub = month.hub
    response = hub.client.get("/api/v1/reports/monthly", params={"month": month.month}, headers=auditor(hub))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    report = response.json()
    assert report["month"] == month.month
    rows = {(r["agency_code"], r["procedure_code"]): tuple(r[k] for k in NUMBERS) for r in report["rows"]}
    assert rows == EXPECTED_ROWS
    assert report["total"] == dict(zip(NUMBERS, (5, 2, 1, 1, 1, 2, 1), strict=True))
    by_agency = {r["agency_code"]: r["received"] for r in report["by_agency"]}
    assert by_agency == {HA_LONG: 3, CAM_PHA: 2}
    by_procedure = {r["procedure_code"]: (r["received"], r["processed"]) for r in report["by_procedure"]}
    assert by_procedure == {TRANSFER: (3, 2), CHANGE: (2, 0)}
    names = {r["agency_code"]: r["agency_name"] for r in report["rows"]}
    assert names[HA_LONG] == "Chi nhánh Văn phòng Đăng ký đất đai thành phố Hạ Long"

    # Another month has nothing; a month that is not one is the caller's 422.
    empty = hub.client.get(
        "/api/v1/reports/monthly", params={"month": "2020-01"}, headers=auditor(hub)
    ).json()
    assert (empty["rows"], empty["total"]["received"]) == ([], 0)
    wrong = hub.client.get("/api/v1/reports/monthly", params={"month": "2026-13"}, headers=auditor(hub))
    assert wrong.status_code == 422
    assert wrong.headers["content-type"] == "application/problem+json"
    # Province-wide numbers: a caller that may read only its own agency's messages is refused.
    refused = hub.client.get("/api/v1/reports/monthly", params={"month": month.month})
    assert refused.status_code == 403


def test_the_monthly_report_as_csv_and_xlsx_over_http(month: Month) -> None:
    hub = month.hub
    as_csv = hub.client.get(
        "/api/v1/reports/monthly",
        params={"month": month.month},
        headers={**auditor(hub), "Accept": "text/csv"},
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.content.startswith(b"\xef\xbb\xbf")  # spreadsheet programs read the UTF-8 right
    table = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    detail = {
        (r["agency_code"], r["procedure_code"]): tuple(int(r[k]) for k in NUMBERS)
        for r in table
        if r["scope"] == "agency-procedure"
    }
    assert detail == EXPECTED_ROWS
    [total] = [r for r in table if r["scope"] == "total"]
    assert int(total["received"]) == 5 and int(total["late"]) == 1

    as_xlsx = hub.client.get(
        "/api/v1/reports/monthly", params={"month": month.month, "format": "xlsx"}, headers=auditor(hub)
    )
    assert as_xlsx.status_code == 200
    assert as_xlsx.headers["content-disposition"] == f'attachment; filename="bao-cao-{month.month}.xlsx"'
    check_workbook(as_xlsx.content)


def check_workbook(data: bytes) -> None:
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Theo đơn vị", "Theo thủ tục", "Chi tiết"]
    sheet = book["Chi tiết"]
    header = [c.value for c in sheet[4]]
    assert header[:2] == ["Mã đơn vị / Agency", "Đơn vị / Agency name"]
    assert "Quá hạn / Late" in header
    rows = {}
    for values in sheet.iter_rows(min_row=5, values_only=True):
        if values[0] == "Tổng cộng / Total":
            assert values[4:] == (5, 2, 1, 1, 1, 2, 1)
            continue
        rows[(values[0], values[2])] = tuple(values[4:])
    assert rows == EXPECTED_ROWS
    agencies = {v[0]: v[2] for v in book["Theo đơn vị"].iter_rows(min_row=5, values_only=True)}
    assert agencies[HA_LONG] == 3 and agencies[CAM_PHA] == 2


def test_hub_report_writes_the_workbook_and_the_csv(
    month: Month, hub_cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = month.project.config_dir
    out = tmp_path / "bao-cao.xlsx"
    done = hub_cli("report", "--month", month.month, "-o", out, "--config", config, cwd=month.project.root)
    assert done.returncode == 0, done.stderr
    assert re.search(r"wrote .*bao-cao\.xlsx: 4 rows, 5 dossiers", done.stdout)
    check_workbook(out.read_bytes())
    out_csv = tmp_path / "bao-cao.csv"
    done = hub_cli(
        "report", "--month", month.month, "-o", out_csv, "--config", config, cwd=month.project.root
    )
    assert done.returncode == 0, done.stderr
    assert "agency-procedure" in out_csv.read_text(encoding="utf-8-sig")
    table = hub_cli("report", "--month", month.month, "--config", config, cwd=month.project.root)
    assert table.returncode == 0 and "Tổng cộng" in table.stdout
    wrong = hub_cli("report", "--month", "11/2026", "--config", config, cwd=month.project.root)
    assert wrong.returncode == 1 and "YYYY-MM" in wrong.stderr
    odd = hub_cli(
        "report", "--month", month.month, "-o", tmp_path / "x.pdf", "--config", config, cwd=month.project.root
    )
    assert odd.returncode == 2 and ".xlsx or .csv" in odd.stderr
