"""Claiming due deliveries: the SQL of SqlStore.claim_due, one shape per backend.

What a claim takes: first deliveries whose lease ran out (their holder crashed or hung: there are
never more in flight than the hub has delivery threads), then queued and failed ones due now, oldest
first, up to its limit. Both are read from an index in the order they are claimed, and the read stops
at the limit: the due ones from ``ix_deliveries_due`` (schema.py, a partial index on
``(next_attempt_at, target)`` of the queued and failed rows only), the expired ones from (state,
next_attempt_at). The earlier single query, ``(queued or failed and due) or (in flight and expired)
ORDER BY next_attempt_at``, could be served by no index in that order, so the database sorted every
due row for each claim: with 300,000 queued, the hub made 15 attempts in two minutes
(docs/benchmarks.md). tests/integration/test_store_claim_plan.py holds both backends' plans to this.

PostgreSQL claims in one statement: the rows are locked with ``FOR UPDATE SKIP LOCKED`` (concurrent
hub processes never take the same delivery and never wait on each other), claimed, their attempts
started and the expired attempts closed by data-modifying CTEs, and the main SELECT hands back what
the worker needs. Every value it reads of a claimed row comes from a row as locked (FOR UPDATE's
output) or as updated (RETURNING), never from the snapshot the statement began with, which a delivery
changed and committed meanwhile (claimed, then retried) would contradict. SQLite has no row locks (the
writer is chosen by ``BEGIN IMMEDIATE``, and nothing else writes until COMMIT): a SELECT, then one
UPDATE of the batch, one INSERT of its attempts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import BindParameter, Integer, LargeBinary, String, TextClause, bindparam, column, text

from lienthong.envelope import EnvelopeHeader
from lienthong.store import DeliveryState
from lienthong.store._blobs import STREAMED
from lienthong.store.schema import DUE_STATES_SQL, UtcDateTime, deliveries, messages

__all__ = [
    "CLAIMED_COLUMNS",
    "HEADER_COLUMNS",
    "claim_query",
    "expired_error",
    "sqlite_claim_writes",
]

_IN_FLIGHT = DeliveryState.IN_FLIGHT.value
assert f"state IN ('{DeliveryState.QUEUED.value}', '{DeliveryState.FAILED.value}')" == DUE_STATES_SQL

#: What a claim reads of a delivery: a Claim's values, when it fell due (the batch's order), and its
#: state and holder (SQLite closes the attempt of a lease that ran out). Not the rest: each column
#: read is a value converted per row (a datetime from SQLite's text, a UUID from its hex digits), and
#: the response of a failed attempt is bytes a claim never uses.
CLAIMED_COLUMNS = (
    "id",
    "target",
    "operation",
    "state",
    "attempts",
    "round_attempts",
    "round_started_at",
    "next_attempt_at",
    "claimed_by",
    "content_type",
)
#: What a claim reads of its message: an EnvelopeHeader's fields, in their order (``message_id`` is
#: the message's ``id``), after the delivery's columns and its payload, under ``m_`` and the name.
HEADER_COLUMNS = tuple("id" if f.name == "message_id" else f.name for f in fields(EnvelopeHeader))


def expired_error(worker: str | None) -> str:
    """The error recorded on an attempt whose lease ran out (the PostgreSQL claim writes the same)."""
    return f"lease expired: worker {worker} did not finish"


def _targets(excluding: bool, only: bool) -> str:
    condition = ""
    if excluding:
        condition += " AND target NOT IN :b_exclude"
    if only:
        condition += " AND target IN :b_only"
    return condition


def _picked(excluding: bool, only: bool, *, postgres: bool) -> tuple[str, str]:
    """The expired and the due deliveries' ids, each read in index order and limited."""
    targets = _targets(excluding, only)
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    # SQLite's planner, without statistics, would rather take (state, next_attempt_at) for the due
    # rows and sort them, and (target, state) for the expired ones: each index is named instead.
    due_index = "" if postgres else " INDEXED BY ix_deliveries_due"
    flight_index = "" if postgres else " INDEXED BY ix_deliveries_state_next_attempt_at"
    expired = (
        f"SELECT id FROM deliveries{flight_index} WHERE state = '{_IN_FLIGHT}'"
        f" AND lease_until < :b_now{targets} ORDER BY next_attempt_at LIMIT :b_limit{lock}"
    )
    due = (
        f"SELECT id FROM deliveries{due_index} WHERE {DUE_STATES_SQL} AND next_attempt_at <= :b_now"
        f"{targets} ORDER BY next_attempt_at LIMIT :b_limit{lock}"
    )
    return expired, due


