"""A document's trail and the unmatched status packages, in SQL (see :class:`lienthong.store.Store`).

Apart from ``sql.py`` like the dossier trail (``_sqltrail.py``), whose way of turning selected messages
into trail entries it shares. A message is about a document when its ``document_id`` is the document's
or a ``document_links`` row names it; both are indexed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select

from lienthong.envelope import MessageKind
from lienthong.store import Parties, TrailEntry
from lienthong.store._sqltrail import HEADER_COLUMNS, trail_entries
from lienthong.store.schema import document_links, messages
from lienthong.store.sql import _party_of

#: What intake writes as ``document_type`` of an edXML message (lienthong.intake.edxml_facts).
EDXML = "edxml"


def _about(document_id: Any) -> Any:
    """A condition on ``messages``: the message is about ``document_id`` (a value or a column)."""
    linked = select(document_links.c.message_id).where(document_links.c.document_id == document_id)
    return or_(messages.c.document_id == document_id, messages.c.id.in_(linked))


def select_document_trail(conn: Connection, document_id: str, parties: Parties | None) -> list[TrailEntry]:
    """See :meth:`lienthong.store.Store.document_trail`."""
    query = select(*HEADER_COLUMNS).where(_about(document_id)).order_by(messages.c.received_at, messages.c.id)
    if parties is not None:
        query = query.where(_party_of(parties))
    return trail_entries(conn, query)


def select_unmatched(conn: Connection, parties: Parties | None, limit: int) -> list[TrailEntry]:
    """See :meth:`lienthong.store.Store.unmatched_status_packages`."""
    doc = messages.alias("doc")
    link = document_links.alias("link")
    by_column = select(doc.c.id).where(
        doc.c.kind == MessageKind.DOCUMENT.value, doc.c.document_id == messages.c.document_id
    )
    by_link = (
        select(link.c.message_id)
        .join(doc, doc.c.id == link.c.message_id)
        .where(doc.c.kind == MessageKind.DOCUMENT.value, link.c.document_id == messages.c.document_id)
    )
    query = (
        select(*HEADER_COLUMNS)
        .where(
            messages.c.kind == MessageKind.STATUS.value,
            messages.c.document_type == EDXML,
            or_(
                messages.c.document_id.is_(None),
                and_(~exists(by_column), ~exists(by_link)),
            ),
        )
        .order_by(messages.c.received_at, messages.c.id)
        .limit(limit)
    )
    if parties is not None:
        query = query.where(_party_of(parties))
    return trail_entries(conn, query)
