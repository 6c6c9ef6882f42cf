"""notices: the status reports examined for a citizen's notice

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 22:00:00

One row per status report the notifier looked at (docs/notify.md), with what came of it. The notices
are ordinary messages and deliveries; this table keeps a round from reading a report twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.store.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_checks",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("checked_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_notice_checks_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_notice_checks")),
    )
    op.create_index(op.f("ix_notice_checks_dossier_code"), "notice_checks", ["dossier_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_checks_dossier_code"), table_name="notice_checks")
    op.drop_table("notice_checks")
