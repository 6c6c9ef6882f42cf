"""How ``hub trail`` shows a dossier's trail: one row per message in and per delivery out, in time order.

The store gives the trail message by message (``Store.dossier_trail``); staff read it as a timeline,
so a delivery is its own row at the time it last changed (delivered, failed, given up), and all rows
are sorted by time. Times are shown in Vietnam's time, Asia/Ho_Chi_Minh, as the staff live them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from rich.markup import escape
from rich.table import Table

from lienthong.store import RouteStatus, TrailDelivery, TrailEntry

__all__ = ["TrailRow", "trail_rows", "trail_table", "vietnam_time"]


def _vietnam() -> tzinfo:
    """Asia/Ho_Chi_Minh from the system's time zone database; without one (Windows without tzdata),
    its offset, UTC+7 without daylight saving since 1975."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Ho_Chi_Minh")
    except (ImportError, LookupError, OSError, ValueError):
        return timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


VIETNAM = _vietnam()


def vietnam_time(at: datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class TrailRow:
    at: datetime
    direction: str  # "in": a message reached the hub; "out": the hub delivered (or tries to) a message
    system: str
    kind: str
    status: str
    message_id: str


def trail_rows(entries: Sequence[TrailEntry], agency_of: Mapping[str, str]) -> list[TrailRow]:
    """The rows, oldest first; ``agency_of`` maps adapter names to their agencies, to name systems."""
    # An agency behind several adapters (land, land-copy) is named by the first, alphabetically.
    adapter_of = {agency: name for name, agency in sorted(agency_of.items(), reverse=True)}
    rows: list[TrailRow] = []
    for entry in entries:
        env = entry.envelope
        sender = f"{adapter_of[env.sender]} · {env.sender}" if env.sender in adapter_of else env.sender
        rows.append(
            TrailRow(env.received_at, "in", sender, env.kind.value, _route(entry), str(env.message_id))
        )
        for d in entry.deliveries:
            name = f"{d.target}/{d.operation}" if d.operation else d.target
            target = f"{name} · {agency_of[d.target]}" if d.target in agency_of else name
            rows.append(
                TrailRow(d.delivered_at or d.updated_at, "out", target, env.kind.value, _delivery(d), "")
            )
    rows.sort(key=lambda row: row.at)  # stable: a message's deliveries stay after it at the same instant
    return rows


def trail_table(code: str, rows: Sequence[TrailRow]) -> Table:
    table = Table("time (ICT)", "dir", "system", "kind", "status", "message", title=f"dossier {escape(code)}")
    for row in rows:
        cells = (vietnam_time(row.at), row.direction, row.system, row.kind, row.status, row.message_id)
        table.add_row(*(escape(cell) for cell in cells))
    return table


def _route(entry: TrailEntry) -> str:
    route = entry.route
    if route.status is RouteStatus.UNROUTABLE:
        return "unroutable"
    return f"routed ({route.rule})" if route.rule else "routed"


def _delivery(d: TrailDelivery) -> str:
    parts = [d.state.value, f"attempt {d.attempts}" if d.attempts == 1 else f"{d.attempts} attempts"]
    if d.response_status is not None:
        parts.append(f"HTTP {d.response_status}")
    text = ", ".join(parts)
    if d.last_error:
        error = d.last_error if len(d.last_error) <= 60 else d.last_error[:59] + "…"
        text += f": {error}"
    return text
