"""A statement numbered for psycopg's RawCursor (_sqlfast.numbered): each ``%s`` in order, nothing
else touched. The accept's own statement: tests/integration/test_store_accept_rows.py."""

from __future__ import annotations

import pytest

from lienthong.store._sqlfast import numbered


def test_each_placeholder_is_numbered_in_order() -> None:
    assert numbered("INSERT INTO t (a, b) VALUES (%s::UUID, %s), (%s::UUID, %s)") == (
        "INSERT INTO t (a, b) VALUES ($1::UUID, $2), ($3::UUID, $4)"
    )
    assert numbered("SELECT 1") == "SELECT 1"


def test_a_literal_percent_or_a_named_placeholder_is_refused() -> None:
    with pytest.raises(AssertionError):
        numbered("SELECT '100%%' WHERE a = %s")
    with pytest.raises(AssertionError):
        numbered("SELECT %(a)s")
