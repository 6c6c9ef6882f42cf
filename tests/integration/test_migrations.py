"""Migrations equal the models (STYLE.md point 18), on both databases the hub supports.

Empty SQLite and PostgreSQL databases are migrated to head and compared with
``lienthong.store.schema.metadata`` through alembic's autogenerate comparison, which must find
nothing to do; a downgrade to base must leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, inspect, text

from lienthong.errors import SchemaOutOfDateError
from lienthong.store.migrate import (
    MIGRATIONS_DIR,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from lienthong.store.schema import metadata
from lienthong.store.sql import create_store_engine

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    yield engine
    engine.dispose()


def _downgrade(engine: Engine, revision: str) -> None:
    """lienthong.store.migrate has no downgrade (the hub never runs one); drive alembic the same way."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _diff(engine: Engine, target: MetaData = metadata) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to turn the database into ``target``.

    ``compare_type=True`` needs no special case for the UtcDateTime TypeDecorator: alembic compares
    the DDL each side compiles to for the dialect, and a TypeDecorator compiles to its ``impl``
    (TIMESTAMP WITH TIME ZONE on PostgreSQL, DATETIME on SQLite), which is exactly what reflection
    returns. test_the_comparison_sees_differences proves the comparison is not blind to it.
    """
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_head_equals_the_models(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []
    assert _tables(engine) == set(metadata.tables)


def test_the_comparison_sees_differences(engine: Engine) -> None:
    """A control for the test above: an empty diff must mean "equal", not "not compared"."""
    upgrade(engine)
    changed = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["deliveries"].c.target.type = String(64)
    changed.tables["deliveries"].c.lease_until.type = DateTime(timezone=False)
    changed.tables["messages"].append_column(Column("extra", Integer))
    found = {(d[0][0] if isinstance(d, list) else d[0], _column_of(d)) for d in _diff(engine, changed)}
    expected = {("modify_type", "target"), ("add_column", "extra")}
    if engine.dialect.name == "postgresql":
        # SQLite has one DATETIME type; only PostgreSQL can tell WITH from WITHOUT TIME ZONE.
        expected.add(("modify_type", "lease_until"))
    assert found == expected


def _column_of(diff: Any) -> str:
    if isinstance(diff, list):  # modify_* entries come grouped per column
        return str(diff[0][3])
    return str(diff[3].name)


def test_upgrade_is_a_no_op_when_current(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []


def test_each_revision_downgrades_and_upgrades_again(engine: Engine) -> None:
    """The stairway: every step can be undone and redone, so a bad release can be rolled back."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    for revision in revisions:
        upgrade(engine, revision)
        _downgrade(engine, "-1")
        upgrade(engine, revision)
        assert current_revision(engine) == revision
    assert _diff(engine) == []


def test_downgrade_to_base_leaves_nothing(engine: Engine) -> None:
    upgrade(engine)
    _downgrade(engine, "base")
    assert current_revision(engine) is None
    assert _tables(engine) == set()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            leftovers = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        else:
            leftovers = conn.execute(
                text(
                    "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace "
                    "AND proname = 'messages_immutable'"
                )
            ).all()
    assert leftovers == []


def test_ensure_current_refuses_an_empty_database(engine: Engine) -> None:
    with pytest.raises(SchemaOutOfDateError, match="hub db upgrade") as caught:
        ensure_current(engine, auto_upgrade=False)
    assert head_revision() in caught.value.message
    assert current_revision(engine) is None
    assert _tables(engine) == set()


def test_ensure_current_upgrades_when_allowed(engine: Engine) -> None:
    ensure_current(engine, auto_upgrade=True)
    assert current_revision(engine) == head_revision()
    ensure_current(engine, auto_upgrade=False)  # now current: no error


def _rows_at_0004(engine: Engine) -> int:
    """One message and one delivery stored as 0004 stored them, payloads in their rows."""
    upgrade(engine, "0004")
    message_id = "0b6f3e0c-8f2a-4c1e-9a51-3d2b7c1e5f00"
    uid = message_id if engine.dialect.name == "postgresql" else message_id.replace("-", "")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO messages (id, kind, sender, sender_message_id, correlation_id, content_type, "
                "payload, payload_sha256, headers, received_at, fingerprint) VALUES (:id, 'document', "
                "'000.00.01.H53', 'm-1', :id, 'application/xml', :payload, 'x', '{}', :at, 'f')"
            ),
            {"id": uid, "payload": b"<message/>", "at": "2026-11-30 12:00:00"},
        )
        delivery_id = conn.execute(
            text(
                "INSERT INTO deliveries (message_id, target, state, attempts, round_attempts, payload, "
                "content_type, created_at, updated_at) VALUES (:id, 'axis', 'queued', 0, 0, :payload, "
                "'application/xml', :at, :at) RETURNING id"
            ),
            {"id": uid, "payload": b"<delivery/>", "at": "2026-11-30 12:00:00"},
        ).scalar_one()
    return int(delivery_id)


def test_0005_moves_payloads_to_their_tables_and_back(engine: Engine) -> None:
    delivery_id = _rows_at_0004(engine)
    upgrade(engine, "0005")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT payload FROM message_payloads")).scalar_one() == b"<message/>"
        moved = conn.execute(text("SELECT delivery_id, payload FROM delivery_payloads")).one()
    assert tuple(moved) == (delivery_id, b"<delivery/>")
    columns = {t: {c["name"] for c in inspect(engine).get_columns(t)} for t in ("messages", "deliveries")}
    assert "payload" not in columns["messages"] and "payload" not in columns["deliveries"]
    _downgrade(engine, "0004")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT payload FROM messages")).scalar_one() == b"<message/>"
        assert conn.execute(text("SELECT payload FROM deliveries")).scalar_one() == b"<delivery/>"
    assert {"message_payloads", "delivery_payloads"}.isdisjoint(_tables(engine))


def test_message_payloads_are_immutable(engine: Engine) -> None:
    _rows_at_0004(engine)
    upgrade(engine)
    for statement in ("UPDATE message_payloads SET payload = :p", "DELETE FROM message_payloads"):
        with pytest.raises(Exception, match="accepted messages are immutable"), engine.begin() as conn:
            conn.execute(text(statement), {"p": b"changed"} if ":p" in statement else {})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT payload FROM message_payloads")).scalar_one() == b"<message/>"
