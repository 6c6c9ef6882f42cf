"""Helpers for the inbound SOAP tests: requests written byte by byte, as a ministry system sends them.

Requests are built as text, not with a SOAP library, because the tests need to know the exact bytes
(``requestHash``, byte-exact storage) and to break them in precise ways.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
from land_support import LAND_NS
from lxml import etree
from support import MOTCUA_API_KEY, MOTCUA_KEY_ENV

from lienthong.soap import SoapFault, parse_envelope
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS

Version = Literal["soap11", "soap12"]
VERSIONS: tuple[Version, ...] = ("soap11", "soap12")

LAND = "000.00.00.G13"
PROVINCE = "000.00.00.H49"
LAND_KEY = "test-land-key-not-a-secret"
LAND_KEY_ENV = "HUB_LAND_API_KEY"
LAND_HEADERS = {"X-API-Key": LAND_KEY}
#: What the caller registry of a test hub reads: the one-stop system's key and the registry's.
HUB_ENVIRON: Mapping[str, str] = {MOTCUA_KEY_ENV: MOTCUA_API_KEY, LAND_KEY_ENV: LAND_KEY}
DOSSIER = "000.00.00.H49-261121-0001"
STATUS_ACTION = f"{LAND_NS}/CapNhatTrangThaiHoSo"
RESULT_ACTION = f"{LAND_NS}/TraKetQuaHoSo"
SENDER_CODES = {"soap11": "Client", "soap12": "Sender"}


def status_update(
    dossier: str = DOSSIER, state: str = "4", *, when: str = "2026-11-21T10:15:00+07:00"
) -> str:
    """CapNhatTrangThaiHoSo: the registry says where a dossier is (4 = processing)."""
    return (
        f'<dd:CapNhatTrangThaiHoSo xmlns:dd="{LAND_NS}">\n'
        f"      <dd:MaHoSoMotCua>{dossier}</dd:MaHoSoMotCua>\n"
        "      <dd:MaHoSoDatDai>DD-2026-000123</dd:MaHoSoDatDai>\n"
        f"      <dd:TrangThai>{state}</dd:TrangThai>\n"
        f"      <dd:ThoiGian>{when}</dd:ThoiGian>\n"
        "      <dd:NoiDung>Hồ sơ đang được thẩm định tại Văn phòng đăng ký đất đai Hạ Long</dd:NoiDung>\n"
        "      <dd:CanBoXuLy><dd:HoTen>Nguyễn Thị Hương</dd:HoTen></dd:CanBoXuLy>\n"
        "    </dd:CapNhatTrangThaiHoSo>"
    )


def result(dossier: str = DOSSIER) -> str:
    """TraKetQuaHoSo: the certificate was issued."""
    return (
        f'<dd:TraKetQuaHoSo xmlns:dd="{LAND_NS}">\n'
        f"      <dd:MaHoSoMotCua>{dossier}</dd:MaHoSoMotCua>\n"
        "      <dd:MaHoSoDatDai>DD-2026-000123</dd:MaHoSoDatDai>\n"
        "      <dd:KetQua>DaCapGiayChungNhan</dd:KetQua>\n"
        "      <dd:ThoiGian>2026-12-05T15:30:00+07:00</dd:ThoiGian>\n"
        "      <dd:GiayChungNhan>\n"
        "        <dd:SoPhatHanh>DE 123456</dd:SoPhatHanh>\n"
        "        <dd:SoVaoSo>CS01234</dd:SoVaoSo>\n"
        "        <dd:NgayCap>2026-12-05</dd:NgayCap>\n"
        "        <dd:CoQuanCap>Sở Tài nguyên và Môi trường tỉnh Quảng Ninh</dd:CoQuanCap>\n"
        "      </dd:GiayChungNhan>\n"
        "    </dd:TraKetQuaHoSo>"
    )


def envelope(
    version: Version,
    body: str,
    *,
    message_id: str | None = "dkdd-msg-0001",
    header: str = "",
    prolog: str = "",
) -> bytes:
    """A request envelope: ``lt:messageId`` (unless None), then ``header``, then ``body``."""
    ns = SOAP11_NS if version == "soap11" else SOAP12_NS
    blocks = f"<lt:messageId>{message_id}</lt:messageId>" if message_id is not None else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
        f'<soap:Envelope xmlns:soap="{ns}" xmlns:lt="{HUB_NS}">\n'
        f"  <soap:Header>{blocks}{header}</soap:Header>\n"
        f"  <soap:Body>\n    {body}\n  </soap:Body>\n"
        "</soap:Envelope>\n"
    ).encode()


def soap_headers(version: Version, action: str | None = "", **extra: str) -> dict[str, str]:
    """SOAP 1.1: text/xml and SOAPAction (None: no header at all); SOAP 1.2: the action parameter."""
    if version == "soap11":
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if action is not None:
            headers["SOAPAction"] = f'"{action}"'
    else:
        headers = {
            "Content-Type": "application/soap+xml; charset=utf-8" + (f'; action="{action}"' if action else "")
        }
    return headers | LAND_HEADERS | extra


def post(
    client: httpx.Client, version: Version, data: bytes, *, action: str | None = "", **headers: str
) -> httpx.Response:
    return client.post("/soap/land", content=data, headers=soap_headers(version, action, **headers))


def answer_version(response: httpx.Response) -> Version:
    media = response.headers["content-type"].split(";")[0].strip()
    return {"text/xml": "soap11", "application/soap+xml": "soap12"}[media]  # type: ignore[return-value]


def fault(response: httpx.Response) -> SoapFault:
    answer = parse_envelope(response.content, answer_version(response))
    assert answer.fault is not None, response.text
    return answer.fault


def fault_detail(response: httpx.Response) -> etree._Element:
    """``lt:faultDetail``, wherever the spec put it (SOAP 1.1 header faults carry it as a header block)."""
    detail = etree.fromstring(response.content).find(f".//{{{HUB_NS}}}faultDetail")
    assert detail is not None, response.text
    return detail


def hub_header(response: httpx.Response) -> dict[str, str]:
    return parse_envelope(response.content, answer_version(response)).header


#: The auditor's record grows on its own schedule (the sealer's tick seals rows and writes queued
#: refusals): a refusal is *meant* to land there, so "stores nothing" is about the other tables, and
#: the record's own tests (tests/e2e/test_audit_log_e2e.py) assert what it holds.
AUDIT_TABLES = frozenset({"audit_entries", "tree_heads", "refusals", "operator_actions"})
#: So do the background jobs' turns (polls, sealing, reconciliation take a lease row when they first run):
#: a request that stores nothing may be answered just as one of them starts.
JOB_TABLES = frozenset({"poll_state"})


def row_counts(database: Path) -> dict[str, int]:
    """Rows in every table of the hub's SQLite file but the auditor's record and the background jobs'
    leases, read as an outsider would."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name != "alembic_version" and name not in AUDIT_TABLES | JOB_TABLES
        ]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def ack(response: httpx.Response) -> dict[str, Any]:
    """The lt:Ack fields of an accepted request, as text."""
    answer = parse_envelope(response.content, answer_version(response))
    assert answer.fault is None and answer.body is not None, response.text
    assert answer.body.tag == f"{{{HUB_NS}}}Ack"
    return {etree.QName(el).localname: el.text for el in answer.body}
