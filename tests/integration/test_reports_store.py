"""The monthly statistics against SQLite and PostgreSQL, with messages the store holds at chosen times:
month boundaries in Vietnam time, the appointment a status report moves, a result reported after the
month's end, the open backlog carried from an earlier month, dead letters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lienthong.envelope import MessageKind, new_envelope
from lienthong.reports.monthly import monthly_report
from lienthong.store import Dead, PreparedDelivery, RouteDecision, RouteStatus
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, create_store_engine

HOSO = "urn:lienthong:province:hoso:1"
AGENCY = "000.20.31.H49"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    yield store
    store.close()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def dossier(store: SqlStore, code: str, received: str, due: str, procedure: str = "1.004227") -> None:
    payload = (
        f'<HoSo xmlns="{HOSO}"><MaHoSo>{code}</MaHoSo><MaTTHC>{procedure}</MaTTHC><TenTTHC>Đăng ký biến động'
        f"</TenTTHC><NgayHenTra>{due}</NgayHenTra><DonViXuLy>Chi nhánh Hạ Long</DonViXuLy>"
        f"<MaDonViXuLy>{AGENCY}</MaDonViXuLy></HoSo>"
    ).encode()
    envelope = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id=f"motcua-{code}",
        payload=payload,
        content_type="application/xml",
        procedure_code=procedure,
        dossier_code=code,
    )
    route = RouteDecision(RouteStatus.ROUTED, "land", ("land",), "test")
    store.accept(
        replace(envelope, received_at=at(received)),
        route,
        [PreparedDelivery("land", payload, "application/xml")],
    )


def report(store: SqlStore, code: str, received: str, status: str, when: str, **more: str) -> None:
    body = json.dumps({"MaHoSo": code, "TrangThaiHoSo": status, "ThoiDiemXuLy": when, **more}).encode()
    envelope = new_envelope(
        kind=MessageKind.STATUS,
        sender="000.00.00.G13",
        sender_message_id=f"dkdd-{uuid.uuid4()}",
        payload=b"<x/>",
        content_type="application/xml",
        dossier_code=code,
    )
    route = RouteDecision(RouteStatus.ROUTED, "land-status", ("motcua",), "test")
    store.accept(
        replace(envelope, received_at=at(received)),
        route,
        [PreparedDelivery("motcua", body, "application/json")],
    )


def kill_all(store: SqlStore) -> None:
    """Every delivery due now becomes a dead letter (the land registry refused them all)."""
    for claim in store.claim_due("test-worker", 100, timedelta(seconds=30)):
        store.record_outcome(claim, Dead(error="refused"))


NOVEMBER_NOW = datetime(2026, 12, 20, tzinfo=UTC)


def numbers(store: SqlStore, month: str) -> dict[str, int]:
    return monthly_report(store.engine, month, now=NOVEMBER_NOW).total().as_dict()


def test_month_boundaries_are_vietnam_time(store: SqlStore) -> None:
    dossier(store, "A-1", "2026-11-01T00:30:00+07:00", "20261110163000")  # 2026-10-31 17:30 UTC: November
    dossier(store, "A-2", "2026-12-01T00:30:00+07:00", "20261210163000")  # 2026-11-30 17:30 UTC: December
    dossier(store, "A-3", "2026-10-31T23:59:00+07:00", "20261110163000")  # October, still open in November
    november = monthly_report(store.engine, "2026-11", now=NOVEMBER_NOW)
    assert november.total().received == 1
    assert november.total().pending == 2  # open at November's end; A-2 not yet received
    assert monthly_report(store.engine, "2026-12", now=NOVEMBER_NOW).total().received == 1
    assert monthly_report(store.engine, "2026-10", now=NOVEMBER_NOW).total().as_dict() == {
        "received": 1,
        "processed": 0,
        "on_time": 0,
        "late": 0,
        "returned": 0,
        "pending": 1,
        "exchange_failures": 0,
    }


def test_on_time_against_the_appointment_in_force_and_as_of_the_months_end(store: SqlStore) -> None:
    dossier(store, "B-1", "2026-11-02T08:00:00+07:00", "20261110163000")
    report(store, "B-1", "2026-11-05T09:00:00+07:00", "4", "20261105090000", NgayHenTraMoi="20261120163000")
    report(
        store, "B-1", "2026-11-18T10:00:00+07:00", "10", "20261118100000"
    )  # late by NgayHenTra, on time by the new date
    dossier(store, "B-2", "2026-11-02T08:00:00+07:00", "20261110163000")
    report(store, "B-2", "2026-11-12T10:00:00+07:00", "10", "20261112100000")  # late
    dossier(store, "B-3", "2026-11-02T08:00:00+07:00", "20261110163000")
    report(store, "B-3", "2026-11-09T10:00:00+07:00", "3", "20261109100000")  # not accepted: returned
    dossier(store, "B-4", "2026-11-20T08:00:00+07:00", "20261201163000")
    report(store, "B-4", "2026-12-01T10:00:00+07:00", "10", "20261201100000")  # December: pending in November
    assert numbers(store, "2026-11") == {
        "received": 4,
        "processed": 2,
        "on_time": 1,
        "late": 1,
        "returned": 1,
        "pending": 1,
        "exchange_failures": 0,
    }
    # December: B-4 processed (on time), the others settled before and not counted again.
    assert numbers(store, "2026-12") == {
        "received": 0,
        "processed": 1,
        "on_time": 1,
        "late": 0,
        "returned": 0,
        "pending": 0,
        "exchange_failures": 0,
    }


def test_dead_letters_are_exchange_failures_of_their_dossiers_row(store: SqlStore) -> None:
    dossier(store, "C-1", "2026-11-03T08:00:00+07:00", "20261110163000", procedure="1.004221")
    kill_all(store)
    made = monthly_report(store.engine, "2026-11", now=NOVEMBER_NOW)
    [row] = made.rows
    assert (row.agency_code, row.agency_name, row.procedure_code, row.procedure_name) == (
        AGENCY,
        "Chi nhánh Hạ Long",
        "1.004221",
        "Đăng ký biến động",
    )
    assert (row.counts.received, row.counts.pending, row.counts.exchange_failures) == (1, 1, 1)
