"""deliveries.operation: which of an adapter's operations the prepared bytes are for

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 16:20:00

Nullable: a delivery stored before adapters had operations goes to the adapter's first (and then
only) operation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("operation", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("operation")
