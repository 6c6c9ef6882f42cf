"""Reconciliation over real HTTP, with divergences injected into the simulated systems (issue 13).

A hub (REST, inbound SOAP, workers) with the land registry, the one-stop system's callback (motcua)
and the national portal (dvcqg), each simulated as ``hub simulate`` serves it; the land registry
pushes its statuses to the hub by itself. Five dossiers, each with one divergence no retry can see:

* D1 — the registry answers the dossier and then loses it (``drop_next``);
* D2 — the registry's status push (4, processing) never reaches the hub (a lost callback);
* D3 — the registry changes the dossier's status to 5 (papers to add) without telling anyone;
* D4 — the registry enters the dossier a second time under an id of its own (a duplicate);
* D5 — the certificate is issued but the registry never pushes the result.

``hub reconcile --adapter land`` finds each, heals what is safe — D1 sent again with the same message
id, D2/D3/D5's statuses pushed to the one-stop system and the portal through the routes — and reports
D4 and D5's missing result. The one-stop simulator ends with the right statuses, nobody having
re-entered anything; a second run finds nothing new; ``hub trail`` and ``GET
/api/v1/reconciliations`` (JSON and CSV) show the healings with their causes.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HUB_SCRIPT, TEST_BREAKER, TEST_RETRY, Project, RunningHub
from landtax_support import AUDITOR_KEY, digest
from lxml import etree
from project_support import LAND_ADAPTER, ROOT, AdapterSource, adapter_configuration
from soap_support import LAND_KEY, LAND_KEY_ENV
from support import MOTCUA_API_KEY, MOTCUA_KEY_ENV

from lienthong.devtools.background import bound_socket
from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec

MOTCUA = AdapterSource("motcua", ROOT)
DVCQG = AdapterSource("dvcqg", ROOT)
H = "urn:lienthong:province:hoso:1"
DD = "urn:lienthong:tnmt:dangkydatdai:1"
DOSSIER_FILE = ROOT / "adapters" / "land" / "cases" / "transfer-basic" / "input.xml"
VN = timezone(timedelta(hours=7))
SECRETS = {
    "DVCQG_USERNAME": "quangninh.lgsp",
    "DVCQG_PASSWORD": "test-portal-password-not-a-secret",
    "MOTCUA_CALLBACK_API_KEY": "test-motcua-callback-key-not-a-secret",
}
CODES = {n: f"000.00.00.H49-261130-000{n}" for n in range(1, 6)}
ROUTES: list[dict[str, Any]] = [
    {
        "name": "land-transfer",
        "match": {"kind": "dossier", "procedure_code": ["1.004227*"]},
        "targets": ["land", "dvcqg"],
    },
    {
        "name": "land-status",
        "match": {
            "kind": "status",
            "sender": "000.00.00.G13",
            "xpath": "boolean(/dd:CapNhatTrangThaiHoSo)",
            "namespaces": {"dd": DD},
        },
        "targets": ["motcua", "dvcqg"],
    },
    {
        "name": "land-result",
        "match": {
            "kind": "answer",
            "sender": "000.00.00.G13",
            "xpath": "boolean(/dd:TraKetQuaHoSo)",
            "namespaces": {"dd": DD},
        },
        "targets": ["motcua", "dvcqg"],
    },
    {
        "name": "payment-receipt",
        "match": {
            "kind": "document",
            "sender": "000.00.00.H49",
            "xpath": "boolean(/h:BienLaiThanhToan)",
            "namespaces": {"h": H},
        },
        "targets": ["land"],
    },
]


@dataclass
class World:
    hub: RunningHub
    land: httpx.Client
    motcua: httpx.Client
    auditor: httpx.Client
    project: Project


@pytest.fixture
def hub_socket() -> Iterator[Any]:
    """The hub's socket, bound first: the land simulator is told the hub's URL before the hub exists.
    Requested before ``hub_factory``, so it is closed after the hub that serves on it has stopped."""
    sock = bound_socket()
    yield sock
    sock.close()


@pytest.fixture
def world(
    hub_socket: Any,
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)  # the hub's plugins and the reconciliation read them
    sock = hub_socket
    host, port = sock.getsockname()[:2]
    servers: list[SimulatorServer] = []
    clients: list[httpx.Client] = []
    try:
        land_spec = simulator_spec(
            adapter_configuration(LAND_ADAPTER), "land", store=":memory:", hub_url=f"http://{host}:{port}",
            environ={"LAND_SIM_API_KEY": LAND_KEY},
        )  # fmt: skip
        servers.append(SimulatorServer(land_spec))
        servers[-1].start()
        project = project_factory(servers[0].url, adapters=(MOTCUA, DVCQG), routes=ROUTES)
        for name in ("motcua", "dvcqg"):
            spec = simulator_spec(project.load(), name, store=tmp_path / f"{name}.db", environ=SECRETS)
            servers.append(SimulatorServer(spec, FaultPlan(seed=3)))
            servers[-1].start()
        motcua, dvcqg = servers[1], servers[2]
        adapter = project.read("adapters/dvcqg.yaml")
        adapter["endpoint"] = dvcqg.url
        for op in adapter["operations"].values():
            op["options"]["session"]["login_url"] = dvcqg.base_url + "/api/dvcqg/login"
        adapter |= {"retry": TEST_RETRY, "circuit_breaker": TEST_BREAKER, "timeout": "5s"}
        project.write("adapters/dvcqg.yaml", adapter)
        project.update(
            "adapters/motcua.yaml",
            {"endpoint": motcua.url, "retry": TEST_RETRY, "circuit_breaker": TEST_BREAKER},
        )
        land = project.read("adapters/land.yaml")
        reconcile = land["reconcile"]
        del reconcile["interval"]  # run by hand here (the schedule has a test of its own)
        reconcile["settle"] = "0s"
        reconcile["one_stop"]["endpoint"] = motcua.base_url + "/api/motcua/tracuu"
        project.write("adapters/land.yaml", land)
        callers = project.read("hub.yaml")["callers"] + [
            {
                "agency": "000.00.00.H49",
                "name": "Kiểm toán",
                "api_key_sha256": [digest(AUDITOR_KEY)],
                "services": ["rest:read-all"],
            }
        ]
        project.write("hub.yaml", project.read("hub.yaml") | {"callers": callers})
        hub = hub_factory(
            project, environ={MOTCUA_KEY_ENV: MOTCUA_API_KEY, LAND_KEY_ENV: LAND_KEY}, sock=sock
        )
        clients += [httpx.Client(base_url=s.base_url, timeout=10) for s in (servers[0], motcua)]
        auditor = httpx.Client(base_url=hub.url, headers={"X-API-Key": AUDITOR_KEY}, timeout=10)
        clients.append(auditor)
        yield World(hub, clients[0], clients[1], auditor, project)
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.stop()


def _until(check: Callable[[], Any], what: str, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout}s")
        time.sleep(0.1)


def _submit(world: World, code: str) -> str:
    tree = etree.fromstring(DOSSIER_FILE.read_bytes())
    tree.find(f"{{{H}}}MaHoSo").text = code  # type: ignore[union-attr]
    response = world.hub.submit(
        {
            "sender_message_id": f"motcua-{code}",
            "kind": "dossier",
            "sender": "000.00.00.H49",
            "procedure_code": "1.004227",
            "dossier_code": code,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(etree.tostring(tree, encoding="UTF-8")).decode("ascii"),
        }
    )
    assert response.status_code == 202, response.text
    message_id: str = response.json()["message_id"]
    world.hub.wait(message_id)
    return message_id


def _receipt(world: World, code: str) -> None:
    paid = datetime.now(VN).strftime("%Y%m%d%H%M%S")
    receipt = (
        f'<BienLaiThanhToan xmlns="{H}"><MaHoSo>{code}</MaHoSo><MaSoThue>8012345678</MaSoThue>'
        f"<SoTien>1000000</SoTien><ThoiGianThanhToan>{paid}</ThoiGianThanhToan></BienLaiThanhToan>"
    )
    response = world.hub.submit(
        {
            "sender_message_id": f"motcua-bl-{code}",
            "kind": "document",
            "sender": "000.00.00.H49",
            "dossier_code": code,
            "payload": receipt,
        }
    )
    assert response.status_code == 202, response.text
    world.hub.wait(response.json()["message_id"])


def _diverge(world: World, **plan: Any) -> None:
    response = world.land.post("/_sim/diverge", json=plan)
    assert response.status_code == 200, response.text


def _steps_done(world: World) -> bool:
    return all(s["state"] == "done" for s in world.land.get("/_sim/steps").json())


def _land_status(world: World, code: str) -> str | None:
    records = world.land.get("/_sim/records", params={"key": code}).json()
    return str(records[-1]["status"]) if records else None


def _one_stop(world: World, code: str) -> list[str]:
    """The TrangThaiHoSo the one-stop system received for ``code``, in order."""
    return [r["status"] for r in world.motcua.get("/_sim/records", params={"key": code}).json()]


def _all_delivered(world: World) -> bool:
    page = world.auditor.get("/api/v1/messages", params={"limit": 500}).json()
    items = page["messages"] if isinstance(page, dict) else page
    return all(d["state"] == "delivered" for m in items for d in m["deliveries"])


def hub(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed ``hub`` command, with this test's environment (the listing's keys among it)."""
    env = os.environ | {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [str(HUB_SCRIPT), *map(str, args)], env=env, capture_output=True, text=True, encoding="utf-8",
        timeout=120, check=False,
    )  # fmt: skip


