"""audit log: sealed entries, signed tree heads, refusals and operator actions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:00:00

The auditor's record (issue 12, docs/audit.md): ``audit_entries`` are the leaves of an RFC 6962 tree,
sealed in the background from the store's immutable rows and the two new tables ``refusals`` and
``operator_actions``; ``tree_heads`` are the signed heads. Entries and heads are evidence like accepted
messages: the database refuses to change or delete them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lienthong.store.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_EVIDENCE = ("audit_entries", "tree_heads")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("document_id", sa.String(length=256), nullable=True),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("source", "source_key", name=op.f("uq_audit_entries_source_source_key")),
    )
    for column in ("dossier_code", "document_id", "agency", "message_id"):
        op.create_index(op.f(f"ix_audit_entries_{column}"), "audit_entries", [column], unique=False)
    op.create_table(
        "tree_heads",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("previous", sa.LargeBinary(), nullable=True),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp_token", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_tree_heads")),
    )
    op.create_table(
        "refusals",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("remote", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusals")),
    )
    op.create_index(op.f("ix_refusals_at"), "refusals", ["at"], unique=False)
    op.create_table(
        "operator_actions",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", lienthong.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
    )
    op.create_index(op.f("ix_operator_actions_at"), "operator_actions", ["at"], unique=False)
    # The sealer reads decisions and finished attempts by time (lienthong.audit.log).
    op.create_index("ix_route_decisions_decided_at", "route_decisions", ["decided_at"], unique=False)
    op.create_index("ix_attempts_finished_at", "attempts", ["finished_at"], unique=False)
    _forbid_changes()


def _forbid_changes() -> None:
    """Entries and heads are evidence: the database refuses to change or delete them (an attacker with
    the database owner's rights can drop these triggers; ``hub audit verify`` is what catches that)."""
    if op.get_bind().dialect.name == "sqlite":
        for table in _EVIDENCE:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
                )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        for table in _EVIDENCE:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for table in _EVIDENCE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_attempts_finished_at", table_name="attempts")
    op.drop_index("ix_route_decisions_decided_at", table_name="route_decisions")
    op.drop_index(op.f("ix_operator_actions_at"), table_name="operator_actions")
    op.drop_table("operator_actions")
    op.drop_index(op.f("ix_refusals_at"), table_name="refusals")
    op.drop_table("refusals")
    op.drop_table("tree_heads")
    for column in ("dossier_code", "document_id", "agency", "message_id"):
        op.drop_index(op.f(f"ix_audit_entries_{column}"), table_name="audit_entries")
    op.drop_table("audit_entries")
