"""initial schema: messages, idempotency keys, routes, deliveries, attempts

Revision ID: 0001
Revises:
Create Date: 2026-11-21 20:03:07.445402
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lienthong.store.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("sender_message_id", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("procedure_code", sa.String(length=64), nullable=True),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("document_id", sa.String(length=256), nullable=True),
        sa.Column("document_type", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("causation_id", sa.Uuid(), nullable=True),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("received_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(op.f("ix_messages_correlation_id"), "messages", ["correlation_id"], unique=False)
    op.create_index(op.f("ix_messages_dossier_code"), "messages", ["dossier_code"], unique=False)
    op.create_index(op.f("ix_messages_received_at"), "messages", ["received_at"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("round_attempts", sa.Integer(), nullable=False),
        sa.Column("round_started_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("lease_until", lienthong.store.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("created_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_deliveries_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("message_id", "target", name=op.f("uq_deliveries_message_id_target")),
    )
    op.create_index(
        op.f("ix_deliveries_state_next_attempt_at"), "deliveries", ["state", "next_attempt_at"], unique=False
    )
    op.create_index(op.f("ix_deliveries_target_state"), "deliveries", ["target", "state"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("sender_message_id", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_idempotency_keys_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("sender", "sender_message_id", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "route_decisions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("decided_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_route_decisions_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_decisions")),
    )
    op.create_index(op.f("ix_route_decisions_message_id"), "route_decisions", ["message_id"], unique=False)
    op.create_index(op.f("ix_route_decisions_status"), "route_decisions", ["status"], unique=False)
    op.create_table(
        "attempts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("started_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("request", sa.LargeBinary(), nullable=True),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_attempts_delivery_id_deliveries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("delivery_id", "number", name=op.f("uq_attempts_delivery_id_number")),
    )
    _forbid_message_changes()


def _forbid_message_changes() -> None:
    """Accepted messages are evidence: the database itself refuses to change or delete them."""
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER messages_no_{event.lower()} BEFORE {event} ON messages "
                "BEGIN SELECT RAISE(ABORT, 'accepted messages are immutable'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION messages_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'accepted messages are immutable'; END $$"
        )
        op.execute(
            "CREATE TRIGGER messages_immutable BEFORE UPDATE OR DELETE ON messages "
            "FOR EACH ROW EXECUTE FUNCTION messages_immutable()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS messages_immutable ON messages")
        op.execute("DROP FUNCTION IF EXISTS messages_immutable()")
    op.drop_table("attempts")
    op.drop_index(op.f("ix_route_decisions_status"), table_name="route_decisions")
    op.drop_index(op.f("ix_route_decisions_message_id"), table_name="route_decisions")
    op.drop_table("route_decisions")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_deliveries_target_state"), table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_state_next_attempt_at"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_messages_received_at"), table_name="messages")
    op.drop_index(op.f("ix_messages_dossier_code"), table_name="messages")
    op.drop_index(op.f("ix_messages_correlation_id"), table_name="messages")
    op.drop_table("messages")
