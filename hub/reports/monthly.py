"""The monthly statistics, from the hub's own records (docs/reports.md).

The shape of the province's periodic report on administrative procedures: for a month (Vietnam time,
UTC+7), per agency and per procedure, what came in, what was settled, and what is still open at the
month's end. A dossier's agency and procedure come from the dossier as entered (``MaDonViXuLy`` and
``DonViXuLy``; the message's procedure code and ``TenTTHC``), its appointment from ``NgayHenTra``, and
where it stands from the status reports the hub passed to the one-stop system (deliveries to the
``notify.sources`` adapters, ``motcua``: ``TrangThaiHoSo`` 1-10, ``ThoiDiemXuLy``, ``NgayHenTraMoi``).
Everything is counted as of the month's end (or now, for the month under way), by the time the hub
recorded each message, so a past month's report never changes.

* **received** — dossiers the hub received in the month;
* **processed** — dossiers whose latest status by the month's end is 9 (processed) or 10 (result
  returned), reported in the month: **on time** when ``ThoiDiemXuLy`` is no later than the appointment
  in force (the latest ``NgayHenTraMoi``, else ``NgayHenTra``; none counts as on time), **late** otherwise;
* **returned** — likewise with 3 (not accepted), 7 (withdrawn) or 8 (stopped);
* **pending** — dossiers received by the month's end whose latest status then is neither (the open
  backlog, whatever month they came in; dossiers received more than ``horizon`` before are not looked at);
* **exchange failures** — deliveries of the month's messages about the dossier that are dead letters.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, TypeVar

from lxml import etree
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from lienthong.errors import HubError, RequestInvalidError
from lienthong.store.schema import deliveries, delivery_payloads, message_payloads, messages
from lienthong.xml import parse_xml

VIETNAM: Final = timezone(timedelta(hours=7), "ICT")
HOSO_NS: Final = "urn:lienthong:province:hoso:1"
PROCESSED: Final = frozenset({"9", "10"})
RETURNED: Final = frozenset({"3", "7", "8"})
UNKNOWN: Final = "(không rõ)"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_STAMP = re.compile(r"^\d{14}$")
_CHUNK: Final = 500
T = TypeVar("T")
#: How far back the open backlog is looked for: a dossier received longer ago is no longer "pending".
HORIZON: Final = timedelta(days=366)


@dataclass
class Counts:
    """One row's numbers."""

    received: int = 0
    processed: int = 0
    on_time: int = 0
    late: int = 0
    returned: int = 0
    pending: int = 0
    exchange_failures: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Row:
    agency_code: str
    agency_name: str
    procedure_code: str
    procedure_name: str
    counts: Counts = field(default_factory=Counts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agency_code": self.agency_code,
            "agency_name": self.agency_name,
            "procedure_code": self.procedure_code,
            "procedure_name": self.procedure_name,
            **self.counts.as_dict(),
        }


