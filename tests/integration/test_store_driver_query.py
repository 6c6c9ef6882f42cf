"""The claim's SELECT sent as driver SQL (_sqlfast.DriverQuery) gives the rows Core gives.

For every shape of the claim (targets excluded, only some targets, both, neither) on each backend, the
same statement runs once through Core (``.mappings()``) and once as driver SQL, each in a savepoint
rolled back afterwards (the PostgreSQL claim writes), on the same rows: due deliveries and one whose
lease ran out. Every value must be equal and of the same type, datetimes with the same time zone: a
UUID from 32 hex digits on SQLite, UtcDateTime's UTC, the headers' JSON, the payload's bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from test_store_contract import SQL_BACKENDS, make_envelope, prepared, routed

from lienthong.envelope import utcnow
from lienthong.store import AttemptOutcome
from lienthong.store._sqlclaim import claim_query
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, _claim_select, create_store_engine


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    sql = SqlStore(engine)
    yield sql
    sql.close()


def _typed(rows: list[Any]) -> list[list[tuple[str, str, Any, Any]]]:
    return [
        [(name, type(value).__name__, value, getattr(value, "tzinfo", None)) for name, value in row.items()]
        for row in rows
    ]


@pytest.mark.parametrize("excluding", [False, True], ids=["all", "excluding"])
@pytest.mark.parametrize("only", [False, True], ids=["any", "only"])
def test_the_claim_rows_are_cores_value_for_value(store: SqlStore, excluding: bool, only: bool) -> None:
    store.accept(make_envelope(), routed("land", "tax"), prepared("land", "tax"))
    envelope = make_envelope(sender="qlvb-dongnai", recipient=None, procedure_code="")
    store.accept(envelope, routed("land"), prepared("land"))
    store.claim_due("crashed", 1, timedelta(seconds=-1))  # a lease already run out: claimed again
    postgres = store._is_postgres
    now = utcnow()
    params: dict[str, Any] = {"b_now": now, "b_limit": 10}
    if excluding:
        params["b_exclude"] = ["tax", "justice"]
    if only:
        params["b_only"] = ["land"]
    if postgres:
        params.update(
            b_worker="w1", b_lease_until=now + timedelta(minutes=5), b_released=AttemptOutcome.RELEASED.value
        )
    core_query = claim_query(excluding, only, postgres=postgres)
    driver_query = _claim_select(excluding, only, postgres=postgres)

    def both(conn: Any) -> tuple[list[Any], list[Any]]:
        with conn.begin_nested() as savepoint:
            core = [dict(row) for row in conn.execute(core_query, params).mappings().all()]
            savepoint.rollback()
        with conn.begin_nested() as savepoint:
            fast = driver_query.rows(conn, params)
            savepoint.rollback()
        return core, fast

    core, fast = store._run("compare", both)
    assert len(core) == (2 if only or excluding else 3)
    assert any(row["claimed_by"] == "crashed" or row["attempts"] == 2 for row in core)  # the expired one
    assert _typed(fast) == _typed(core)
