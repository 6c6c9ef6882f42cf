"""The hot statements, compiled once per dialect and sent straight to the driver's cursor.

SQLAlchemy Core spends tens of microseconds of Python on each execution of a statement it has
compiled and cached already: looking the compiled form up, building the parameters row by row through
each column type's processor, setting up an execution context and a result (docs/benchmarks.md, "The
ratio"); even ``Connection.exec_driver_sql`` builds the context and the result. The statements every
message runs through (accept's inserts, the SQLite claim's UPDATE and INSERT, the outcome's two
UPDATEs, the claim's SELECT) are known in advance: :class:`DriverStatement` compiles one for the
engine's dialect once, keeps its SQL with positional placeholders and, per parameter, the bind
processor SQLAlchemy itself would apply (UtcDateTime's conversion to UTC, a UUID as 32 hex digits on
SQLite, JSON as text), and :func:`send` runs it on the DBAPI cursor of the connection's transaction.
The rows stored are therefore the same, byte for byte (tests/integration/test_store_driver_statements.py
compares the parameters with Core's), and what the hub relies on from SQLAlchemy is kept:

* its error translation: a driver error goes through the Connection's own handler, so it arrives as
  the same ``sqlalchemy.exc`` class (an IntegrityError for a repeat), a disconnect invalidates the
  connection and the pool (``connection_invalidated``), PostgreSQL's class 40 keeps its SQLSTATE;
* its transaction: a statement is sent this way only inside the Connection's active transaction
  (begun, with SQLite's ``BEGIN IMMEDIATE``, by ``Connection.begin``); anything else (no transaction
  yet, one that failed, ``echo``, dialect-level execution events) goes through ``exec_driver_sql``;
* its ``before_cursor_execute`` and ``after_cursor_execute`` events, fired as SQLAlchemy fires them
  for a statement it runs without an execution context (``Connection._cursor_execute``): StatementCounter
  and the benchmark count every statement as before.

The claim's SELECT goes the same way (:class:`DriverQuery`), and its rows through the result
processors Core would apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, TextClause
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ValuesBase

from lienthong.store.schema import UtcDateTime

__all__ = [
    "DriverQuery",
    "DriverStatement",
    "DriverUpdateFromValues",
    "Sent",
    "listeners_of",
    "numbered",
    "send",
    "send_begin",
    "send_numbered",
]

_NAMED = re.compile(r"%\((\w+)\)s")  # a pyformat placeholder (psycopg); '%%' is a literal '%'

#: Where a connection's cursor is kept between statements: the pool's ``info`` of its DBAPI connection,
#: which lives as long as that connection and is cleared when the pool replaces it.
_CURSOR: Final = "lienthong.cursor"
#: Where a psycopg connection's RawCursor is kept, the same way (see send_numbered).
_RAW_CURSOR: Final = "lienthong.raw_cursor"

Processor = Callable[[Any], Any] | None


class Sent(NamedTuple):
    """What the driver answered a statement: the rows it changed; the rows it returned and their
    columns' description, if asked for (else empty and None)."""

    rowcount: int
    description: Sequence[Sequence[Any]] | None
    rows: Sequence[Sequence[Any]]


def send(
    conn: Connection,
    statement: str,
    parameters: Any,
    *,
    many: bool = False,
    rows: bool = False,
    describe: bool = False,
) -> Sent:
    """``statement`` with ``parameters`` (the driver's own: positional values; a list of them if
    ``many``, one ``executemany``) on ``conn``'s DBAPI cursor, in its transaction. ``rows``: fetch
    the rows it returns; ``describe``: and their description (psycopg builds it anew each time).

    Straight to the cursor when ``conn`` is inside an active transaction and nothing needs
    SQLAlchemy's own execution (``echo``, the dialect's execution events); otherwise, and so also to
    begin a transaction or to raise about a failed one, through ``Connection.exec_driver_sql``."""
    if _direct(conn) and conn.in_transaction():
        nested = conn._nested_transaction
        if nested is None or nested.is_active:
            return _on_cursor(conn, statement, parameters, many, rows, describe)
    result = conn.exec_driver_sql(statement, parameters)
    if not (rows and result.returns_rows):
        return Sent(result.rowcount, None, ())
    description = result.cursor.description if describe else None
    return Sent(result.rowcount, description, [tuple(row) for row in result.fetchall()])


