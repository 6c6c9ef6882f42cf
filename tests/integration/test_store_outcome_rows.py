"""A batch of outcomes on PostgreSQL (issue 11): one statement, ``UPDATE … FROM (VALUES …)`` of both
tables, stores exactly the rows the per-row statements (an ``executemany``) store, column for column.

Twin deliveries are claimed in one claim (same worker, lease and start), and each pair is given the
same outcome at the same ``now``: one of each pair recorded through the batch statements, the other
through the per-row ones. Every column but the row's own identity must then be equal: the outcome's
columns written alike (a datetime in another zone converted alike, bytes and NULLs alike, a column
NULL in every row of the batch still of its type), the others left alike. A claim lost, or named twice,
makes the batch fall back to one by one (``_OneByOne``), as the per-row statements do. On both
backends, the batch as a round records it stores what each outcome recorded on its own stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, event, select
from test_store_contract import ICT, SQL_BACKENDS, _sql_store, make_envelope, prepared, routed

from lienthong.envelope import utcnow
from lienthong.store import Claim, Dead, Delivered, Outcome, RetryAt, sql
from lienthong.store.migrate import upgrade
from lienthong.store.schema import attempts, deliveries
from lienthong.store.sql import SqlStore, create_store_engine

LEASE = timedelta(minutes=5)


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlStore]:  # PostgreSQL: the tests using it are marked so
    engine = create_store_engine(pg_url)
    upgrade(engine)
    backend = SqlStore(engine)
    yield backend
    backend.close()


def _batches() -> list[list[Outcome]]:
    at = utcnow().astimezone(ICT) + timedelta(minutes=3)  # not in UTC: converted as the per-row path does
    return [
        [  # mixed: every kind, with and without a response, a request, a status, an error
            Delivered(response=b"<ok/>", response_status=200, request=b"<GoiTin/>"),
            RetryAt(at=at, error="HTTP 503", response=b"<Loi/>", response_status=503),
            Dead(error="HTTP 400: bản tin sai", response=None, request=b"<x/>"),
            Delivered(),
            RetryAt(at=at + timedelta(seconds=1), error="timeout"),
            Dead(error="no route", response=b"", response_status=None, request=b""),
        ],
        # Columns NULL in every row: next_attempt_at, last_error, response, status, request, error.
        [Delivered(), Delivered()],
        # delivered_at NULL in every row; bytes in none but the statuses in all.
        [RetryAt(at=at, error="HTTP 502", response_status=502), Dead(error="HTTP 410", response_status=410)],
        # One outcome: the same one statement.
        [RetryAt(at=at, error="HTTP 504", response=b"<Loi/>", response_status=504, request=b"<x/>")],
        # More rows than one statement holds (DRIVER_CACHED_PARAMS): several statements.
        [
            Delivered(response=b"<ok/>", response_status=200)
            if i % 3
            else RetryAt(at=at, error=f"HTTP 50{i}")
            for i in range(12)
        ],
    ]


def _claim_twins(store: SqlStore, count: int) -> tuple[list[Claim], list[Claim]]:
    for _ in range(2 * count):
        store.accept(make_envelope(), routed("land"), prepared("land"))
    claims = store.claim_due("worker-a", 2 * count, LEASE)
    assert len(claims) == 2 * count
    return claims[:count], claims[count:]


def _record(store: SqlStore, outcomes: list[tuple[Claim, Outcome]], now: Any, *, batch: bool) -> list[str]:
    """The outcomes recorded in one transaction, through the batch statements or the per-row ones;
    the statements sent."""
    sent: list[str] = []

    def catch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", catch)
    saved = sql._FROM_VALUES_AT
    sql._FROM_VALUES_AT = 1 if batch else 10**9
    try:
        store._run("record_outcome", lambda conn: sql._record_batch(conn, outcomes, now))
    finally:
        sql._FROM_VALUES_AT = saved
        event.remove(store.engine, "before_cursor_execute", catch)
    return sent


def _rows(store: SqlStore, claims: list[Claim]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each claim's delivery and attempt row, all columns but the row's own identity."""
    ids = [c.delivery_id for c in claims]
    with store.engine.connect() as conn:
        found = {r.id: r._asdict() for r in conn.execute(select(deliveries).where(deliveries.c.id.in_(ids)))}
        tried = {
            (r.delivery_id, r.number): r._asdict()
            for r in conn.execute(select(attempts).where(attempts.c.delivery_id.in_(ids)))
        }
    out = []
    for c in claims:
        delivery = {
            k: v for k, v in found[c.delivery_id].items() if k not in ("id", "message_id", "created_at")
        }
        attempt = {
            k: v for k, v in tried[(c.delivery_id, c.attempt)].items() if k not in ("id", "delivery_id")
        }
        out.append((delivery, attempt))
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("which", range(5))
def test_a_batch_stores_what_the_per_row_statements_store(store: SqlStore, which: int) -> None:
    kinds = _batches()[which]
    ours, theirs = _claim_twins(store, len(kinds))
    now = utcnow()
    # Handed in out of id order, as a round's outcomes may be.
    batch = _record(store, list(zip(reversed(ours), reversed(kinds), strict=True)), now, batch=True)
    per_row = _record(store, list(zip(reversed(theirs), reversed(kinds), strict=True)), now, batch=False)
    # One statement for both tables, as many times as its rows need; the per-row statements once each.
    assert len(batch) == -(-len(kinds) // sql._RECORD_OUTCOMES.most), batch
    assert all(s.startswith("WITH v ") for s in batch), batch
    assert [s.split(None, 1)[0] for s in per_row] == ["UPDATE", "UPDATE"], per_row
    mine, reference = _rows(store, ours), _rows(store, theirs)
    assert mine == reference
    # And those are the outcomes (not two paths equally wrong): the state and the attempt closed.
    assert [d["state"] for d, _ in mine] == [
        {Delivered: "delivered", RetryAt: "failed", Dead: "dead"}[type(k)] for k in kinds
    ]
    assert all(
        d["claimed_by"] is None and d["lease_until"] is None and d["updated_at"] == now for d, _ in mine
    )
    assert all(a["finished_at"] == now and a["outcome"] is not None for _, a in mine)


@pytest.mark.postgres
def test_a_lost_claim_fails_the_batch_which_changes_nothing(store: SqlStore) -> None:
    claims, _ = _claim_twins(store, 3)
    store.release([claims[1]], "handed back")
    before = _rows(store, claims)
    outcomes: list[tuple[Claim, Outcome]] = [(c, Delivered(response_status=200)) for c in claims]
    with pytest.raises(sql._OneByOne):
        _record(store, outcomes, utcnow(), batch=True)
    assert _rows(store, claims) == before  # rolled back


@pytest.mark.postgres
def test_a_claim_named_twice_is_counted_once(store: SqlStore) -> None:
    """UPDATE … FROM changes a delivery once however many rows of the list match it: the count of
    changed rows falls short, as the per-row statements' count does (the second finds it recorded)."""
    claims, _ = _claim_twins(store, 2)
    outcomes: list[tuple[Claim, Outcome]] = [
        (claims[0], Delivered()),
        (claims[0], Dead(error="again")),
        (claims[1], Delivered()),
    ]
    for batch in (True, False):
        with pytest.raises(sql._OneByOne):
            _record(store, outcomes, utcnow(), batch=batch)


@pytest.mark.postgres
def test_the_batch_locks_held_deliveries_in_id_order_each_looked_up_by_its_key(store: SqlStore) -> None:
    """The plans, over tables with statistics and some history: the deliveries locked (LockRows) as
    sorted by id, whatever the join below (on a table of a few pages the planner reads it whole and
    hashes), each found here through the primary key, not by walking the in-flight part of (state,
    next_attempt_at); the attempts found through (delivery_id, number), not by reading the table."""
    for _ in range(4):  # some history, recorded
        earlier, later = _claim_twins(store, 250)
        _record(store, [(c, Delivered()) for c in earlier + later], utcnow(), batch=False)
    claims, _ = _claim_twins(store, 3)
    for _ in range(500):  # and a backlog
        store.accept(make_envelope(), routed("land"), prepared("land"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    now = utcnow()
    rows = [sql._outcome_row(c, Delivered(), now) for c in claims]
    statement = sql._RECORD_OUTCOMES
    values = [row[name] for row in rows for name in statement.names] + [now, now]
    text = statement.sql.format(values=", ".join([statement._row] * len(rows)))
    with store.engine.begin() as conn:
        plan = [str(r[0]).strip() for r in conn.exec_driver_sql(f"EXPLAIN {text}", tuple(values))]
    locks = next(i for i, line in enumerate(plan) if "LockRows" in line)
    assert "Sort" in plan[locks + 1] and "Sort Key" in plan[locks + 2], plan
    joined = "\n".join(plan)
    assert "ix_deliveries_state_next_attempt_at" not in joined, plan
    assert sum("pk_deliveries" in line for line in plan) == 2, plan  # the lock's, the UPDATE's
    assert "Seq Scan on attempts" not in joined, plan
    assert any("uq_attempts_delivery_id_number" in line for line in plan), plan


@pytest.fixture(params=SQL_BACKENDS)
def any_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    backend = _sql_store(request, request.param)
    yield backend
    backend.close()


def _record_held(conn: Connection, *, claim: Claim, outcome: Outcome, now: datetime) -> None:
    sql._record_held(conn, claim, outcome, now)


@pytest.mark.parametrize("which", range(5))
def test_a_batch_stores_what_each_outcome_on_its_own_stores(any_store: SqlStore, which: int) -> None:
    """The batch as a round records it (an ``executemany`` of each UPDATE on SQLite, its shared
    values converted once; ``UPDATE … FROM`` on PostgreSQL) against each outcome recorded on its
    own by Core's statements (the path a large part or a lost claim takes): the same rows."""
    kinds = _batches()[which]
    ours, theirs = _claim_twins(any_store, len(kinds))
    now = utcnow()
    any_store._run(
        "record_outcome",
        lambda conn: sql._record_batch(conn, list(zip(reversed(ours), reversed(kinds), strict=True)), now),
    )
    for claim, kind in zip(theirs, kinds, strict=True):
        any_store._run("record_outcome", partial(_record_held, claim=claim, outcome=kind, now=now))
    assert _rows(any_store, ours) == _rows(any_store, theirs)
