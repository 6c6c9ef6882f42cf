"""The reconciliation's rows (``reconciliation_runs``, ``reconciliation_findings``) and what a run reads
of the hub's own records, over the SQL store's engine.

A feature store of its own rather than more of the ``Store`` protocol: only reconciliation reads these
joins, and they need SQL (the memory store has no reconciliation)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from lienthong.envelope import utcnow
from lienthong.reconcile.compare import Finding, HubDelivery
from lienthong.store.schema import (
    deliveries,
    delivery_payloads,
    messages,
    reconciliation_findings,
    reconciliation_runs,
)

__all__ = ["FindingRow", "ReconcileLog", "RunRow"]

_UNDERWAY = ("queued", "in-flight", "failed")


@dataclass(frozen=True)
class RunRow:
    id: int
    adapter: str
    trigger: str
    owner: str
    dry_run: bool
    since: datetime
    until: datetime
    started_at: datetime
    finished_at: datetime | None
    state: str
    held: int
    compared: int
    found: int
    new: int
    healed: int
    reported: int
    error: str | None


@dataclass(frozen=True)
class FindingRow:
    id: int
    run_id: int
    adapter: str
    kind: str
    fingerprint: str
    new: bool
    dossier_code: str | None
    message_id: str | None
    system_status: str | None
    hub_status: str | None
    one_stop_status: str | None
    action: str
    outcome: str
    cause: str
    healing_message_id: uuid.UUID | None
    delivery_id: int | None
    at: datetime


class ReconcileLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------ the hub's records

    def deliveries(
        self, adapter: str, since: datetime, until: datetime, operations: Collection[str] = ()
    ) -> list[HubDelivery]:
        """The adapter's deliveries created in [since, until), through ``operations`` if any are given."""
        query = (
            select(
                deliveries.c.id,
                deliveries.c.message_id,
                messages.c.dossier_code,
                messages.c.procedure_code,
                deliveries.c.operation,
                deliveries.c.state,
                deliveries.c.delivered_at,
            )
            .join(messages, messages.c.id == deliveries.c.message_id)
            .where(
                deliveries.c.target == adapter,
                deliveries.c.created_at >= since,
                deliveries.c.created_at < until,
            )
            .where(messages.c.kind != "query")
            .order_by(deliveries.c.id)
        )
        if operations:
            query = query.where(deliveries.c.operation.in_(list(operations)))
        with self.engine.connect() as conn:
            return [
                HubDelivery(
                    r.id,
                    str(r.message_id),
                    r.dossier_code,
                    r.procedure_code,
                    r.operation,
                    r.state,
                    r.delivered_at,
                )
                for r in conn.execute(query)
            ]

    def results(self, agency: str, kind: str, codes: Collection[str]) -> set[str]:
        """The dossiers among ``codes`` for which a message of ``kind`` from ``agency`` is stored."""
        if not codes:
            return set()
        query = select(messages.c.dossier_code).where(
            messages.c.sender == agency, messages.c.kind == kind, messages.c.dossier_code.in_(list(codes))
        )
        with self.engine.connect() as conn:
            return {r.dossier_code for r in conn.execute(query)}

    def one_stop(
        self, one_stop: str, agency: str, codes: Collection[str], held: Collection[str] | None
    ) -> tuple[dict[str, str | None], set[str]]:
        """Per dossier, the TrangThaiHoSo of the latest delivery to the one-stop adapter of a message from
        ``agency`` (read from the JSON the hub sent), counting only those the one-stop system holds
        (``held``: message ids its listing showed; None: no listing, trust the hub's record); and the
        dossiers with such a delivery still under way."""
        told: dict[str, str | None] = {}
        pending: set[str] = set()
        if not codes:
            return told, pending
        query = (
            select(
                messages.c.dossier_code,
                deliveries.c.message_id,
                deliveries.c.state,
                deliveries.c.id,
                delivery_payloads.c.payload,
            )
            .join(messages, messages.c.id == deliveries.c.message_id)
            .join(delivery_payloads, delivery_payloads.c.delivery_id == deliveries.c.id)
            .where(
                deliveries.c.target == one_stop,
                messages.c.sender == agency,
                messages.c.dossier_code.in_(list(codes)),
            )
            .order_by(messages.c.received_at, deliveries.c.id)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.state in _UNDERWAY:
                    pending.add(row.dossier_code)
                    continue
                if row.state != "delivered" or (held is not None and str(row.message_id) not in held):
                    continue
                told[row.dossier_code] = _national_status(row.payload)
        return told, pending

    def axis_received(self, doc_ids: Collection[str]) -> set[str]:
        """The axis docIds among ``doc_ids`` the hub holds a message of (``axis:<docId>``)."""
        if not doc_ids:
            return set()
        query = select(messages.c.sender_message_id).where(
            messages.c.sender_message_id.in_([f"axis:{d}" for d in doc_ids])
        )
        with self.engine.connect() as conn:
            return {r.sender_message_id.removeprefix("axis:") for r in conn.execute(query)}

    def case_payload(self, adapter: str, dossier_code: str) -> bytes | None:
        """The bytes of the first delivery of the dossier to the adapter (the case as the system got it)."""
        query = (
            select(delivery_payloads.c.payload)
            .join(deliveries, deliveries.c.id == delivery_payloads.c.delivery_id)
            .join(messages, messages.c.id == deliveries.c.message_id)
            .where(deliveries.c.target == adapter, messages.c.dossier_code == dossier_code)
            .order_by(deliveries.c.id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            payload = conn.execute(query).scalar()
        return bytes(payload) if payload is not None else None

    def resend(self, delivery_id: int, reason: str) -> bool:
        """Queue a delivered delivery again, same bytes, same message id: the outbox sends it anew."""
        now = utcnow()
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.state == "delivered")
                .values(
                    state="queued",
                    next_attempt_at=now,
                    round_attempts=0,
                    round_started_at=None,
                    claimed_by=None,
                    lease_until=None,
                    last_error=reason[:2000],
                    updated_at=now,
                )
            ).rowcount
        return bool(changed)

    # ------------------------------------------------------------ runs and findings

    def start_run(
        self, adapter: str, trigger: str, owner: str, dry_run: bool, since: datetime, until: datetime
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(reconciliation_runs).values(
                    adapter=adapter,
                    trigger=trigger,
                    owner=owner,
                    dry_run=dry_run,
                    since=since,
                    until=until,
                    started_at=utcnow(),
                    state="running",
                    held=0,
                    compared=0,
                    found=0,
                    new=0,
                    healed=0,
                    reported=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def abandon(self, adapter: str, owner: str) -> int:
        """Scheduled runs of ``adapter`` left running by another process: it died (its lease ran out, or
        this process could not have taken the job), so they are marked abandoned; how many."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(reconciliation_runs)
                    .where(
                        reconciliation_runs.c.adapter == adapter,
                        reconciliation_runs.c.trigger == "schedule",
                        reconciliation_runs.c.state == "running",
                        reconciliation_runs.c.owner != owner,
                    )
                    .values(
                        state="abandoned",
                        finished_at=utcnow(),
                        error="its process stopped before the run ended; taken over when its lease ran out",
                    )
                ).rowcount
            )

    def seen(self, adapter: str, fingerprints: Collection[str]) -> dict[str, str]:
        """Fingerprints found by an earlier real run (not a dry run), with their first outcome."""
        if not fingerprints:
            return {}
        query = (
            select(reconciliation_findings.c.fingerprint, reconciliation_findings.c.outcome)
            .join(reconciliation_runs, reconciliation_runs.c.id == reconciliation_findings.c.run_id)
            .where(
                reconciliation_findings.c.adapter == adapter,
                reconciliation_findings.c.fingerprint.in_(list(fingerprints)),
                reconciliation_findings.c.new.is_(True),
                reconciliation_runs.c.dry_run.is_(False),
            )
            .order_by(reconciliation_findings.c.id)
        )
        seen: dict[str, str] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                seen.setdefault(row.fingerprint, row.outcome)
        return seen

    def add_finding(
        self,
        run_id: int,
        adapter: str,
        finding: Finding,
        *,
        new: bool,
        outcome: str,
        cause: str,
        healing_message_id: uuid.UUID | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(reconciliation_findings).values(
                    run_id=run_id,
                    adapter=adapter,
                    kind=finding.kind,
                    fingerprint=finding.fingerprint,
                    new=new,
                    dossier_code=finding.dossier_code,
                    message_id=finding.message_id,
                    system_status=finding.system_status,
                    hub_status=finding.hub_status,
                    one_stop_status=finding.one_stop_status,
                    action=finding.action,
                    outcome=outcome,
                    cause=cause,
                    healing_message_id=healing_message_id,
                    delivery_id=finding.delivery.delivery_id if finding.delivery else None,
                    at=utcnow(),
                )
            )

    def finish_run(self, run_id: int, **counts: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(reconciliation_runs)
                .where(reconciliation_runs.c.id == run_id)
                .values(finished_at=utcnow(), **counts)
            )

    def runs(self, adapter: str | None = None, limit: int = 100) -> list[RunRow]:
        query = select(reconciliation_runs).order_by(reconciliation_runs.c.id.desc()).limit(limit)
        if adapter:
            query = query.where(reconciliation_runs.c.adapter == adapter)
        with self.engine.connect() as conn:
            return [RunRow(**r._mapping) for r in conn.execute(query)]

    def run(self, run_id: int) -> RunRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(reconciliation_runs).where(reconciliation_runs.c.id == run_id)).first()
        return RunRow(**row._mapping) if row is not None else None

    def findings(
        self,
        *,
        run_ids: Sequence[int] | None = None,
        dossier_code: str | None = None,
        adapter: str | None = None,
        limit: int = 10_000,
    ) -> list[FindingRow]:
        query = select(reconciliation_findings).order_by(reconciliation_findings.c.id).limit(limit)
        if run_ids is not None:
            query = query.where(reconciliation_findings.c.run_id.in_(list(run_ids)))
        if dossier_code is not None:
            query = query.where(reconciliation_findings.c.dossier_code == dossier_code)
        if adapter is not None:
            query = query.where(reconciliation_findings.c.adapter == adapter)
        with self.engine.connect() as conn:
            return [FindingRow(**r._mapping) for r in conn.execute(query)]

    def count_runs(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(reconciliation_runs)).scalar() or 0)


def _national_status(payload: bytes) -> str | None:
    """TrangThaiHoSo of a one-stop callback (JSON; docs/workflows.md), or None if it has none."""
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    status = value.get("TrangThaiHoSo") if isinstance(value, dict) else None
    return str(status) if status not in (None, "") else None
