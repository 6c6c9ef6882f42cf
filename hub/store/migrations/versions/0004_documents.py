"""documents: messages by document id, and document_links (a message about several documents)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 19:00:00

A document's trail and states are read by document id (docs/edxml.md, "Document states"): an index on
messages.document_id, and document_links for the documents a message names beyond that one (its own
DocumentId, every document a replacement replaces). Messages stored before this revision carry no edXML
facts, so there is nothing to backfill.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_messages_document_id"), "messages", ["document_id"], unique=False)
    op.create_table(
        "document_links",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_document_links_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", "document_id", "role", name=op.f("pk_document_links")),
    )
    op.create_index(op.f("ix_document_links_document_id"), "document_links", ["document_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_document_links_document_id"), table_name="document_links")
    op.drop_table("document_links")
    op.drop_index(op.f("ix_messages_document_id"), table_name="messages")