def _reconcile(world: World, *extra: str) -> subprocess.CompletedProcess[str]:
    today = datetime.now(VN).date().isoformat()
    return hub("reconcile", "--adapter", "land", "--since", today, "-c", world.project.config_dir, *extra)


def test_reconciliation_finds_each_divergence_heals_the_safe_ones_and_a_second_run_finds_nothing_new(
    world: World,
) -> None:
    d1, d2, d3, d4, d5 = CODES.values()
    # D1: answered, then lost by the registry.
    _diverge(world, drop_next=1)
    lost = _submit(world, d1)
    # D2: the registry's status push never reaches the hub.
    _diverge(world, lose_calls={"CapNhatTrangThaiHoSo": 1})
    _submit(world, d2)
    _until(lambda: _land_status(world, d2) == "awaiting-tax", "D2 processed at the registry")
    for code in (d3, d4, d5):
        _submit(world, code)

        def told(code: str = code) -> bool:
            return "4" in _one_stop(world, code)

        _until(told, f"{code}: 4 at the one-stop system")
    # D5: the citizen paid, the certificate is issued, and the result is never pushed.
    _diverge(world, lose_calls={"TraKetQuaHoSo": 1})
    _receipt(world, d5)
    _until(lambda: _land_status(world, d5) == "certificate-issued", "D5's certificate issued")
    # D3: the registry asks for more papers, telling nobody; D4: entered twice there.
    _diverge(world, set_status={"key": d3, "status": "supplement-requested"})
    _diverge(world, duplicate={"key": d4})
    _until(lambda: _steps_done(world) and _all_delivered(world), "everything settled")
    assert _land_status(world, d1) is None and _one_stop(world, d2) == []

    dry = _reconcile(world, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "would-heal" in dry.stdout
    assert _land_status(world, d1) is None  # a dry run heals nothing

    first = _reconcile(world)
    assert first.returncode == 0, first.stderr
    runs = world.auditor.get("/api/v1/reconciliations", params={"adapter": "land"}).json()["runs"]
    run = runs[0]
    assert (run["state"], run["dry_run"], run["trigger"]) == ("done", False, "cli")
    found = sorted((f["dossier_code"], f["kind"], f["outcome"], f["new"]) for f in run["findings"])
    assert found == [
        (d1, "missing-at-ministry", "healed", True),
        (d2, "status-diverged", "healed", True),
        (d3, "status-diverged", "healed", True),
        (d4, "duplicate-at-ministry", "reported", True),
        (d5, "result-never-returned", "reported", True),
        (d5, "status-diverged", "healed", True),
    ]
    by_key = {(f["dossier_code"], f["kind"]): f for f in run["findings"]}
    assert by_key[(d1, "missing-at-ministry")]["message_id"] == lost
    assert (
        by_key[(d3, "status-diverged")]["system_status"],
        by_key[(d3, "status-diverged")]["one_stop_status"],
    ) == (
        "supplement-requested",
        "4",
    )
    assert "supplement-requested" in by_key[(d3, "status-diverged")]["cause"]

    # Healed through the normal paths: D1 sent again with the same message id (the registry now holds it
    # and pushes its status itself), the statuses pushed to the one-stop system and the portal.
    _until(
        lambda: _land_status(world, d1) is not None and _steps_done(world) and _all_delivered(world), "healed"
    )
    assert world.land.get("/_sim/records", params={"key": d1}).json()[0]["message_id"] == lost
    final = {code: _one_stop(world, code)[-1:] for code in CODES.values()}
    assert final == {d1: ["4"], d2: ["4"], d3: ["5"], d4: ["4"], d5: ["10"]}

    second = _reconcile(world)
    assert second.returncode == 0, second.stderr
    again = world.auditor.get("/api/v1/reconciliations", params={"adapter": "land", "limit": 1}).json()[
        "runs"
    ][0]
    assert again["id"] > run["id"] and again["new"] == 0 and again["healed"] == 0
    assert sorted((f["dossier_code"], f["kind"], f["outcome"]) for f in again["findings"]) == [
        (d4, "duplicate-at-ministry", "known"),
        (d5, "result-never-returned", "known"),
    ]

    trail = hub("trail", d2, "-c", world.project.config_dir)
    assert trail.returncode == 0, trail.stderr
    assert "status-diverged" in trail.stdout and "healed" in trail.stdout
    exported = world.auditor.get("/api/v1/reconciliations", params={"format": "csv", "adapter": "land"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {(r["dossier_code"], r["kind"], r["outcome"]) for r in rows} >= {
        (d1, "missing-at-ministry", "healed")
    }
    refused = world.hub.client.get("/api/v1/reconciliations")  # the one-stop system reads its own only
    assert refused.status_code == 403


def test_hub_reconcile_says_what_is_wrong_with_its_arguments(pristine_project: Project) -> None:
    config = pristine_project.config_dir
    unknown = hub("reconcile", "--adapter", "nope", "--since", "2026-11-01", "-c", config)
    assert unknown.returncode == 1 and "no adapter 'nope'" in unknown.stderr, unknown.stderr
    land = pristine_project.read("adapters/land.yaml")
    del land["reconcile"]
    pristine_project.write("adapters/land.yaml", land)
    unset = hub("reconcile", "--adapter", "land", "--since", "2026-11-01", "-c", config)
    assert unset.returncode == 1 and "has no reconcile: section" in unset.stderr, unset.stderr
    bad_day = hub("reconcile", "--adapter", "land", "--since", "1 November", "-c", config)
    assert bad_day.returncode == 2 and "is not a date" in bad_day.stderr, bad_day.stderr
