"""One-stop and national portal over real HTTP: the hub, the land registry, the one-stop system's
callback (motcua) and the national portal (dvcqg) simulators, each as ``hub simulate`` serves it from
the shipped adapter files.

A dossier entered once at the one-stop desk reaches the portal as DongBoHoSoMC (after a session
login, national procedure code, dates yyyyMMddHHmmss); what the land registry then reports — its
status push, its result — reaches both the one-stop system (TrangThaiHoSo 4, then 10 with the
certificate) and the portal (CapNhatTienDoHoSoMC). The portal's session ending mid-way is renewed
within the same attempt; the portal being down delays the progress, never loses it. Every value the
simulators hold is compared with what was entered at the one-stop system or pushed by the registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from conftest import TEST_BREAKER, TEST_RETRY, Project, RunningHub, Simulator
from lxml import etree
from project_support import ROOT, AdapterSource
from soap_support import HUB_ENVIRON, RESULT_ACTION, STATUS_ACTION, ack, envelope, post

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec

MOTCUA = AdapterSource("motcua", ROOT)
DVCQG = AdapterSource("dvcqg", ROOT)
H = "urn:lienthong:province:hoso:1"
DD = "urn:lienthong:tnmt:dangkydatdai:1"
DOSSIER_FILE = ROOT / "adapters" / "land" / "cases" / "transfer-basic" / "input.xml"
STATUS_FILE = ROOT / "adapters" / "dvcqg" / "cases" / "land-status-processing" / "input.xml"
RESULT_FILE = ROOT / "adapters" / "dvcqg" / "cases" / "land-result-certificate" / "input.xml"
CODE = "000.00.00.H49-261121-0001"
LOCAL_PROCEDURE = "1.004227.000.00.00.H49"
SECRETS = {
    "DVCQG_USERNAME": "quangninh.lgsp",
    "DVCQG_PASSWORD": "test-portal-password-not-a-secret",
    "MOTCUA_CALLBACK_API_KEY": "test-motcua-callback-key-not-a-secret",
}
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
]


@dataclass
class Sim:
    """A running simulator of the project's adapter, its control client and its SQLite records."""

    server: SimulatorServer
    client: httpx.Client
    store: Path

    def records(self, **filters: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client.get("/_sim/records", params=filters).json()
        return found

    def bodies(self, key: str, operation: str) -> list[dict[str, Any]]:
        """The JSON bodies the simulated system received for ``key``, in order, exactly as sent."""
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT request FROM records WHERE key = ? AND operation = ? ORDER BY sequence",
                (key, operation),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]


@dataclass
class Portal:
    hub: RunningHub
    motcua: Sim
    dvcqg: Sim


@pytest.fixture
def portal(
    project_factory: Callable[..., Project],
    hub_factory: Callable[..., RunningHub],
    land_sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Portal]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)  # the hub's plugins read them, as in production
    project = project_factory(land_sim.url, adapters=(MOTCUA, DVCQG), routes=ROUTES)
    sims: dict[str, Sim] = {}
    try:
        for name in ("motcua", "dvcqg"):
            store = tmp_path / f"{name}.db"
            spec = simulator_spec(project.load(), name, store=store, environ=SECRETS)
            server = SimulatorServer(spec, FaultPlan(seed=3))
            server.start()
            sims[name] = Sim(server, httpx.Client(base_url=server.base_url, timeout=10), store)
        adapter = project.read("adapters/dvcqg.yaml")
        adapter["endpoint"] = sims["dvcqg"].server.url
        for op in adapter["operations"].values():
            op["options"]["session"]["login_url"] = sims["dvcqg"].server.base_url + "/api/dvcqg/login"
        adapter |= {"retry": TEST_RETRY, "circuit_breaker": TEST_BREAKER, "timeout": "5s"}
        project.write("adapters/dvcqg.yaml", adapter)
        project.update(
            "adapters/motcua.yaml",
            {"endpoint": sims["motcua"].server.url, "retry": TEST_RETRY, "circuit_breaker": TEST_BREAKER},
        )
        yield Portal(hub_factory(project, environ=HUB_ENVIRON), sims["motcua"], sims["dvcqg"])
    finally:
        for sim in sims.values():
            sim.client.close()
            sim.server.stop()


