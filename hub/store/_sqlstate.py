"""The store's counts by state (``Store.counts``), which ``/healthz`` and the metrics gauges read.

Apart from ``sql.py`` so that the queries ``/healthz`` costs are in one place, with the plans they are
meant to have (tests/integration/test_counts_plan.py checks them on both backends):

* deliveries by (target, state): ``GROUP BY target, state`` read from the ``(target, state)`` index
  alone, in its order: no table row is read and nothing is sorted (SQLite ``SCAN … USING COVERING
  INDEX``, PostgreSQL ``Index Only Scan`` once the table is vacuumed). It still reads one index entry
  per delivery: with 1,000,000 queued, 80 ms of CPU on SQLite and ~0.35 s on PostgreSQL
  (bench/backlog.py). Exact counts in constant time would need counters kept by every transaction
  that changes a delivery's state (accept, claim, outcome): the hot path, and on PostgreSQL a row
  that concurrent workers would queue on.
* messages: ``count(*)``, which both databases answer from their narrowest index.
* unroutable: the unroutable route decisions (the ``status`` index) that no later decision for the
  same message replaced (the ``message_id`` index, one probe each). The query this replaces found
  each message's newest decision with ``max(id) … GROUP BY message_id`` over every decision, routed
  or not: the cost grew with all messages; this one grows with the unroutable ones only.

The three are read in one transaction that takes no lock (see ``SqlStore._read``): on SQLite a
plain deferred ``BEGIN`` in WAL mode reads a snapshot while the workers keep writing, instead of
holding the single writer's place for as long as the counting lasts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, exists, func, select

from lienthong.store import DeliveryState, RouteStatus, StateCounts
from lienthong.store.schema import deliveries, messages, route_decisions

_later = route_decisions.alias("later")

#: Deliveries per (target, state), in the (target, state) index's own order.
DELIVERIES_BY_STATE = (
    select(deliveries.c.target, deliveries.c.state, func.count())
    .group_by(deliveries.c.target, deliveries.c.state)
    .order_by(deliveries.c.target, deliveries.c.state)
)

#: Every message accepted.
MESSAGES_TOTAL = select(func.count()).select_from(messages)

#: Messages whose route decision in force (their newest) is unroutable.
UNROUTABLE_NOW = (
    select(func.count())
    .select_from(route_decisions)
    .where(
        route_decisions.c.status == RouteStatus.UNROUTABLE.value,
        ~exists(
            select(_later.c.id)  # the id alone: SQLite's message_id index holds it (a covering probe)
            .where(_later.c.message_id == route_decisions.c.message_id, _later.c.id > route_decisions.c.id)
            .correlate(route_decisions)
        ),
    )
)

#: The statements, by name, for whoever checks their plans.
STATEMENTS: dict[str, Select[Any]] = {
    "deliveries_by_state": DELIVERIES_BY_STATE,
    "messages_total": MESSAGES_TOTAL,
    "unroutable_now": UNROUTABLE_NOW,
}


def read_counts(conn: Connection) -> StateCounts:
    """See :meth:`lienthong.store.Store.counts`."""
    by_target: dict[str, dict[DeliveryState, int]] = {}
    for target, state, count in conn.execute(DELIVERIES_BY_STATE):
        by_target.setdefault(target, {})[DeliveryState(state)] = count
    total = conn.execute(MESSAGES_TOTAL).scalar_one()
    unroutable = conn.execute(UNROUTABLE_NOW).scalar_one()
    return StateCounts(by_target=by_target, unroutable=unroutable, messages=total)