@dataclass
class MonthlyReport:
    month: str
    start: datetime
    end: datetime
    as_of: datetime
    rows: list[Row]  # per agency and procedure

    def by_agency(self) -> list[Row]:
        return _group(self.rows, lambda r: (r.agency_code, r.agency_name, "", ""))

    def by_procedure(self) -> list[Row]:
        return _group(self.rows, lambda r: ("", "", r.procedure_code, r.procedure_name))

    def total(self) -> Counts:
        total = Counts()
        for row in self.rows:
            total.add(row.counts)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "rows": [r.as_dict() for r in self.rows],
            "by_agency": [
                {k: v for k, v in r.as_dict().items() if not k.startswith("procedure_")}
                for r in self.by_agency()
            ],
            "by_procedure": [
                {k: v for k, v in r.as_dict().items() if not k.startswith("agency_")}
                for r in self.by_procedure()
            ],
            "total": self.total().as_dict(),
        }


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in Vietnam time."""
    match = _MONTH.match(month.strip())
    if match is None:
        raise RequestInvalidError(
            f"month {month!r}: write it as YYYY-MM, e.g. 2026-11 (tháng viết dạng YYYY-MM, ví dụ 2026-11)"
        )
    year, number = int(match.group(1)), int(match.group(2))
    if not 1900 <= year <= 9998:
        raise RequestInvalidError(
            f"month {month!r}: the year must be between 1900 and 9998 (năm từ 1900 đến 9998)"
        )
    start = datetime(year, number, 1, tzinfo=VIETNAM)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=VIETNAM)
    return start, end


def monthly_report(
    engine: Engine,
    month: str,
    *,
    sources: Sequence[str] = ("motcua",),
    now: datetime | None = None,
    horizon: timedelta = HORIZON,
) -> MonthlyReport:
    start, end = month_bounds(month)
    now = now or datetime.now(UTC)
    as_of = min(end, now.astimezone(VIETNAM))
    # Metadata first, for every dossier that may count; the payloads only of those that do.
    heads = _dossier_heads(engine, as_of - horizon, as_of)
    reports = _status_reports(engine, list(heads), sources, as_of)
    standings: dict[str, _Standing] = {}
    for code, head in heads.items():
        standing = _standing(reports.get(code, []))
        settled = standing.status in PROCESSED or standing.status in RETURNED
        if head.received_at >= start or not settled or (standing.reported_at or start) >= start:
            standings[code] = standing
    dossiers = _read_dossiers(engine, {code: heads[code] for code in standings})
    failures = _dead_deliveries(engine, list(standings), start, as_of)
    rows: dict[tuple[str, str], Row] = {}
    for code, standing in standings.items():
        dossier, head = dossiers[code], heads[code]
        counts = Counts(received=int(head.received_at >= start), exchange_failures=failures.get(code, 0))
        status, due = standing.status, standing.due or dossier.due
        if status in PROCESSED or status in RETURNED:
            if standing.reported_at is not None and standing.reported_at >= start:
                if status in RETURNED:
                    counts.returned += 1
                elif due is None or standing.at is None or standing.at <= due:
                    counts.processed, counts.on_time = 1, 1
                else:
                    counts.processed, counts.late = 1, 1
        else:
            counts.pending += 1
        if counts == Counts():
            continue  # settled before the month, nothing about it in it
        key = (dossier.agency_code, dossier.procedure_code)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(
                dossier.agency_code, dossier.agency_name, dossier.procedure_code, dossier.procedure_name
            )
        row.counts.add(counts)
    ordered = sorted(rows.values(), key=lambda r: (r.agency_code, r.procedure_code))
    return MonthlyReport(month, start, end, as_of, ordered)


@dataclass(frozen=True)
class _Standing:
    """Where a dossier stands after its reports: the latest status, when the hub recorded it, when the
    agency says it happened, and the latest new appointment a report set."""

    status: str | None = None
    reported_at: datetime | None = None
    at: datetime | None = None
    due: datetime | None = None


def _standing(reports: Sequence[tuple[datetime, dict[str, Any]]]) -> _Standing:
    status: str | None = None
    reported_at: datetime | None = None
    at: datetime | None = None
    due: datetime | None = None
    for received_at, body in sorted(reports, key=lambda item: item[0]):
        new_due = _stamp(body.get("NgayHenTraMoi"))
        if new_due is not None:
            due = new_due
        value = str(body.get("TrangThaiHoSo", "")).strip()
        if value:
            status, reported_at = value, received_at
            at = _stamp(body.get("ThoiDiemXuLy")) or received_at
    return _Standing(status, reported_at, at, due)


def _stamp(value: object) -> datetime | None:
    """``yyyyMMddHHmmss`` in Vietnam time, as the one-stop system and the portal exchange dates."""
    text = str(value or "").strip()
    if not _STAMP.match(text):
        return None
    try:
        return datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
            tzinfo=VIETNAM,
        )
    except ValueError:
        return None


@dataclass(frozen=True)
class _Head:
    message_id: uuid.UUID
    procedure_code: str | None
    received_at: datetime


@dataclass(frozen=True)
class _Dossier:
    agency_code: str
    agency_name: str
    procedure_code: str
    procedure_name: str
    due: datetime | None


def _dossier_heads(engine: Engine, start: datetime, end: datetime) -> dict[str, _Head]:
    """Every dossier the hub received in [start, end): its first message's id, procedure and time."""
    query = (
        select(messages.c.dossier_code, messages.c.id, messages.c.procedure_code, messages.c.received_at)
        .where(
            and_(
                messages.c.kind == "dossier",
                messages.c.dossier_code.is_not(None),
                messages.c.received_at >= start.astimezone(UTC),
                messages.c.received_at < end.astimezone(UTC),
            )
        )
        .order_by(messages.c.received_at)
    )
    found: dict[str, _Head] = {}
    with engine.connect() as conn:
        for code, message_id, procedure_code, received_at in conn.execute(query):
            if code not in found:  # the first message of a dossier stands for it
                found[code] = _Head(message_id, procedure_code, received_at)
    return found


