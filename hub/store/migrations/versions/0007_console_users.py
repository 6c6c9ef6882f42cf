"""console users and sessions: who may sign in to the web console, with which role

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:00:00

``console_users`` (name, role admin|operator|auditor, argon2 password hash, created, disabled) and
``console_sessions`` (server-side sessions: the SHA-256 of the cookie's token, the session's CSRF
token, its expiry). docs/console.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.store.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_users")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_name"], ["console_users.name"], name=op.f("fk_console_sessions_user_name_console_users")
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_user_name"), "console_sessions", ["user_name"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_console_sessions_user_name"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
