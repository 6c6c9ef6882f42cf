"""The claim's query plan over a backlog (issue 11): read in index order, never a sort of every due row.

With 300,000 queued deliveries the claim used to sort all of them on each call (docs/benchmarks.md, "A
backlog for a ministry that is down"). The plan, not a time, is what is held here: on SQLite no
``USE TEMP B-TREE`` and the partial index ``ix_deliveries_due`` searched; on PostgreSQL, over a table
with statistics, the due rows read through that index in order and no Sort of deliveries.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product

import pytest
from sqlalchemy import Engine
from test_store_contract import SQL_BACKENDS, make_envelope, prepared, routed

from lienthong.envelope import utcnow
from lienthong.store._sqlclaim import claim_query
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, create_store_engine

BACKLOG = 1000
SHAPES = list(product([False, True], [False, True]))  # (excluding targets, only some targets)


@pytest.fixture(params=SQL_BACKENDS)
def backlog(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A store with BACKLOG queued deliveries, as intake leaves them, and statistics."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    for _ in range(BACKLOG // 2):  # a land dossier goes to two targets
        store.accept(make_envelope(), routed("land", "dvcqg"), prepared("land", "dvcqg"))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    yield engine
    store.close()


def _plan(engine: Engine, excluding: bool, only: bool) -> str:
    postgres = engine.dialect.name == "postgresql"
    query = claim_query(
        excluding, only, postgres=postgres, explain="EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
    )
    params = {"b_now": utcnow(), "b_limit": 4, "b_exclude": ["dvcqg"], "b_only": ["land"]}
    if postgres:
        params.update(b_worker="w", b_lease_until=utcnow(), b_released="released")
    with engine.begin() as conn:
        return "\n".join(str(row[-1]) for row in conn.execute(query, params))


def test_the_claim_reads_due_deliveries_in_index_order(backlog: Engine) -> None:
    for excluding, only in SHAPES:
        plan = _plan(backlog, excluding, only)
        if backlog.dialect.name == "sqlite":
            assert "TEMP B-TREE" not in plan, plan
            assert "USING INDEX ix_deliveries_due" in plan, plan
        else:
            assert "Index Scan using ix_deliveries_due" in plan, plan
            assert "next_attempt_at" not in _sort_keys(plan), plan


def _sort_keys(plan: str) -> str:
    return "\n".join(line for line in plan.splitlines() if "Sort Key" in line)
