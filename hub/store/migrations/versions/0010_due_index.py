"""due index: the claimable deliveries in claim order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 01:00:00

A partial index on ``deliveries(next_attempt_at, target)`` holding only queued and failed rows: the
claim reads it in order and stops at its limit, instead of sorting every due row (issue 11: a backlog
of 300,000 queued deliveries made each claim a sort of all of them), and skips the targets it leaves
out without reading their rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DUE = "state IN ('queued', 'failed')"


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at", "target"],
        unique=False,
        sqlite_where=sa.text(_DUE),
        postgresql_where=sa.text(_DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
