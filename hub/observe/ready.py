"""Readiness: may this process get traffic? Its database answers, the schema is the one its code
needs, and the delivery workers it started still run.

Liveness (``/healthz``) only says the process answers; a load balancer takes a process that is not
ready out of rotation without restarting it, and a process whose database is back becomes ready again
by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from lienthong.store.migrate import current_revision, head_revision

if TYPE_CHECKING:
    from lienthong.compose import Hub


@dataclass(frozen=True)
class Check:
    name: str  # database, schema, workers
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail}


@cache
def _head() -> str:
    """The schema this code needs: read from the migration scripts once per process."""
    return head_revision()


def readiness(hub: Hub) -> list[Check]:
    """Every check, each run whatever the others found, so the answer names everything that is wrong."""
    engine: Engine | None = getattr(hub.store, "engine", None)
    checks = []
    if engine is None:  # an in-memory store (tests): nothing to reach
        checks.append(Check("database", True, "in-memory store"))
    else:
        checks += _database(engine)
    checks.append(_workers(hub))
    return checks


def _database(engine: Engine) -> list[Check]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return [
            Check("database", False, f"unreachable: {cause}"),
            Check("schema", False, "unknown: the database did not answer"),
        ]
    head = _head()
    schema = (
        Check("schema", True, f"at {head}")
        if current == head
        else Check("schema", False, f"at {current or 'nothing'}, the hub needs {head}: run 'hub db upgrade'")
    )
    return [Check("database", True, f"{engine.dialect.name} answers"), schema]


def _workers(hub: Hub) -> Check:
    alive = hub.workers.alive()
    if alive is None:
        return Check("workers", True, "none run by this process")
    if alive:
        return Check("workers", True, f"{hub.workers.settings.count} threads running")
    return Check("workers", False, "the delivery workers of this process have stopped")
