"""Counting the store's round trips to its database, for the benchmark (``bench/e2e.py``).

What costs a hub message its time is how many times Python goes to the database and back, not the
database's work (docs/benchmarks.md). :class:`StatementCounter` counts, for one engine, every statement
sent through a cursor (an ``executemany`` is one: one call into the driver), and every commit and
rollback, with SQLAlchemy's events; ``round_trips`` is their sum. It costs a few microseconds a
statement, so it is attached only by whoever wants the count, never by the hub itself.

    counter = StatementCounter(hub.store.engine)   # attach
    ...; before = counter.snapshot(); ...; per_message = (counter.snapshot() - before).round_trips / n
    counter.close()                                 # detach
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event


@dataclass(frozen=True)
class StatementCount:
    """Statements (by their first word: SELECT, INSERT, UPDATE, BEGIN…), commits and rollbacks."""

    by_verb: tuple[tuple[str, int], ...] = ()
    commits: int = 0
    rollbacks: int = 0

    @property
    def statements(self) -> int:
        return sum(n for _, n in self.by_verb)

    @property
    def round_trips(self) -> int:
        return self.statements + self.commits + self.rollbacks

    def __sub__(self, other: StatementCount) -> StatementCount:
        before = dict(other.by_verb)
        verbs = {verb: n - before.get(verb, 0) for verb, n in self.by_verb}
        return StatementCount(
            by_verb=tuple(sorted((v, n) for v, n in verbs.items() if n)),
            commits=self.commits - other.commits,
            rollbacks=self.rollbacks - other.rollbacks,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "statements": self.statements,
            "commits": self.commits,
            "rollbacks": self.rollbacks,
            "round_trips": self.round_trips,
            "by_verb": dict(self.by_verb),
        }


class StatementCounter:
    """Counts one engine's statements, commits and rollbacks from every thread, until closed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._verbs: dict[str, int] = {}
        self._commits = 0
        self._rollbacks = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        with self._lock:
            self._verbs[verb] = self._verbs.get(verb, 0) + 1

    def _commit(self, _conn: Any) -> None:
        with self._lock:
            self._commits += 1

    def _rollback(self, _conn: Any) -> None:
        with self._lock:
            self._rollbacks += 1

    def snapshot(self) -> StatementCount:
        with self._lock:
            return StatementCount(tuple(sorted(self._verbs.items())), self._commits, self._rollbacks)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._rollback)

    def __enter__(self) -> StatementCounter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
