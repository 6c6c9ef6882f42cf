"""reconciliation: runs and their findings

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 22:00:00

Each reconciliation run of an adapter (scheduled, ``hub reconcile`` or the API) and every difference
it found between the ministry's records, the hub's and the one-stop system's, with the cause and the
healing done (docs/reconciliation.md). The lead relinks ``down_revision`` when merging.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.store.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("adapter", sa.String(length=63), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("healed", sa.Integer(), nullable=False),
        sa.Column("reported", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    op.create_index(
        op.f("ix_reconciliation_runs_adapter_started_at"),
        "reconciliation_runs",
        ["adapter", "started_at"],
    )
    op.create_table(
        "reconciliation_findings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("adapter", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("new", sa.Boolean(), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("system_status", sa.String(length=64), nullable=True),
        sa.Column("hub_status", sa.String(length=64), nullable=True),
        sa.Column("one_stop_status", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("healing_message_id", sa.Uuid(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_findings_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_findings")),
    )
    op.create_index(op.f("ix_reconciliation_findings_run_id"), "reconciliation_findings", ["run_id"])
    op.create_index(
        op.f("ix_reconciliation_findings_dossier_code"), "reconciliation_findings", ["dossier_code"]
    )
    op.create_index(
        op.f("ix_reconciliation_findings_fingerprint"), "reconciliation_findings", ["fingerprint"]
    )


def downgrade() -> None:
    op.drop_table("reconciliation_findings")
    op.drop_table("reconciliation_runs")
