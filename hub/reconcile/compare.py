"""Classification: the system's records against the hub's and the one-stop system's, as data.

Pure (no store, no HTTP), so every rule is tested on its own. Five kinds of difference:

* ``missing-at-ministry`` — the hub delivered a message (the system answered 2xx) and the system holds
  no record of its message id: lost on the way in, or dropped after answering. Healed by sending the
  same delivery again, with the same message id (the system de-duplicates on it).
* ``missing-at-hub`` — the system holds a record whose message id the hub never sent it (a dossier it
  received some other way). Reported: only a person knows where it came from.
* ``duplicate-at-ministry`` — the system holds two cases for one dossier and operation under different
  message ids. Reported: cancelling a case there is not the hub's to do.
* ``status-diverged`` — the system's status of a dossier (as the national TrangThaiHoSo) is not the
  latest the one-stop system was told by this system: a callback lost, or a status changed there
  without one. Healed by pushing the system's status through the normal routes (one-stop, portal).
* ``result-never-returned`` — the system's case is final and the hub holds no result from it. Healed by
  fetching it when the adapter has a poll for it; otherwise reported (the system must send it again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from lienthong.reconcile.records import HeldRecord

__all__ = ["KINDS", "Finding", "HubDelivery", "HubView", "classify", "classify_axis"]

Kind = Literal[
    "missing-at-ministry",
    "missing-at-hub",
    "duplicate-at-ministry",
    "status-diverged",
    "result-never-returned",
]
KINDS: Final[tuple[Kind, ...]] = (
    "missing-at-ministry",
    "missing-at-hub",
    "duplicate-at-ministry",
    "status-diverged",
    "result-never-returned",
)
Action = Literal["resend", "push-status", "fetch-result", "receive", "none"]


@dataclass(frozen=True)
class HubDelivery:
    """A delivery of the hub to the reconciled adapter, as the store has it."""

    delivery_id: int
    message_id: str
    dossier_code: str | None
    procedure_code: str | None
    operation: str | None
    state: str
    delivered_at: datetime | None


@dataclass(frozen=True)
class HubView:
    """What the hub knows, for one adapter and one window."""

    deliveries: Sequence[HubDelivery]
    #: Dossier codes for which the hub holds a result (a message of the result kind from the agency).
    results: Collection[str] = ()
    #: Per dossier, the latest TrangThaiHoSo the one-stop system holds from this agency (None: none).
    one_stop: Mapping[str, str | None] = field(default_factory=dict)
    #: Dossiers with a delivery to the one-stop system still under way (not judged: it is coming).
    one_stop_pending: Collection[str] = ()


@dataclass(frozen=True)
class Finding:
    kind: Kind
    action: Action
    cause: str
    dossier_code: str | None = None
    message_id: str | None = None
    system_status: str | None = None
    hub_status: str | None = None
    one_stop_status: str | None = None
    delivery: HubDelivery | None = None

    @property
    def fingerprint(self) -> str:
        """The same difference found again has the same fingerprint (a second run finds nothing new)."""
        parts = (self.kind, self.dossier_code or "", self.message_id or "", self.system_status or "")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def classify(
    held: Sequence[HeldRecord],
    hub: HubView,
    *,
    statuses: Mapping[str, str],
    final: Collection[str],
    settled: datetime,
    can_push: bool,
    can_fetch: bool,
) -> list[Finding]:
    """Every difference, in a stable order. ``settled``: records changed and deliveries made after it
    are not judged yet (a callback on its way)."""
    findings: list[Finding] = []
    by_id = {d.message_id: d for d in hub.deliveries}
    held_ids = {r.message_id for r in held}
    for delivery in hub.deliveries:
        if delivery.state != "delivered" or delivery.message_id in held_ids:
            continue
        if delivery.delivered_at is not None and delivery.delivered_at > settled:
            continue
        findings.append(
            Finding(
                "missing-at-ministry",
                "resend",
                f"delivered {delivery.delivered_at:%Y-%m-%d %H:%M:%S} UTC through {delivery.operation}, "
                "but the system holds no record of this message id"
                if delivery.delivered_at
                else "delivered, but the system holds no record of this message id",
                dossier_code=delivery.dossier_code,
                message_id=delivery.message_id,
                hub_status="delivered",
                delivery=delivery,
            )
        )
    duplicates: set[str] = set()
    cases: dict[tuple[str, str], list[HeldRecord]] = {}
    for record in held:
        if record.key:
            cases.setdefault((record.key, record.operation), []).append(record)
    for (key, operation), records in sorted(cases.items()):
        if len({r.message_id for r in records}) < 2:
            continue
        ours = [r for r in records if r.message_id in by_id]
        keep = ours[0] if ours else min(records, key=lambda r: r.sequence)
        for record in sorted(records, key=lambda r: r.sequence):
            if record is keep:
                continue
            duplicates.add(record.message_id)
            findings.append(
                Finding(
                    "duplicate-at-ministry",
                    "none",
                    f"the system holds {len(records)} cases of {operation} for this dossier; case "
                    f"{record.sequence} ({record.message_id}) is not the one the hub sent "
                    f"({keep.message_id})",
                    dossier_code=key,
                    message_id=record.message_id,
                    system_status=record.status,
                )
            )
    for record in held:
        if record.message_id in by_id or record.message_id in duplicates:
            continue
        findings.append(
            Finding(
                "missing-at-hub",
                "none",
                f"the system holds {record.operation} case {record.sequence} received "
                f"{record.received_at.isoformat()} that the hub never sent it",
                dossier_code=record.key,
                message_id=record.message_id,
                system_status=record.status,
            )
        )
    known_dossiers = {d.dossier_code for d in hub.deliveries if d.dossier_code}
    latest: dict[str, HeldRecord] = {}
    for record in held:
        if not record.key or record.key not in known_dossiers or record.message_id in duplicates:
            continue
        if record.key not in latest or record.sequence > latest[record.key].sequence:
            latest[record.key] = record
    for code, record in sorted(latest.items()):
        if record.updated_at > settled:
            continue
        if record.status in final and code not in hub.results:
            findings.append(
                Finding(
                    "result-never-returned",
                    "fetch-result" if can_fetch else "none",
                    f"the system's case is {record.status} since {record.updated_at.isoformat()}, and "
                    "no result from it reached the hub",
                    dossier_code=code,
                    message_id=record.message_id,
                    system_status=record.status,
                )
            )
        national = statuses.get(record.status)
        if national is None or code in hub.one_stop_pending:
            continue
        told = hub.one_stop.get(code)
        if told != national:
            findings.append(
                Finding(
                    "status-diverged",
                    "push-status" if can_push else "none",
                    f"the system says {record.status} (TrangThaiHoSo {national}) since "
                    f"{record.updated_at.isoformat()}; the one-stop system was last told "
                    + (f"TrangThaiHoSo {told}" if told else "nothing")
                    + " by it",
                    dossier_code=code,
                    message_id=record.message_id,
                    system_status=record.status,
                    hub_status=national,
                    one_stop_status=told,
                )
            )
    return findings


def classify_axis(
    held: Sequence[HeldRecord], received: Collection[str], *, settled: datetime, can_receive: bool
) -> list[Finding]:
    """The national axis (``vpcp``): what it still holds for the hub's agency, pending since before
    ``settled``. A message the hub never received is ``missing-at-hub``, healed by a receiving round
    (the hub's own, under its lease); one it received but never confirmed is left to that round too
    (it confirms what it holds), so it is not a difference."""
    return [
        Finding(
            "missing-at-hub",
            "receive" if can_receive else "none",
            f"the axis holds {record.operation} {record.message_id} for the hub since "
            f"{record.received_at.isoformat()} ({record.status}), never received",
            message_id=record.message_id,
            system_status=record.status,
        )
        for record in held
        if record.message_id not in received and record.received_at <= settled
    ]
