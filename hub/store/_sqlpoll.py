"""Polling in SQL: the dossiers still awaiting a result, and the lease on a polled group.

Apart from ``sql.py`` so that the store's longest module does not grow; SqlStore calls these inside
its own transactions.

The lease is a row per group in ``poll_state``. Taking it is one conditional UPDATE (free and due →
mine), which both backends make atomic: PostgreSQL re-checks the WHERE clause on the row it waited
for under READ COMMITTED, SQLite has one writer at a time. No lock is held while the system is called;
a process that dies mid-poll holds the group until its lease runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lienthong.envelope import MessageKind, utcnow
from lienthong.store import AwaitingDossier, DeliveryState
from lienthong.store.schema import deliveries, messages, poll_state


def select_awaiting(
    conn: Connection,
    *,
    target: str,
    operation: str,
    agency: str,
    kind: MessageKind,
    since: datetime,
    limit: int,
) -> list[AwaitingDossier]:
    """See :meth:`lienthong.store.Store.awaiting_answers`."""
    answer = messages.alias("answer")
    answered = exists().where(
        and_(
            answer.c.dossier_code == messages.c.dossier_code,
            answer.c.sender == agency,
            answer.c.kind == kind.value,
        )
    )
    query = (
        select(messages.c.dossier_code, messages.c.procedure_code, messages.c.id, deliveries.c.delivered_at)
        .join(deliveries, deliveries.c.message_id == messages.c.id)
        .where(
            deliveries.c.target == target,
            deliveries.c.operation == operation,
            deliveries.c.state == DeliveryState.DELIVERED.value,
            deliveries.c.delivered_at >= since,
            messages.c.dossier_code.is_not(None),
            ~answered,
        )
        .order_by(deliveries.c.delivered_at, deliveries.c.id)
    )
    latest: dict[str, AwaitingDossier] = {}
    for row in conn.execute(query):
        latest[row.dossier_code] = AwaitingDossier(
            row.dossier_code, row.procedure_code, row.id, row.delivered_at
        )
        if len(latest) >= limit:
            break
    return sorted(latest.values(), key=lambda a: a.delivered_at)


def take_poll(
    conn: Connection, *, postgres: bool, key: str, owner: str, lease: timedelta, next_due: timedelta
) -> bool:
    """See :meth:`lienthong.store.Store.start_poll`."""
    now = utcnow()
    insert = pg_insert if postgres else sqlite_insert
    conn.execute(
        insert(poll_state)
        .values(key=key, owner=None, lease_until=None, next_due_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    taken = conn.execute(
        update(poll_state)
        .where(
            poll_state.c.key == key,
            or_(poll_state.c.lease_until.is_(None), poll_state.c.lease_until < now),
            poll_state.c.next_due_at <= now,
        )
        .values(owner=owner, lease_until=now + lease, next_due_at=now + next_due, updated_at=now)
    )
    return taken.rowcount == 1


def give_back_poll(conn: Connection, *, key: str, owner: str) -> None:
    """See :meth:`lienthong.store.Store.end_poll`."""
    conn.execute(
        update(poll_state)
        .where(poll_state.c.key == key, poll_state.c.owner == owner)
        .values(owner=None, lease_until=None, updated_at=utcnow())
    )
