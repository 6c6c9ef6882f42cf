"""Operator actions land in ``operator_actions`` at once, on both databases (issue 12)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lienthong.audit.actions import record_operator_action
from lienthong.store.migrate import upgrade
from lienthong.store.schema import operator_actions
from lienthong.store.sql import create_store_engine

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_action_is_a_row_committed_at_once(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    try:
        upgrade(engine)
        first = record_operator_action(engine, "lan", "operator", "replay", "42", {"count": 1})
        second = record_operator_action(engine, "minh", "admin", "key-change")
        with engine.connect() as conn:
            rows = conn.execute(select(operator_actions).order_by(operator_actions.c.id)).all()
        assert [r.id for r in rows] == [first, second]
        assert (rows[0].actor, rows[0].role, rows[0].action, rows[0].target, rows[0].detail) == (
            "lan",
            "operator",
            "replay",
            "42",
            {"count": 1},
        )
        assert (rows[1].target, rows[1].detail) == (None, {})
        with pytest.raises(ValueError, match="unknown role"):
            record_operator_action(engine, "x", "root", "replay")
    finally:
        engine.dispose()
