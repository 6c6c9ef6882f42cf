"""The notifier's reads and its one write, over the store's engine (docs/notify.md).

Reads: the status reports not yet examined (deliveries to the ``sources`` adapters, with their JSON
payload) and a dossier's own message (where the citizen's email and phone are). Write: one
``notice_checks`` row per report examined. The notices themselves go through intake, never here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lienthong.envelope import utcnow
from lienthong.store.schema import deliveries, delivery_payloads, message_payloads, messages, notice_checks


@dataclass(frozen=True)
class StatusReport:
    """One status report on its way to the one-stop system: the message and the callback's JSON."""

    message_id: uuid.UUID
    dossier_code: str | None
    procedure_code: str | None
    body: dict[str, Any] | None  # None: not JSON, or not an object


class NoticeRecords:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def unchecked_reports(self, sources: Sequence[str], since: datetime, limit: int) -> list[StatusReport]:
        """Reports delivered (or to be delivered) to ``sources`` since ``since``, never examined, oldest
        first. An anti-join, not a cursor: a row committed late (PostgreSQL commits out of id order) is
        still found on a later round."""
        query = (
            select(
                deliveries.c.message_id,
                messages.c.dossier_code,
                messages.c.procedure_code,
                delivery_payloads.c.payload,
            )
            .join(messages, messages.c.id == deliveries.c.message_id)
            .join(delivery_payloads, delivery_payloads.c.delivery_id == deliveries.c.id)
            .outerjoin(notice_checks, notice_checks.c.message_id == deliveries.c.message_id)
            .where(
                and_(
                    deliveries.c.target.in_(list(sources)),
                    deliveries.c.created_at >= since,
                    notice_checks.c.message_id.is_(None),
                )
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        seen: set[uuid.UUID] = set()
        reports = []
        for message_id, dossier_code, procedure_code, payload in rows:
            if message_id in seen:  # two source adapters got the same report
                continue
            seen.add(message_id)
            reports.append(StatusReport(message_id, dossier_code, procedure_code, _json_object(payload)))
        return reports

    def dossier_payload(self, dossier_code: str) -> bytes | None:
        """The dossier as the one-stop system entered it (its first ``dossier`` message)."""
        query = (
            select(message_payloads.c.payload)
            .join(messages, messages.c.id == message_payloads.c.message_id)
            .where(and_(messages.c.dossier_code == dossier_code, messages.c.kind == "dossier"))
            .order_by(messages.c.received_at)
            .limit(1)
        )
        with self.engine.connect() as conn:
            payload = conn.execute(query).scalar_one_or_none()
        return None if payload is None else bytes(payload)

    def record(self, report: StatusReport, status: str | None, outcome: str, detail: str | None) -> None:
        row = {
            "message_id": report.message_id,
            "dossier_code": report.dossier_code,
            "status": status,
            "outcome": outcome,
            "detail": detail,
            "checked_at": utcnow(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(notice_checks).values(row))
        except IntegrityError:  # another process examined it meanwhile: its row stands
            pass

    def checks(self, dossier_code: str) -> list[dict[str, Any]]:
        """What was decided for a dossier's reports, oldest first (tests, support)."""
        query = select(notice_checks).where(notice_checks.c.dossier_code == dossier_code)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(notice_checks.c.checked_at)).mappings().all()
        return [dict(row) for row in rows]


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
