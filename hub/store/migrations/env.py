"""Alembic environment: runs on the connection the hub hands over (see lienthong.store.migrate)."""

from __future__ import annotations

from alembic import context

from lienthong.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the hub always passes a connection
    raise RuntimeError("run migrations through 'hub db upgrade', which supplies the database connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
