"""UtcDateTime's one-call processor (schema.UtcDateTime.driver_processor) gives the driver what
SQLAlchemy's own bind processor gives, on SQLite and PostgreSQL, for every kind of value: datetimes
in and out of UTC, with and without microseconds, at the ends of the calendar, across a DST fold, a
datetime subclass that formats itself differently; and the same error for what the store refuses
(a naive datetime, a date, a string). The hot statements (_sqlfast.py) use it only where it agrees
with SQLAlchemy's; this test also checks that they do use it, so that an upgrade of SQLAlchemy that
changes its storage format shows here rather than as slower statements. Likewise its one-call result
processor (``driver_result_processor``, the claim's rows) reads back what SQLAlchemy's reads back.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Dialect

from lienthong.store import sql
from lienthong.store._sqlfast import _quicker, _quicker_result
from lienthong.store.schema import UtcDateTime

#: The dialects the store runs on, without a connection (an engine connects only when used).
DIALECTS = {
    "sqlite": create_engine("sqlite://").dialect,
    "postgresql": create_engine("postgresql+psycopg://").dialect,
}


class _Loud(datetime):
    """A datetime subclass whose own isoformat differs: the processor must not use it."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "not the stored form"


def _values() -> list[Any]:
    rng = random.Random(11)
    zones = [
        UTC,
        timezone(timedelta(hours=7)),
        timezone(timedelta(hours=-3, minutes=-30)),
        timezone(timedelta(hours=14)),
        ZoneInfo("Asia/Ho_Chi_Minh"),
        ZoneInfo("Europe/London"),
        ZoneInfo("America/New_York"),
    ]
    values: list[Any] = [
        None,
        datetime(2026, 12, 1, 7, 42, 21, 123456, tzinfo=UTC),
        datetime(2026, 12, 1, 7, 42, 21, tzinfo=UTC),  # no microseconds: still written
        datetime(2026, 12, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(1, 1, 1, 12, 0, tzinfo=UTC),  # a year of one digit: zero-padded
        datetime(999, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-5))),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=0),  # the DST fold
        datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=1),
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),  # into March
        _Loud(2026, 3, 4, 5, 6, 7, 890, tzinfo=timezone(timedelta(hours=7))),
    ]
    for _ in range(400):
        seconds = rng.randrange(-2_000_000_000, 4_000_000_000)
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=seconds, microseconds=rng.randrange(10**6)
        )
        values.append(moment.astimezone(rng.choice(zones)))
    return values


def _outcome(process: Any, value: Any) -> tuple[str, Any, Any]:
    try:
        out = process(value)
    except Exception as error:
        return ("error", type(error).__name__, str(error))
    return (type(out).__name__, out, getattr(out, "tzinfo", None))


def _core(dialect: Dialect) -> Any:
    process = UtcDateTime()._cached_bind_processor(dialect)
    assert process is not None
    return process


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_one_call_processor_gives_what_sqlalchemys_gives(name: str) -> None:
    dialect = DIALECTS[name]
    quick, core = UtcDateTime().driver_processor(dialect), _core(dialect)
    for value in _values():
        assert _outcome(quick, value) == _outcome(core, value), value


@pytest.mark.parametrize("name", sorted(DIALECTS))
@pytest.mark.parametrize(
    "refused",
    [datetime(2026, 12, 1, 7, 0), date(2026, 12, 1), "2026-12-01 07:00:00", 1764572400],
    ids=["naive", "date", "text", "number"],
)
def test_it_refuses_what_sqlalchemys_refuses_with_the_same_error(name: str, refused: Any) -> None:
    dialect = DIALECTS[name]
    quick, core = UtcDateTime().driver_processor(dialect), _core(dialect)
    assert _outcome(quick, refused)[0] == "error"
    assert _outcome(quick, refused) == _outcome(core, refused)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_hot_statements_use_it(name: str) -> None:
    dialect = DIALECTS[name]
    quick = UtcDateTime().driver_processor(dialect)
    assert _quicker(_core(dialect), UtcDateTime(), dialect) is quick
    compiled = sql._RECORD_DELIVERY._for(dialect)
    pairs = zip(compiled.names, compiled.processors, strict=True)
    used = {n: p for n, p in pairs if n in ("b_now", "b_next")}
    assert used and all(p is quick for p in used.values()), used


def test_a_processor_that_disagrees_is_not_used() -> None:
    dialect = DIALECTS["sqlite"]

    class Other(UtcDateTime):
        cache_ok = True

        def driver_processor(self, dialect: Dialect) -> Any:
            return lambda value: None if value is None else value.isoformat()  # not SQLite's form

    core = _core(dialect)
    assert _quicker(core, Other(), dialect) is core


def _core_result(dialect: Dialect) -> Any:
    process = UtcDateTime()._cached_result_processor(dialect, None)
    assert process is not None
    return process


def _read_back(name: str) -> list[Any]:
    """What each driver hands back for a UtcDateTime column: SQLite the text the store writes (and
    text it did not write: no microseconds, a 'T', an offset), psycopg aware datetimes (and naive)."""
    written = [v for v in _values() if type(v) is datetime or v is None]
    if name == "sqlite":
        text = UtcDateTime().driver_processor(DIALECTS[name])
        odd = ["2026-12-01 07:42:21", "2026-12-01T07:42:21.5", "2026-12-01 07:42:21+07:00", "2026-12-01"]
        return [text(v) for v in written] + odd
    return [*written, datetime(2026, 12, 1, 7, 42, 21, 123456), datetime(1, 1, 1)]


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_one_call_result_processor_gives_what_sqlalchemys_gives(name: str) -> None:
    dialect = DIALECTS[name]
    quick, core = UtcDateTime().driver_result_processor(dialect), _core_result(dialect)
    for value in _read_back(name):
        assert _outcome(quick, value) == _outcome(core, value), value


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_claims_rows_use_it(name: str) -> None:
    dialect = DIALECTS[name]
    quick = UtcDateTime().driver_result_processor(dialect)
    assert _quicker_result(_core_result(dialect), UtcDateTime(), dialect) is quick


def test_a_result_processor_that_disagrees_is_not_used() -> None:
    dialect = DIALECTS["sqlite"]

    class Other(UtcDateTime):
        cache_ok = True

        def driver_result_processor(self, dialect: Dialect) -> Any:
            return lambda value: None if value is None else datetime.fromisoformat(value)  # naive

    core = _core_result(dialect)
    assert _quicker_result(core, Other(), dialect) is core