def _select_claimed(picked: str) -> str:
    """The picked deliveries, their messages' metadata and their payloads; a large payload is left
    out (NULL) and read through blob I/O instead (_blobs.py). CROSS JOIN is SQLite's way to fix the
    join order: the few picked deliveries drive the loop."""
    payload = f"CASE WHEN length(p.payload) < {STREAMED} THEN p.payload END AS payload"
    return (
        f"SELECT {_columns('d', payload)}"
        " FROM deliveries AS d CROSS JOIN messages AS m CROSS JOIN delivery_payloads AS p"
        f" WHERE d.id IN ({picked}) AND m.id = d.message_id AND p.delivery_id = d.id"
    )


#: The claim of the picked deliveries (``d``), and the start of their attempts from the claimed rows.
_CLAIM = (
    f"UPDATE deliveries AS d SET state = '{_IN_FLIGHT}', attempts = d.attempts + 1,"
    " round_attempts = d.round_attempts + 1, round_started_at = coalesce(d.round_started_at, :b_now),"
    " claimed_by = :b_worker, lease_until = :b_lease_until, updated_at = :b_now"
)
_START = (
    "INSERT INTO attempts (delivery_id, number, worker, started_at) SELECT id, attempts, :b_worker, :b_now"
)


@cache
def sqlite_claim_writes() -> tuple[TextClause, TextClause]:
    """SQLite's claim after its SELECT, as PostgreSQL's ``claimed`` and ``started`` do it: the picked
    deliveries (``b_ids``, a list) claimed by one UPDATE, then their attempts started by one INSERT
    from the rows as claimed (its number is the delivery's attempts, counted), in id order (the
    attempts' ids follow their deliveries'). One statement each for the batch, its shared values
    (``b_now``, ``b_worker``, ``b_lease_until``) converted once, where an ``executemany`` of each
    converted them for every row: ~15 µs of CPU less for three claims (bench/settle_round.py)."""
    binds: list[BindParameter[Any]] = [
        bindparam("b_now", type_=UtcDateTime),
        bindparam("b_worker", type_=String),
        bindparam("b_ids", expanding=True, type_=Integer),
    ]
    claim = text(f"{_CLAIM} WHERE d.id IN :b_ids")
    start = text(f"{_START} FROM deliveries WHERE id IN :b_ids ORDER BY id")
    return claim.bindparams(*binds, bindparam("b_lease_until", type_=UtcDateTime)), start.bindparams(*binds)


def _columns(delivery: str, payload: str) -> str:
    """The claim's columns: the delivery's (``delivery`` its alias), its payload, the message's."""
    return ", ".join(
        [f"{delivery}.{name}" for name in CLAIMED_COLUMNS]
        + [payload]
        + [f"m.{name} AS m_{name}" for name in HEADER_COLUMNS]
    )


def _sqlite_sql(excluding: bool, only: bool) -> str:
    expired, due = _picked(excluding, only, postgres=False)
    # Left before right, stopping at the limit: expired leases first.
    picked = f"SELECT id FROM ({expired}) UNION ALL SELECT id FROM ({due}) LIMIT :b_limit"
    return _select_claimed(picked)


