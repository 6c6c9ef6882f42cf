"""A report's month: Vietnam's calendar month, December rolling into the next year, and every
malformed month the caller's error (422), never a 500 from a date the calendar lacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lienthong.errors import RequestInvalidError
from lienthong.reports.monthly import month_bounds


def test_a_month_is_vietnam_time_and_december_ends_in_the_next_year() -> None:
    start, end = month_bounds("2026-12")
    assert start.astimezone(UTC) == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "2026-1", "11/2026", "0000-01", "9999-12", " ", "2026-11x"]
)
def test_a_month_that_is_not_one_is_the_callers_error(month: str) -> None:
    with pytest.raises(RequestInvalidError) as caught:
        month_bounds(month)
    assert caught.value.http_status == 422
