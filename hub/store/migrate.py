"""Schema migrations with Alembic, driven from the hub's own settings (no alembic.ini to keep in sync)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from lienthong.errors import HubError, SchemaOutOfDateError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    if head is None:
        raise HubError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``. Safe to run on every start: a no-op when up to date."""
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ensure_current(engine: Engine, *, auto_upgrade: bool) -> None:
    """Upgrade (embedded SQLite) or refuse to start on an old schema (shared PostgreSQL).

    Several hub processes may share one PostgreSQL database; letting each of them migrate at start
    would race, so there the operator runs ``hub db upgrade`` once.
    """
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if auto_upgrade:
        upgrade(engine)
        return
    raise SchemaOutOfDateError(
        f"database schema is at {current or 'nothing'}, the hub needs {head}: run 'hub db upgrade' first "
        f"(cơ sở dữ liệu chưa được nâng cấp: hãy chạy 'hub db upgrade')"
    )
