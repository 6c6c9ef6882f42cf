"""A dossier's trail in SQL: its messages' metadata, routes in force and deliveries, never a payload.

Apart from ``sql.py`` so that the store's longest module does not grow; SqlStore calls it inside its
own transaction. Three queries whatever the number of messages: the messages (their ``payload`` and
``fingerprint`` columns left out), their route decisions, their deliveries (only the columns the trail
shows, which excludes the bytes sent and answered).
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, Select, or_, select

from lienthong.envelope import EnvelopeHeader, derive_correlation_id
from lienthong.store import DeliveryState, Parties, RouteDecision, TrailDelivery, TrailEntry
from lienthong.store.schema import deliveries, messages, route_decisions
from lienthong.store.sql import _decision, _envelope_header, _party_of

#: The message columns an EnvelopeHeader is made of: all but the fingerprint (payloads are apart).
HEADER_COLUMNS = [c for c in messages.c if c.name != "fingerprint"]


def select_trail(conn: Connection, dossier_code: str, parties: Parties | None) -> list[TrailEntry]:
    """See :meth:`lienthong.store.Store.dossier_trail`."""
    correlation_id = derive_correlation_id(dossier_code, None)
    query = (
        select(*HEADER_COLUMNS)
        .where(or_(messages.c.dossier_code == dossier_code, messages.c.correlation_id == correlation_id))
        .order_by(messages.c.received_at, messages.c.id)
    )
    if parties is not None:
        query = query.where(_party_of(parties))
    return trail_entries(conn, query)


def trail_entries(conn: Connection, query: Select[Any]) -> list[TrailEntry]:
    """The trail entries of the messages ``query`` selects (``HEADER_COLUMNS``), in its order: their
    route decisions in force and their deliveries, two more queries whatever their number. A
    document's trail (``_sqldocs.py``) is made the same way."""
    headers: list[EnvelopeHeader] = [_envelope_header(row) for row in conn.execute(query).mappings()]
    if not headers:
        return []
    ids = [h.message_id for h in headers]
    routes: dict[uuid.UUID, RouteDecision] = {}
    for row in conn.execute(
        select(route_decisions).where(route_decisions.c.message_id.in_(ids)).order_by(route_decisions.c.id)
    ).mappings():
        routes[row["message_id"]] = _decision(row)  # the newest, in force, is the last
    shown = [deliveries.c[f.name] for f in fields(TrailDelivery)]
    per_message: dict[uuid.UUID, list[TrailDelivery]] = {}
    for row in conn.execute(
        select(deliveries.c.message_id, *shown)
        .where(deliveries.c.message_id.in_(ids))
        .order_by(deliveries.c.id)
    ).mappings():
        per_message.setdefault(row["message_id"], []).append(_trail_delivery(row))
    return [
        TrailEntry(
            envelope=header,
            route=routes[header.message_id],
            deliveries=tuple(per_message.get(header.message_id, ())),
        )
        for header in headers
    ]


def _trail_delivery(row: Any) -> TrailDelivery:
    values = {f.name: row[f.name] for f in fields(TrailDelivery)}
    values["state"] = DeliveryState(values["state"])
    return TrailDelivery(**values)