def _read_dossiers(engine: Engine, heads: dict[str, _Head]) -> dict[str, _Dossier]:
    by_message = {head.message_id: code for code, head in heads.items()}
    found: dict[str, _Dossier] = {}
    with engine.connect() as conn:
        for chunk in _chunks(list(by_message)):
            query = select(message_payloads.c.message_id, message_payloads.c.payload).where(
                message_payloads.c.message_id.in_(list(chunk))
            )
            for message_id, payload in conn.execute(query):
                code = by_message[message_id]
                found[code] = _read_dossier(heads[code].procedure_code, bytes(payload))
    return found


def _read_dossier(procedure_code: str | None, payload: bytes) -> _Dossier:
    try:
        root: etree._Element | None = parse_xml(payload, what="dossier")
    except HubError:
        root = None

    def text(name: str) -> str | None:
        if root is None:
            return None
        value = root.findtext(f"{{{HOSO_NS}}}{name}")
        return value.strip() or None if value is not None else None

    return _Dossier(
        agency_code=text("MaDonViXuLy") or UNKNOWN,
        agency_name=text("DonViXuLy") or "",
        procedure_code=procedure_code or text("MaTTHC") or UNKNOWN,
        procedure_name=text("TenTTHC") or "",
        due=_stamp(text("NgayHenTra")),
    )


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _status_reports(
    engine: Engine, codes: Sequence[str], sources: Sequence[str], as_of: datetime
) -> dict[str, list[tuple[datetime, dict[str, Any]]]]:
    found: dict[str, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    with engine.connect() as conn:
        for chunk in _chunks(codes):
            query = (
                select(messages.c.dossier_code, messages.c.received_at, delivery_payloads.c.payload)
                .join(deliveries, deliveries.c.message_id == messages.c.id)
                .join(delivery_payloads, delivery_payloads.c.delivery_id == deliveries.c.id)
                .where(
                    and_(
                        messages.c.dossier_code.in_(list(chunk)),
                        deliveries.c.target.in_(list(sources)),
                        messages.c.received_at < as_of.astimezone(UTC),
                    )
                )
            )
            for code, received_at, payload in conn.execute(query):
                try:
                    body = json.loads(bytes(payload))
                except ValueError:
                    continue
                if isinstance(body, dict):
                    found[code].append((received_at, body))
    return found


def _dead_deliveries(engine: Engine, codes: Sequence[str], start: datetime, end: datetime) -> dict[str, int]:
    """Per dossier, the dead deliveries of its messages the hub received in [start, end)."""
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for chunk in _chunks(codes):
            query = (
                select(messages.c.dossier_code, func.count())
                .join(deliveries, deliveries.c.message_id == messages.c.id)
                .where(
                    and_(
                        messages.c.dossier_code.in_(list(chunk)),
                        deliveries.c.state == "dead",
                        messages.c.received_at >= start.astimezone(UTC),
                        messages.c.received_at < end.astimezone(UTC),
                    )
                )
                .group_by(messages.c.dossier_code)
            )
            for code, count in conn.execute(query):
                found[code] = int(count)
    return found


def _group(rows: Iterable[Row], key: Any) -> list[Row]:
    grouped: dict[tuple[str, str, str, str], Row] = {}
    for row in rows:
        k = key(row)
        target = grouped.get(k)
        if target is None:
            target = grouped[k] = Row(*k)
        target.counts.add(row.counts)
    return sorted(grouped.values(), key=lambda r: (r.agency_code, r.procedure_code))