def _postgres_sql(excluding: bool, only: bool) -> str:
    expired, due = _picked(excluding, only, postgres=True)
    # The expired rows' attempts and holders as locked: FOR UPDATE hands back a row's latest version
    # (re-checked), where the rest of the statement reads the snapshot it started with.
    expired = expired.replace("SELECT id FROM", "SELECT id, attempts, claimed_by FROM", 1)
    returning = ", ".join(f"d.{name}" for name in CLAIMED_COLUMNS if name != "id")
    return (
        f"WITH expired AS ({expired}), due AS ({due}),"
        # Expired leases first (all of them: at most the limit), then due deliveries up to the limit.
        " picked AS (SELECT id FROM expired UNION ALL SELECT id FROM due LIMIT :b_limit),"
        f" claimed AS ({_CLAIM} WHERE d.id IN (SELECT id FROM picked)"
        f" RETURNING d.id, d.message_id, {returning}),"
        f" started AS ({_START} FROM claimed),"
        # The previous holders' leases ran out: they crashed or hung. Say so in the history.
        " released AS (UPDATE attempts SET finished_at = :b_now, outcome = :b_released,"
        " error = 'lease expired: worker ' || coalesce(old.claimed_by, 'None') || ' did not finish'"
        " FROM expired AS old WHERE old.id IN (SELECT id FROM picked)"
        " AND attempts.delivery_id = old.id AND attempts.number = old.attempts)"
        # The claimed rows as the UPDATE left them (not the snapshot's), with message and payload.
        f" SELECT {_columns('c', 'p.payload AS payload')} FROM claimed AS c"
        " JOIN messages AS m ON m.id = c.message_id"
        " JOIN delivery_payloads AS p ON p.delivery_id = c.id"
    )


@cache
def claim_query(excluding: bool, only: bool, *, postgres: bool, explain: str = "") -> TextClause:
    """The claim's statement for one shape of call, built once: its parameters are ``b_now``,
    ``b_limit``, ``b_exclude``/``b_only`` (lists) and, on PostgreSQL, ``b_worker``, ``b_lease_until``
    and ``b_released``. Its rows are the deliveries as they were before the claim on SQLite, as the
    claim left them on PostgreSQL (attempts counted, round started). ``explain``
    (``EXPLAIN QUERY PLAN``, ``EXPLAIN``) asks for its plan instead, for the test that holds it."""
    sql = _postgres_sql(excluding, only) if postgres else _sqlite_sql(excluding, only)
    sql = f"{explain} {sql}" if explain else sql
    binds: list[BindParameter[Any]] = [
        bindparam("b_now", type_=UtcDateTime),
        bindparam("b_limit", type_=Integer),
    ]
    if excluding:
        binds.append(bindparam("b_exclude", expanding=True, type_=String))
    if only:
        binds.append(bindparam("b_only", expanding=True, type_=String))
    if postgres:
        binds += [
            bindparam("b_worker", type_=String),
            bindparam("b_lease_until", type_=UtcDateTime),
            bindparam("b_released", type_=String),
        ]
    typed = [column(name, deliveries.c[name].type) for name in CLAIMED_COLUMNS]
    typed.append(column("payload", LargeBinary))
    typed += [column(f"m_{name}", messages.c[name].type) for name in HEADER_COLUMNS]
    statement = text(sql).bindparams(*binds)
    return statement if explain else statement.columns(*typed)  # type: ignore[return-value]


#: A claimed row's values by position (DriverQuery.values): the delivery's columns in CLAIMED_COLUMNS'
#: order, its payload, then the message's, from HEADER_AT on.
(
    ID,
    TARGET,
    OPERATION,
    STATE,
    ATTEMPTS,
    ROUND_ATTEMPTS,
    ROUND_STARTED_AT,
    NEXT_ATTEMPT_AT,
    CLAIMED_BY,
    CONTENT_TYPE,
) = range(len(CLAIMED_COLUMNS))
PAYLOAD = len(CLAIMED_COLUMNS)
HEADER_AT = PAYLOAD + 1

#: A claimed row's place in the batch: the order in which it fell due (its due time, then its id).
by_due: Callable[[Sequence[Any]], tuple[datetime, int]] = itemgetter(NEXT_ATTEMPT_AT, ID)