def send_numbered(
    conn: Connection, statement: str, parameters: Sequence[Any], *, rows: bool = False
) -> Sent | None:
    """``statement``, written with PostgreSQL's own placeholders (``$1``, ``$2``…: :func:`numbered`),
    with ``parameters`` on a psycopg ``RawCursor`` kept in the connection, as :func:`send` sends on
    its cursor; None, and nothing sent, where :func:`send` would go through SQLAlchemy (or the driver
    has no RawCursor): the caller then sends the ``%s`` form.

    psycopg turns ``%s`` into ``$n`` by parsing the statement, and keeps the parse only for a
    statement of at most 50 parameters: the accept's one statement (sql._insert_at_once) has more,
    and was parsed anew at every execution, ~60 µs of CPU. A RawCursor parses nothing."""
    if conn.dialect.driver != "psycopg" or not (_direct(conn) and conn.in_transaction()):
        return None
    nested = conn._nested_transaction
    if nested is not None and not nested.is_active:
        return None
    info, cursor = kept_cursor(conn, raw=True)
    if cursor is None:
        return None
    return _on_cursor(conn, statement, parameters, False, rows, False, kept=(info, cursor, _RAW_CURSOR))


def numbered(statement: str) -> str:
    """``statement`` with its ``%s`` placeholders written ``$1``, ``$2``… in order (see send_numbered)."""
    assert "%%" not in statement and "%(" not in statement, "only %s placeholders, no literal %"
    head, *rest = statement.split("%s")
    return head + "".join(f"${n}{part}" for n, part in enumerate(rest, start=1))


def send_begin(conn: Connection, statement: str) -> None:
    """The statement that begins ``conn``'s transaction (SQLite's ``BEGIN IMMEDIATE``), sent from a
    ``begin`` event listener: there is no transaction yet, and this must not begin one."""
    if _direct(conn):
        _on_cursor(conn, statement, () if conn.dialect.positional else {}, False, False, False)  # as Core
    else:
        conn.exec_driver_sql(statement)


def _direct(conn: Connection) -> bool:
    """May statements go to the cursor without SQLAlchemy's execution? Not when they are to be
    logged (``echo``) or the dialect has execution events (``do_execute``) that might take them."""
    return not (conn._echo or conn.dialect._has_events)


def _on_cursor(
    conn: Connection,
    statement: str,
    parameters: Any,
    many: bool,
    rows: bool,
    describe: bool,
    kept: tuple[dict[Any, Any], Any, str] | None = None,
) -> Sent:
    """What ``Connection._exec_single_context`` does around the cursor, without the execution
    context and the result: the events, the call, and errors through the Connection's handler.
    ``kept``: another kept cursor than the connection's (the info, the cursor, its key there)."""
    info, cursor, key = kept if kept is not None else (*kept_cursor(conn), _CURSOR)
    after: Any = ()
    try:
        statement, parameters, after = before_cursor(conn, cursor, statement, parameters, many)
        if many:
            cursor.executemany(statement, parameters)
        else:
            cursor.execute(statement, parameters)
        for listener in after:
            listener(conn, cursor, statement, parameters, None, many)
        if not rows:
            return Sent(cursor.rowcount, None, ())
        description = cursor.description if describe else None
        return Sent(cursor.rowcount, description, cursor.fetchall())
    except BaseException as error:
        # SQLAlchemy closes the cursor of a failed statement (unless the connection is gone): a new
        # one next time. A driver error is wrapped (IntegrityError, OperationalError… with
        # connection_invalidated, the pool invalidated after a disconnect); anything else is raised
        # as it is, as Core raises it (no statement given: nothing to wrap it with).
        info.pop(key, None)
        driver_error = isinstance(error, conn.dialect.loaded_dbapi.Error)
        conn._handle_dbapi_exception(error, statement if driver_error else None, parameters, cursor, None)


