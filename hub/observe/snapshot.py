"""One read of the hub's state for dashboards: queue depth per adapter and state, dead letters, each
adapter's circuit, and what this process has done since it started.

The counts come from the database, so every hub process sharing it shows the same queues; circuits and
activity are this process's own (a breaker is per process, see ``delivery/breaker.py``). The console's
dashboard, ``/metrics`` and ``/readyz`` all read this, so they never disagree about what they show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lienthong.delivery.breaker import BreakerState, BreakerView
from lienthong.envelope import utcnow
from lienthong.store import DeliveryState

if TYPE_CHECKING:
    from lienthong.compose import Hub

#: States a delivery still has to leave: what "queue depth" counts.
WAITING = (DeliveryState.QUEUED, DeliveryState.FAILED, DeliveryState.IN_FLIGHT)


@dataclass(frozen=True)
class ProcessActivity:
    """What this process has done since it started (its counters; zero in a process that did nothing)."""

    started_at: datetime
    accepted: int = 0  # messages answered 202 (REST) or accepted over SOAP
    refused: int = 0  # requests answered 4xx
    attempts: dict[str, int] = field(default_factory=dict)  # delivery attempts by outcome

    @property
    def delivered(self) -> int:
        return self.attempts.get("delivered", 0)

    @property
    def failed(self) -> int:
        """Attempts that did not deliver: retried later or given up on."""
        return self.attempts.get("retry", 0) + self.attempts.get("dead", 0)


@dataclass(frozen=True)
class AdapterHealth:
    """One adapter: its deliveries by state (every state, zero included) and its circuit here."""

    name: str
    agency: str | None
    deliveries: dict[DeliveryState, int]
    #: None for a delivery target this hub no longer has an adapter for (its rows are still counted).
    circuit: BreakerView | None

    @property
    def queue_depth(self) -> int:
        return sum(self.deliveries[state] for state in WAITING)

    @property
    def dead(self) -> int:
        return self.deliveries[DeliveryState.DEAD]

    @property
    def healthy(self) -> bool:
        return self.circuit is None or self.circuit.state is BreakerState.CLOSED


@dataclass(frozen=True)
class HealthSnapshot:
    at: datetime
    messages: int
    unroutable: int
    adapters: dict[str, AdapterHealth]  # by name, sorted
    activity: ProcessActivity

    @property
    def queue_depth(self) -> int:
        return sum(a.queue_depth for a in self.adapters.values())

    @property
    def dead_letters(self) -> int:
        return sum(a.dead for a in self.adapters.values())

    @property
    def status(self) -> str:
        """``ok``, or ``degraded`` while some circuit is not closed (the hub still accepts and stores)."""
        return "ok" if all(a.healthy for a in self.adapters.values()) else "degraded"


def snapshot(hub: Hub) -> HealthSnapshot:
    """The hub's state now. Reads the database once (``Store.counts``): raises the store's
    ``StoreUnavailableError`` while it is down, which the HTTP edge answers with 503."""
    counts = hub.store.counts()
    breakers = hub.workers.breakers()
    names = sorted(set(counts.by_target) | set(breakers))
    adapters = {}
    for name in names:
        found = counts.by_target.get(name, {})
        config = hub.config.adapters.get(name)
        adapters[name] = AdapterHealth(
            name=name,
            agency=None if config is None else config.agency,
            deliveries={state: found.get(state, 0) for state in DeliveryState},
            circuit=breakers.get(name),
        )
    metrics = getattr(hub, "metrics", None)
    activity = metrics.activity() if metrics is not None else ProcessActivity(started_at=utcnow())
    return HealthSnapshot(
        at=utcnow(),
        messages=counts.messages,
        unroutable=counts.unroutable,
        adapters=adapters,
        activity=activity,
    )