def entered() -> etree._Element:
    """The dossier as the one-stop desk entered it, with the province's local procedure code."""
    tree = etree.fromstring(DOSSIER_FILE.read_bytes())
    tree.find(f"{{{H}}}MaTTHC").text = LOCAL_PROCEDURE  # type: ignore[union-attr]
    return tree


def submit_dossier(hub: RunningHub) -> str:
    tree = entered()
    response = hub.submit(
        {
            "sender_message_id": f"motcua-{CODE}",
            "kind": "dossier",
            "sender": "000.00.00.H49",
            "procedure_code": LOCAL_PROCEDURE,
            "dossier_code": CODE,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(etree.tostring(tree, encoding="UTF-8")).decode("ascii"),
        }
    )
    assert response.status_code == 202, response.text
    message_id: str = response.json()["message_id"]
    return message_id


def push(hub: RunningHub, file: Path, action: str, message_id: str, **replace: str) -> str:
    """The land registry's SOAP push of the case ``file`` (its body element), as the registry."""
    body = re.sub(r"<\?xml[^>]*\?>|<!--.*?-->", "", file.read_text(encoding="utf-8"), flags=re.S).strip()
    for old, new in replace.items():
        body = body.replace(old, new)
    response = post(hub.client, "soap11", envelope("soap11", body, message_id=message_id), action=action)
    assert response.status_code == 200, response.text
    return str(ack(response)["messageId"])