def kept_cursor(conn: Connection, *, raw: bool = False) -> tuple[dict[Any, Any], Any]:
    """The connection's info and the driver cursor kept in it between statements (made on first use);
    ``raw``: psycopg's RawCursor of the connection instead (None if this psycopg has none)."""
    fairy = conn.connection
    info = fairy.info
    key = _RAW_CURSOR if raw else _CURSOR
    cursor = info.get(key)
    if cursor is None:
        if not raw:
            cursor = info[key] = fairy.cursor()
        elif (factory := getattr(conn.dialect.loaded_dbapi, "RawCursor", None)) is not None:  # psycopg >= 3.2
            cursor = info[key] = factory(fairy.driver_connection)
    return info, cursor


def before_cursor(
    conn: Connection, cursor: Any, statement: str, parameters: Any, many: bool
) -> tuple[str, Any, Any]:
    """The ``before_cursor_execute`` listeners run, as SQLAlchemy runs them: the statement and
    parameters they leave, and the ``after_cursor_execute`` listeners to run once it is sent."""
    if conn._has_events:  # a listener of this connection (or of every one): SQLAlchemy's way
        for listener in conn.dispatch.before_cursor_execute:
            statement, parameters = listener(conn, cursor, statement, parameters, None, many)
        return statement, parameters, conn.dispatch.after_cursor_execute
    if not conn.engine._has_events:
        return statement, parameters, ()
    # Only the engine's listeners (of it or of every engine): SQLAlchemy would loop over each list,
    # through a few Python calls, even when empty, as the list of one of these two events always is
    # on SQLite (the store's own listener is of ``begin``). Its lists read directly instead: the
    # same listeners, in SQLAlchemy's order (listeners_of).
    events = conn.engine.dispatch
    before = events.before_cursor_execute
    if before.parent_listeners or before.listeners:
        for listener in listeners_of(before):
            statement, parameters = listener(conn, cursor, statement, parameters, None, many)
    after = events.after_cursor_execute
    return statement, parameters, listeners_of(after) if after.parent_listeners or after.listeners else ()


def listeners_of(event: Any) -> tuple[Callable[..., Any], ...]:
    """The listeners of an engine's event (``engine.dispatch.<event>``), in the order SQLAlchemy calls
    them (those of every engine, then this one's), from the two lists it keeps them in: nothing but
    attribute reads, where iterating or calling the collection is a Python call or two (pinned by
    tests/integration/test_store_driver_cursor.py)."""
    return (*event.parent_listeners, *event.listeners)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    processors: tuple[Processor, ...]
    fixed: dict[str, Any]  # the values the statement itself holds (``.values(state='in-flight')``)
    head: str  # for an INSERT: the SQL before VALUES, its one row's placeholders, and after
    row: str
    tail: str
    #: The placeholders' parameters taken from a row in one call, and the processors by position.
    take: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False, repr=False)
    convert: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "take", _taker(self.names))
        convert = tuple((i, p) for i, p in enumerate(self.processors) if p is not None)
        object.__setattr__(self, "convert", convert)

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's values for one row: each placeholder's parameter through its processor."""
        if self.fixed:
            params = {**self.fixed, **params}
        values = self.take(params)
        return tuple(_converted(values, self.convert)) if self.convert else values


def _converted(values: Sequence[Any], convert: Sequence[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    """``values`` with each (position, processor) of ``convert`` applied: a statement's parameters
    on their way to the driver, or a row's columns on their way back."""
    out = list(values)
    for i, process in convert:
        out[i] = process(out[i])
    return out


