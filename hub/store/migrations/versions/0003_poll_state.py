"""poll_state: which hub process polls a group of awaiting dossiers, and when it is next due

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

One row per polled group (docs/polling.md): a lease (owner, lease_until) so that two processes never
poll one group at once, and next_due_at so that together they poll it once per interval.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_due_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_poll_state")),
    )


def downgrade() -> None:
    op.drop_table("poll_state")
