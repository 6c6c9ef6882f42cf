"""payload tables: messages' and deliveries' payloads in tables of their own

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 20:00:00

A 64 MB payload in ``messages`` or ``deliveries`` cost the hub a copy of it at every write of its row:
SQLite builds a record in memory when the ``zeroblob`` it expands is not the row's last column (both
inserts), and rewrites the whole record, overflow pages included, at every ``UPDATE`` of a delivery
(claim, each 5 s lease heartbeat, outcome). bench/edxml_memory.py, docs/benchmarks.md (issue 10).
Existing payloads are copied over, then the old columns dropped; the new ``message_payloads`` is
immutable like ``messages``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_payloads",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_payloads_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_payloads")),
    )
    op.create_table(
        "delivery_payloads",
        sa.Column(
            "delivery_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_delivery_payloads_delivery_id_deliveries")
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_delivery_payloads")),
    )
    op.execute("INSERT INTO message_payloads (message_id, payload) SELECT id, payload FROM messages")
    op.execute("INSERT INTO delivery_payloads (delivery_id, payload) SELECT id, payload FROM deliveries")
    # Native DROP COLUMN on both (SQLite >= 3.35): a batch rebuild of messages would lose its triggers.
    op.execute("ALTER TABLE messages DROP COLUMN payload")
    op.execute("ALTER TABLE deliveries DROP COLUMN payload")
    _forbid_payload_changes()


def _forbid_payload_changes() -> None:
    """A message's payload is evidence like its row (0001): the database refuses to change it."""
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER message_payloads_no_{event.lower()} BEFORE {event} ON message_payloads "
                "BEGIN SELECT RAISE(ABORT, 'accepted messages are immutable'); END"
            )
    else:
        op.execute(
            "CREATE TRIGGER message_payloads_immutable BEFORE UPDATE OR DELETE ON message_payloads "
            "FOR EACH ROW EXECUTE FUNCTION messages_immutable()"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot add a NOT NULL column without a default, nor change one afterwards: an empty default
    # there, filled at once; PostgreSQL adds it nullable and makes it NOT NULL once filled.
    for table in ("messages", "deliveries"):
        column = (
            sa.Column("payload", sa.LargeBinary(), nullable=False, server_default=sa.text("X''"))
            if sqlite
            else sa.Column("payload", sa.LargeBinary(), nullable=True)
        )
        op.add_column(table, column)
    if sqlite:
        op.execute("DROP TRIGGER messages_no_update")
    else:
        op.execute("ALTER TABLE messages DISABLE TRIGGER messages_immutable")
    op.execute(
        "UPDATE messages SET payload = "
        "(SELECT payload FROM message_payloads WHERE message_payloads.message_id = messages.id)"
    )
    if sqlite:
        op.execute(
            "CREATE TRIGGER messages_no_update BEFORE UPDATE ON messages "
            "BEGIN SELECT RAISE(ABORT, 'accepted messages are immutable'); END"
        )
    else:
        op.execute("ALTER TABLE messages ENABLE TRIGGER messages_immutable")
    op.execute(
        "UPDATE deliveries SET payload = "
        "(SELECT payload FROM delivery_payloads WHERE delivery_payloads.delivery_id = deliveries.id)"
    )
    if not sqlite:
        op.alter_column("messages", "payload", nullable=False)
        op.alter_column("deliveries", "payload", nullable=False)
    op.drop_table("delivery_payloads")
    op.drop_table("message_payloads")