def delivery(view: dict[str, Any], target: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [d for d in view["deliveries"] if d["target"] == target]
    assert len(found) == 1, view
    return found[0]


def validate(body: object, schema: str) -> None:
    with (ROOT / "schemas" / "dvcqg" / schema).open(encoding="utf-8") as f:
        errors = [e.message for e in jsonschema_rs.validator_for(json.load(f)).iter_errors(body)]
    assert errors == []


def sessions(sim: Sim) -> dict[str, int]:
    stats: dict[str, int] = sim.client.get("/_sim/sessions").json()
    return stats


def test_a_dossier_entered_once_reaches_the_portal_and_land_reports_reach_both(portal: Portal) -> None:
    hub, motcua, dvcqg = portal.hub, portal.motcua, portal.dvcqg
    view = hub.wait(submit_dossier(hub))
    assert delivery(view, "dvcqg")["operation"] == "DongBoHoSoMC"
    assert delivery(view, "land")["state"] == "delivered"

    # DongBoHoSoMC, as the portal received it: a session it handed out, the schema, the values entered.
    [sync] = dvcqg.bodies(CODE, "DongBoHoSoMC")
    validate(sync, "dongbohosomc.schema.json")
    assert sessions(dvcqg)["logins"] == 1 and sync["session"]
    assert next(iter(sync)) == "session"  # inserted first at send time, the rest as stored
    assert (sync["madonvi"], sync["service"], sync["isUpdating"]) == (
        "000.00.00.H49",
        "DongBoHoSoMC",
        "False",
    )
    [data] = sync["data"]
    source = entered()

    def given(name: str) -> str:
        return str(source.findtext(f"{{{H}}}{name}"))

    assert data["MaTTHC"] == "1.004227"  # the national code, from the local one entered
    for name in (
        "MaHoSo",
        "TenTTHC",
        "MaLinhVuc",
        "KenhThucHien",
        "ChuHoSo",
        "SoGiayToChuHoSo",
        "LoaiDoiTuong",
        "Email",
        "SoDienThoai",
        "TrichYeuHoSo",
        "TrangThaiHoSo",
        "DonViXuLy",
    ):
        assert data[name] == given(name), name
    # Entered as yyyyMMddHHmmss Vietnam time (+07:00), sent the same: no time zone shift on the way.
    assert (data["NgayTiepNhan"], data["NgayHenTra"]) == ("20261121083015", "20261205163000")
    papers = source.findall(f"{{{H}}}TaiLieuNop")
    assert [p["TenTepDinhKem"] for p in data["TaiLieuNop"]] == [
        p.findtext(f"{{{H}}}TenTaiLieu") for p in papers
    ]
    [record] = dvcqg.records(key=CODE)
    assert (record["operation"], record["status"]) == ("DongBoHoSoMC", "2")

    # The registry says the dossier is being processed: the one-stop system shows 4, the portal too.
    status_id = push(hub, STATUS_FILE, STATUS_ACTION, "dkdd-status-1")
    view = hub.wait(status_id)
    assert {d["target"]: d["operation"] for d in view["deliveries"]} == {
        "motcua": "CapNhatTrangThai",
        "dvcqg": "CapNhatTienDoHoSoMC",
    }
    [callback] = motcua.bodies(CODE, "CapNhatHoSo")
    assert callback["TrangThaiHoSo"] == "4" and callback["MaHoSo"] == CODE
    assert callback["ThoiDiemXuLy"] == "20261123140509"  # 2026-11-23T14:05:09+07:00 as pushed
    assert (callback["DonViXuLy"], callback["MaHoSoDonViXuLy"]) == ("000.00.00.G13", "DD-2026-000123")
    assert callback["NoiDungXuLy"] == "Hồ sơ đang được thẩm định tại Văn phòng đăng ký đất đai"
    [progress] = dvcqg.bodies(CODE, "CapNhatTienDoHoSoMC")
    validate(progress, "capnhattiendohosomc.schema.json")
    [step] = progress["data"]
    assert (step["MaHoSo"], step["TrangThai"], step["ThoiDiemXuLy"]) == (CODE, "4", "20261123140509")
    assert step["NgayKetThucTheoQuyDinh"] == "20261207163000"
    assert [r["status"] for r in dvcqg.records(key=CODE)] == ["2", "4"]

    # The result: the one-stop system shows 10 with the certificate, the portal's progress is 10.
    result_id = push(hub, RESULT_FILE, RESULT_ACTION, "dkdd-result-1")
    hub.wait(result_id)
    [*_, last] = motcua.bodies(CODE, "CapNhatHoSo")
    assert last["TrangThaiHoSo"] == "10"
    assert "số phát hành DE 123456" in last["NoiDungXuLy"]
    assert last["DanhSachGiayToKetQua"][0] == {
        "TenGiayTo": "Giấy chứng nhận quyền sử dụng đất",
        "SoHieu": "DE 123456",
    }
    assert [r["status"] for r in motcua.records(key=CODE)] == ["4", "10"]
    assert [r["status"] for r in dvcqg.records(key=CODE)] == ["2", "4", "10"]
    # The query operation (GET .../tracuu, as a reconciliation job would call it) says the same.
    listed = motcua.client.get("/api/motcua/tracuu", params={"key": CODE}).json()
    assert [r["status"] for r in listed["records"]] == ["4", "10"]


def test_an_expired_portal_session_is_renewed_within_the_same_attempt(portal: Portal) -> None:
    hub, dvcqg = portal.hub, portal.dvcqg
    hub.wait(push(hub, STATUS_FILE, STATUS_ACTION, "dkdd-status-a"))
    before = sessions(dvcqg)
    assert dvcqg.client.delete("/_sim/sessions").json()["expired"] >= 1  # the portal forgets them all

    later = push(hub, STATUS_FILE, STATUS_ACTION, "dkdd-status-b", **{"<TrangThai>4<": "<TrangThai>5<"})
    view = hub.wait(later)

    after = sessions(dvcqg)
    assert after["refused"] == before["refused"] + 1  # the stale session, answered error_code -1
    assert after["logins"] == before["logins"] + 1  # one new login, then the same call again
    assert delivery(view, "dvcqg")["attempts"] == 1
    bodies = dvcqg.bodies(CODE, "CapNhatTienDoHoSoMC")
    assert [b["data"][0]["TrangThai"] for b in bodies] == ["4", "5"]
    assert bodies[0]["session"] != bodies[1]["session"]


def test_a_portal_that_is_down_gets_the_progress_once_it_is_back(portal: Portal) -> None:
    hub, motcua, dvcqg = portal.hub, portal.motcua, portal.dvcqg
    dvcqg.client.put("/_sim/faults", json={"fail_next": 3}).raise_for_status()  # 503s first

    view = hub.wait(push(hub, RESULT_FILE, RESULT_ACTION, "dkdd-result-down"), timeout=60)

    portal_delivery = delivery(view, "dvcqg")
    assert portal_delivery["attempts"] > 1
    assert [a["outcome"] for a in portal_delivery["history"]][-1] == "delivered"
    assert delivery(view, "motcua")["attempts"] == 1  # the one-stop system was not held up
    [progress] = dvcqg.bodies(CODE, "CapNhatTienDoHoSoMC")
    assert progress["data"][0]["TrangThai"] == "10"
    assert [r["status"] for r in motcua.records(key=CODE)] == ["10"]


def test_the_callback_refuses_a_wrong_api_key_and_keeps_the_digest_of_each_document(portal: Portal) -> None:
    """What the justice results will rely on: a document's bytes, base64 in the callback, are decoded by
    the one-stop system, and the SHA-256 of what it decoded comes back in its answer."""
    motcua = portal.motcua
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    body = {
        "MaHoSo": "000.00.00.H49-261121-0009",
        "TrangThaiHoSo": "10",
        "ThoiDiemXuLy": "20261201090000",
        "DonViXuLy": "000.00.00.G15",
        "TenDonViXuLy": "Bộ Tư pháp",
        "NoiDungXuLy": "Đã cấp Phiếu lý lịch tư pháp số 1",
        "DanhSachGiayToKetQua": [
            {
                "TenGiayTo": "Phiếu lý lịch tư pháp số 1",
                "LoaiTep": "application/pdf",
                "NoiDung": base64.b64encode(pdf).decode("ascii"),
            }
        ],
    }
    url = motcua.server.url
    wrong = httpx.post(url, json=body, headers={"X-API-Key": "wrong", "X-Message-Id": "m-1"}, timeout=10)
    assert wrong.status_code == 401 and wrong.headers["content-type"].startswith("application/problem+json")

    key = {"X-API-Key": SECRETS["MOTCUA_CALLBACK_API_KEY"], "X-Message-Id": "m-2"}
    answer = httpx.post(url, json=body, headers=key, timeout=10)

    assert answer.status_code == 200, answer.text
    assert answer.json()["GiayToNhan"] == [hashlib.sha256(pdf).hexdigest()]
    assert [r["status"] for r in motcua.records(key="000.00.00.H49-261121-0009")] == ["10"]


def test_the_portal_refuses_wrong_credentials_and_calls_without_a_session_in_its_own_shape(
    portal: Portal,
) -> None:
    base = portal.dvcqg.server.base_url
    wrong = httpx.post(f"{base}/api/dvcqg/login", json={"username": "quangninh.lgsp", "password": "x"})
    assert wrong.status_code == 401 and wrong.json()["error_code"] == 1 and "session" not in wrong.json()

    call = {"madonvi": "000.00.00.H49", "service": "TraCuuHoSo", "mahoso": CODE}
    refused = httpx.post(portal.dvcqg.server.url, json=call | {"session": "made-up"})
    assert (refused.status_code, refused.json()["error_code"]) == (200, "-1")

    login = {"username": SECRETS["DVCQG_USERNAME"], "password": SECRETS["DVCQG_PASSWORD"]}
    session = httpx.post(f"{base}/api/dvcqg/login", json=login).json()
    assert session["error_code"] == 0
    unknown = httpx.post(portal.dvcqg.server.url, json=call | {"session": session["session"]})
    assert unknown.json() == {"error_code": "01", "message": "Không tìm thấy hồ sơ", "result": []}
    assert portal.dvcqg.records() == []  # a lookup records nothing