def _converted_rows(
    rows: Sequence[Sequence[Any]], convert: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    """Several rows' values (:func:`_converted`), each distinct object converted once per processor.

    The rows of one statement share values (an accept's one ``now`` is three columns of each
    delivery, a second a datetime on SQLite; an outcome batch's, two of each row): a processor
    given an object it was given before in this call answers what it answered then. Processors
    are pure functions of their value, and each object is held meanwhile, so an ``id`` cannot meet
    a new object at a freed one's address."""
    if not convert:
        return [tuple(row) for row in rows]
    out = []
    seen: dict[tuple[Callable[[Any], Any], int], tuple[Any, Any]] = {}  # → (the object, its answer)
    for row in rows:
        values = list(row)
        for i, process in convert:
            value = values[i]
            key = (process, id(value))
            known = seen.get(key)
            if known is None:
                known = seen[key] = (value, process(value))
            values[i] = known[1]
        out.append(tuple(values))
    return out


def _taker(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` from a mapping, as a tuple, in one C call (``itemgetter``)."""
    if len(names) == 1:
        (name,) = names
        return lambda params: (params[name],)
    if not names:
        return lambda _params: ()
    return itemgetter(*names)


def _compile(statement: ValuesBase, columns: Sequence[str], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
    assert isinstance(compiled, SQLCompiler)
    sql = compiled.string
    if compiled.positiontup is not None:  # qmark (SQLite)
        names = tuple(compiled.positiontup)
    else:  # pyformat (psycopg): made positional, so that rows can be repeated in one INSERT
        names = tuple(_NAMED.findall(sql))
        sql = _NAMED.sub("%s", sql)
    processors = tuple(_processors(compiled, dialect).get(name) for name in names)
    head, row, tail = sql, "", ""
    if " VALUES (" in sql:
        head, rest = sql.split(" VALUES ", 1)
        depth = 0
        for i, char in enumerate(rest):
            depth += char == "("
            depth -= char == ")"
            if depth == 0:
                row, tail = rest[: i + 1], rest[i + 1 :]
                break
    fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
    return _Compiled(sql, names, processors, fixed, head, row, tail)


def _processors(compiled: SQLCompiler, dialect: Dialect) -> dict[str, Processor]:
    """Each bind parameter's processor, by name: the one SQLAlchemy applies when it executes the
    statement itself (``_bind_processors``, pinned by tests/integration/test_store_driver_*.py), or one that
    gives the same values with less Python (:func:`_quicker`)."""
    bind_processors: Mapping[str, Any] = compiled._bind_processors
    types = {name: bind.type for bind, name in compiled.bind_names.items()}
    return {name: _quicker(process, types.get(name), dialect) for name, process in bind_processors.items()}


#: Values a quicker processor must convert as SQLAlchemy's does before it replaces it (besides the
#: tests, which compare many more): a change of SQLAlchemy's storage format then costs speed, not rows.
_PROBES: Final = (
    None,
    datetime(2026, 12, 1, 7, 42, 21, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=7))),
    datetime(9, 3, 4, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
)


def _quicker(process: Processor, type_: Any, dialect: Dialect) -> Processor:
    """UtcDateTime's processor in one call (``UtcDateTime.driver_processor``) where it gives what
    SQLAlchemy's chain of two gives (process_bind_param, then the dialect's DateTime processor)."""
    if process is None or not isinstance(type_, UtcDateTime):
        return process
    quick = type_.driver_processor(dialect)
    return quick if all(_same(quick(v), process(v)) for v in _PROBES) else process


#: The values a quicker result processor must convert as SQLAlchemy's does: what each driver gives
#: for a UtcDateTime column (SQLite: its text; psycopg: aware datetimes), and odd ones besides.
_RESULT_PROBES: Final = (
    None,
    "2026-12-01 07:42:21.123456",
    "2026-01-02 03:04:05.000000",
    "2026-01-02 03:04:05",
    "0009-03-04 05:06:07.000008",
    *_PROBES[1:],
    datetime(2026, 12, 1, 7, 42, 21, 123456),
)


def _quicker_result(process: Processor, type_: Any, dialect: Dialect) -> Processor:
    """UtcDateTime's result processor in one call (``UtcDateTime.driver_result_processor``) where it
    gives what SQLAlchemy's gives (the dialect's DateTime processor, then process_result_value,
    through TypeDecorator's wrapper: three calls a value) for every probe the latter takes."""
    if process is None or not isinstance(type_, UtcDateTime):
        return process
    quick = type_.driver_result_processor(dialect)
    for value in _RESULT_PROBES:
        try:
            expected = process(value)
        except (AttributeError, TypeError, ValueError):
            continue  # not a value this driver gives
        try:
            if not _same(quick(value), expected):
                return process
        except (AttributeError, TypeError, ValueError):
            return process
    return quick


def _same(a: Any, b: Any) -> bool:
    """Equal, of one type, and (datetimes) in one time zone."""
    return type(a) is type(b) and a == b and getattr(a, "tzinfo", None) == getattr(b, "tzinfo", None)


class DriverStatement:
    """A Core statement (an INSERT, or an UPDATE of named bind parameters) run as driver SQL.

    An INSERT is given ``inline()`` (no implicit RETURNING of its primary key, which PostgreSQL's
    dialect would add) and, if its rows' ids are wanted, an explicit ``returning()``.

    ``columns``: for an INSERT, the columns each row gives. A row is a mapping from the statement's
    parameter names (an INSERT's: its columns) to Python values, as Core would take them.
    """

    def __init__(self, statement: ValuesBase, columns: Sequence[str] = ()) -> None:
        self.statement = statement
        self.columns = tuple(columns)
        self._compiled: dict[str, _Compiled] = {}
        self._multi: dict[tuple[str, int], str] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.statement, self.columns, dialect)
        return compiled

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """One statement for all ``rows`` (an ``executemany`` when there are several); the number of
        rows it changed, as the driver counts them."""
        compiled = self._for(conn.dialect)
        if len(rows) == 1:
            return send(conn, compiled.sql, compiled.values(rows[0])).rowcount
        fixed, take = compiled.fixed, compiled.take
        taken = [take({**fixed, **row}) for row in rows] if fixed else [take(row) for row in rows]
        return send(conn, compiled.sql, _converted_rows(taken, compiled.convert), many=True).rowcount

    def driver_rows(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` given as tuples of Python values in ``columns`` order (no mapping built per row),
        each value through its placeholder's processor (:func:`_converted_rows`): the driver's
        values, as :meth:`execute`'s."""
        compiled = self._for(conn.dialect)
        if compiled.names != self.columns or compiled.fixed:
            raise ValueError(f"rows as tuples need an INSERT of exactly {self.columns}: {compiled.names}")
        return _converted_rows(rows, compiled.convert)

    def insert(self, conn: Connection, rows: Sequence[tuple[Any, ...]], *, returning: bool = False) -> Sent:
        """One INSERT of ``rows`` (driver values from :meth:`driver_rows`). On PostgreSQL, or when its
        RETURNING clause is wanted, one multi-row ``VALUES``: psycopg runs an ``executemany`` in a
        pipeline of its own, measured at ~55 µs more of the hub's CPU than one statement of two rows;
        SQLite's ``executemany`` is one prepared statement stepped in C, kept. What RETURNING names
        comes back as the driver gives it, in no particular order."""
        compiled = self._for(conn.dialect)
        if len(rows) == 1 and not returning:
            return send(conn, compiled.sql, rows[0])
        if not returning and conn.dialect.name == "sqlite":
            return send(conn, compiled.sql, rows, many=True)
        if returning:
            assert " RETURNING " in compiled.tail, "an INSERT … RETURNING"
        return send(conn, self.multi_row(conn.dialect, len(rows)), flat_values(rows), rows=returning)

    def multi_row(self, dialect: Dialect, count: int) -> str:
        """The INSERT of ``count`` rows in one ``VALUES``, its placeholders in the driver's style (for
        the driver values of :meth:`driver_rows`, flattened row after row), its tail kept."""
        key = (dialect.name, count)
        sql = self._multi.get(key)
        if sql is None:
            compiled = self._for(dialect)
            assert compiled.row, "an INSERT … VALUES …"
            rows = ", ".join([compiled.row] * count)
            sql = self._multi[key] = f"{compiled.head} VALUES {rows}{compiled.tail}"
        return sql


def flat_values(rows: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """Rows' values one after another, as one statement's parameters."""
    return tuple(v for row in rows for v in row)


@dataclass
class _Query:
    sql: str
    #: Each placeholder's value: (parameter, index in its list or None, the bind processor).
    params: tuple[tuple[str, int | None, Processor], ...]
    columns: tuple[str, ...]  # the statement's typed columns, in the order the SELECT gives them
    types: tuple[Any, ...]
    #: The result processors by column index, as Core finds them from the cursor's first description
    #: (then fixed); only the columns that have one.
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, index, process in self.params:
            value = params[name] if index is None else params[name][index]
            out.append(process(value) if process is not None else value)
        return tuple(out)


class DriverQuery:
    """A SELECT (``text(...).columns(...)``, typed) run as driver SQL, its rows converted as Core would;
    or a text statement that returns no rows (:meth:`execute`), its parameters bound as Core would.

    What Core does per execution: expand each list parameter (``IN :names``) into placeholders, apply
    the bind processors, and on the rows the result processors of each typed column (a UUID from 32 hex
    digits on SQLite, UtcDateTime's UTC, JSON). Here the SQL is expanded once per dialect and list
    lengths, and the processors are Core's own, taken for the cursor's column types as Core takes them:
    the rows are the same values (tests/integration/test_store_driver_query.py compares them).
    Rows are dicts by column name.
    """

    def __init__(self, statement: TextClause) -> None:
        self.statement = statement
        self._compiled: dict[tuple[Any, ...], _Query] = {}

    def _for(self, dialect: Dialect, params: Mapping[str, Any]) -> _Query:
        key = (dialect.name, *((n, len(v)) for n, v in params.items() if isinstance(v, list | tuple)))
        query = self._compiled.get(key)
        if query is None:
            query = self._compiled[key] = _compile_query(self.statement, dialect, params)
        return query

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows, each a dict by column name."""
        columns = self._for(conn.dialect, params).columns
        return [dict(zip(columns, row, strict=True)) for row in self.values(conn, params)]

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """A statement that returns no rows (an UPDATE, an INSERT … SELECT): the rows it changed."""
        query = self._for(conn.dialect, params)
        return send(conn, query.sql, query.values(params)).rowcount

    def values(self, conn: Connection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The rows as :meth:`rows` gives them, each its values in the statement's column order
        instead of a dict: what a caller that unpacks every row needs, without a dict built per row."""
        query = self._for(conn.dialect, params)
        results = query.results
        sent = send(conn, query.sql, query.values(params), rows=True, describe=results is None)
        if results is None:
            description = sent.description
            assert description is not None, "a SELECT"
            names = tuple(d[0] for d in description)
            assert names == query.columns, (names, query.columns)
            processors = (
                _quicker_result(t._cached_result_processor(conn.dialect, d[1]), t, conn.dialect)
                for t, d in zip(query.types, description, strict=True)
            )
            results = query.results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        if not results:
            return list(sent.rows)
        return [_converted(row, results) for row in sent.rows]


def _compile_query(statement: TextClause, dialect: Dialect, params: Mapping[str, Any]) -> _Query:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    expanded = compiled.construct_expanded_state(dict(params))
    sql = expanded.statement
    if expanded.positiontup is not None:  # qmark (SQLite)
        names: Sequence[str] = expanded.positiontup
    else:  # pyformat (psycopg): made positional
        names = _NAMED.findall(sql)
        sql = _NAMED.sub("%s", sql)
    origin = {
        key: (name, index)
        for name, keys in (expanded.parameter_expansion or {}).items()
        for index, key in enumerate(keys)
    }
    processors = _processors(compiled, dialect)
    placed = []
    for name in names:
        parameter, index = origin.get(name, (name, None))
        placed.append((parameter, index, processors.get(parameter)))
    columns = tuple(c[1] for c in compiled._result_columns)
    types = tuple(c[3] for c in compiled._result_columns)
    return _Query(sql, tuple(placed), columns, types)


#: The most parameters psycopg keeps a statement's parsed form for (``MAX_CACHED_STATEMENT_PARAMS``):
#: it parses a statement with more on each execution, 60-70 µs for one of 73.
DRIVER_CACHED_PARAMS: Final = 50


class DriverUpdateFromValues:
    """An UPDATE of several rows as one statement whose rows come as a ``VALUES`` list (PostgreSQL's
    ``UPDATE … FROM``), where a :class:`DriverStatement` of the same UPDATE sends an ``executemany``
    of it: psycopg runs that in a pipeline of its own, measured at ~90 µs more of the hub's CPU for
    2 or 3 rows (both outcome UPDATEs, psycopg 3.3 C) than these statements.

    ``sql`` holds ``{values}`` where the rows' ``VALUES`` list goes, before the placeholders of
    ``shared``. ``columns`` names each VALUES column's parameter and its SQL type: every placeholder is
    cast, so that a column NULL in every row still has its type (PostgreSQL would take it for text).
    ``shared`` names the statement's own parameters, taken from the first row (equal in every row).
    Each value goes through the bind processor ``like`` (the per-row statement, or statements, named
    as here) applies to its parameter, so the driver gets the values those would give it.

    A statement holds at most the rows whose parameters psycopg still caches the parsed form of
    (:data:`DRIVER_CACHED_PARAMS`); more rows are sent as several statements, in the order given."""

    def __init__(
        self,
        sql: str,
        columns: Sequence[tuple[str, str]],
        shared: Sequence[str],
        like: DriverStatement | Sequence[DriverStatement],
    ) -> None:
        self.sql = sql
        self.names = tuple(name for name, _ in columns)
        self.shared = tuple(shared)
        self.like = (like,) if isinstance(like, DriverStatement) else tuple(like)
        self.most = max(1, (DRIVER_CACHED_PARAMS - len(self.shared)) // len(self.names))
        self._row = "(" + ", ".join(f"%s::{type_}" for _, type_ in columns) + ")"
        self._sql: dict[int, str] = {}
        self._convert: dict[
            str, tuple[tuple[tuple[int, Callable[[Any], Any]], ...], tuple[Processor, ...]]
        ] = {}
        self._take = _taker(self.names)
        self._take_shared = _taker(self.shared)

    def _processors(
        self, dialect: Dialect
    ) -> tuple[tuple[tuple[int, Callable[[Any], Any]], ...], tuple[Processor, ...]]:
        found = self._convert.get(dialect.name)
        if found is None:
            by_name: dict[str, Processor] = {}
            for statement in self.like:
                compiled = statement._for(dialect)
                for name, process in zip(compiled.names, compiled.processors, strict=True):
                    by_name.setdefault(name, process)  # a parameter both have is of one type in both
            missing = set(self.names + self.shared) - set(by_name)
            assert not missing, f"parameters the per-row statements do not have: {missing}"
            convert = tuple((i, p) for i, n in enumerate(self.names) if (p := by_name[n]) is not None)
            found = self._convert[dialect.name] = (convert, tuple(by_name[n] for n in self.shared))
        return found

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """One statement for ``rows`` (mappings as :meth:`DriverStatement.execute` takes them), or one
        per :attr:`most` of them; the number of rows changed, as the driver counts them: a statement
        changes each target row once, however many rows of its list match it."""
        convert, shared_processors = self._processors(conn.dialect)
        shared = [
            v if p is None else p(v)
            for v, p in zip(self._take_shared(rows[0]), shared_processors, strict=True)
        ]
        take, most, changed = self._take, self.most, 0
        for start in range(0, len(rows), most):
            chunk = rows[start : start + most]
            sql = self._sql.get(len(chunk))
            if sql is None:
                sql = self._sql[len(chunk)] = self.sql.format(values=", ".join([self._row] * len(chunk)))
            values: list[Any] = []
            for row in chunk:
                values.extend(_converted(take(row), convert) if convert else take(row))
            values.extend(shared)
            changed += send(conn, sql, values).rowcount
        return changed
