"""The audit log's state for the console: how many entries are sealed, the latest signed tree head,
and the outcome of the last verification asked for from the console (``hub audit verify``'s check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from lienthong.audit.log import AuditLog
from lienthong.audit.verify import verify_log


@dataclass(frozen=True)
class Verification:
    at: datetime
    ok: bool
    #: The first problem (altered, missing or reordered entry, a head that does not hold…), or a summary.
    detail: str


@dataclass(frozen=True)
class AuditStatus:
    size: int
    heads: int
    root: str | None
    at: datetime | None
    verification: Verification | None


def audit_status(engine: Engine, verification: Verification | None) -> AuditStatus:
    log = AuditLog(engine)
    head = log.latest_head()
    return AuditStatus(
        size=log.size(),
        heads=len(log.heads()) if head is not None else 0,
        root=head.root.hex() if head is not None else None,
        at=head.at if head is not None else None,
        verification=verification,
    )


def verify_now(engine: Engine, at: datetime) -> Verification:
    """Recompute the whole log as ``hub audit verify`` does (every entry, head and source row)."""
    report = verify_log(AuditLog(engine))
    if report.ok:
        return Verification(
            at, True, f"{report.size} entries, {report.heads} head(s), {report.sources_checked} rows"
        )
    first = report.first
    total = len(report.problems) + report.more_problems
    return Verification(at, False, f"{first} ({total} problem(s))" if first is not None else "")
