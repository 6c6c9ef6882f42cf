"""The hot statements, compiled once per dialect and sent as the driver's own SQL.

SQLAlchemy Core spends tens of microseconds of Python on each execution of a statement it has
compiled and cached already: looking the compiled form up, building the parameters row by row through
each column type's processor, setting up a result (docs/benchmarks.md, "The ratio"). The statements
every message runs through (accept's inserts, the SQLite claim's UPDATE and INSERT, the outcome's two
UPDATEs) are known in advance: :class:`DriverStatement` compiles one for the engine's dialect once,
keeps its SQL with positional placeholders and, per parameter, the bind processor SQLAlchemy itself
would apply (UtcDateTime's conversion to UTC, a UUID as 32 hex digits on SQLite, JSON as text), and
runs it through ``Connection.exec_driver_sql``. The rows stored are therefore the same, byte for byte
(tests/unit/test_sql_driver_statements.py compares the parameters with Core's), and what still goes
through SQLAlchemy is what the hub relies on: its error translation (a dropped connection, a
PostgreSQL class 40, an IntegrityError for a repeat), its transaction, and the events that
StatementCounter counts with. The claim's SELECT goes the same way (:class:`DriverQuery`), and its
rows through the result processors Core would apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, TextClause
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ValuesBase

__all__ = ["DriverQuery", "DriverStatement"]

_NAMED = re.compile(r"%\((\w+)\)s")  # a pyformat placeholder (psycopg); '%%' is a literal '%'

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    processors: tuple[Processor, ...]
    fixed: dict[str, Any]  # the values the statement itself holds (``.values(state='in-flight')``)
    head: str  # for an INSERT: the SQL before VALUES, its one row's placeholders, and after
    row: str
    tail: str

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        if self.fixed:
            params = {**self.fixed, **params}
        return tuple(
            p(params[n]) if p is not None else params[n]
            for n, p in zip(self.names, self.processors, strict=True)
        )


def _compile(statement: ValuesBase, columns: Sequence[str], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
    assert isinstance(compiled, SQLCompiler)
    sql = compiled.string
    if compiled.positiontup is not None:  # qmark (SQLite)
        names = tuple(compiled.positiontup)
    else:  # pyformat (psycopg): made positional, so that rows can be repeated in one INSERT
        names = tuple(_NAMED.findall(sql))
        sql = _NAMED.sub("%s", sql)
    # The processors SQLAlchemy applies to these parameters when it executes the statement itself.
    bind_processors: Mapping[str, Any] = compiled._bind_processors
    processors = tuple(bind_processors.get(name) for name in names)
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

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        """One statement for all ``rows``: an ``executemany`` when there are several."""
        compiled = self._for(conn.dialect)
        if len(rows) == 1:
            return conn.exec_driver_sql(compiled.sql, compiled.values(rows[0]))
        return conn.exec_driver_sql(compiled.sql, [compiled.values(row) for row in rows])

    def insert_returning(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows in one multi-row INSERT; what its RETURNING clause names comes back for each, as
        the driver gives it (no result processing), in no particular order."""
        compiled = self._for(conn.dialect)
        key = (conn.dialect.name, len(rows))
        sql = self._multi.get(key)
        if sql is None:
            assert compiled.row and " RETURNING " in compiled.tail, "an INSERT … VALUES … RETURNING"
            sql = self._multi[key] = (
                f"{compiled.head} VALUES {', '.join([compiled.row] * len(rows))}{compiled.tail}"
            )
        result = conn.exec_driver_sql(sql, tuple(v for row in rows for v in compiled.values(row)))
        return [tuple(row) for row in result]

    def driver_value(self, conn: Connection, name: str, value: Any) -> Any:
        """``value`` of parameter ``name`` as the driver receives it (and hands it back)."""
        compiled = self._for(conn.dialect)
        processor = compiled.processors[compiled.names.index(name)]
        return processor(value) if processor is not None else value


@dataclass
class _Query:
    sql: str
    #: Each placeholder's value: (parameter, index in its list or None, the bind processor).
    params: tuple[tuple[str, int | None, Processor], ...]
    columns: tuple[str, ...]  # the statement's typed columns, in the order the SELECT gives them
    types: tuple[Any, ...]
    #: The result processors, as Core finds them from the cursor's first description (then fixed).
    results: tuple[Processor, ...] | None = None

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, index, process in self.params:
            value = params[name] if index is None else params[name][index]
            out.append(process(value) if process is not None else value)
        return tuple(out)


class DriverQuery:
    """A SELECT (``text(...).columns(...)``, typed) run as driver SQL, its rows converted as Core would.

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
        query = self._for(conn.dialect, params)
        result = conn.exec_driver_sql(query.sql, query.values(params))
        if query.results is None:
            description = result.cursor.description
            names = tuple(d[0] for d in description)
            assert names == query.columns, (names, query.columns)
            query.results = tuple(
                t._cached_result_processor(conn.dialect, d[1])
                for t, d in zip(query.types, description, strict=True)
            )
        columns, results = query.columns, query.results
        return [
            {c: (p(v) if p is not None else v) for c, p, v in zip(columns, results, row, strict=True)}
            for row in result.fetchall()
        ]


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
    bind_processors: Mapping[str, Any] = compiled._bind_processors
    placed = []
    for name in names:
        parameter, index = origin.get(name, (name, None))
        placed.append((parameter, index, bind_processors.get(parameter)))
    columns = tuple(c[1] for c in compiled._result_columns)
    types = tuple(c[3] for c in compiled._result_columns)
    return _Query(sql, tuple(placed), columns, types)
