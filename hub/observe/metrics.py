"""Prometheus metrics: counters kept on the path of messages, and the hub's state read when scraped.

Counted as things happen, in this process (``HubMetrics``): HTTP requests by route and status with
their duration (the intake's latency is the submit route's), messages accepted, delivery attempts by
outcome with the adapter call's duration, retries, and how long a delivered message waited from its
acceptance. Each costs a few microseconds (docs/metrics.md gives the measured numbers): a label set's
child is looked up once and kept, so a request pays one dictionary lookup, one lock and an add.

Read when scraped (``render``): queue depth per adapter and state, dead letters and message counts from
the database (the same in every process sharing it), and each adapter's circuit in this process.

Several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set before the hub starts, prometheus-client
keeps the counters in files there and ``/metrics`` in any process shows the sum over all of them
(its multiprocess mode); without it each process answers for its own counters (docs/metrics.md).
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lienthong.delivery.breaker import BreakerState, BreakerView
from lienthong.envelope import utcnow
from lienthong.errors import HubError
from lienthong.observe.snapshot import HealthSnapshot, ProcessActivity, snapshot
from lienthong.store import Claim, Delivered, Outcome, RetryAt

if TYPE_CHECKING:
    from lienthong.compose import Hub

#: The content type Prometheus scrapes (text exposition format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: An intake answers in milliseconds (it commits and fsyncs before its 202).
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: A ministry call: tens of milliseconds to its timeout.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: From acceptance to delivery: at once, or after an outage of hours.
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)


def outcome_name(outcome: Outcome) -> str:
    """``delivered``, ``retry`` (failed, due again) or ``dead`` (given up on: a dead letter)."""
    if isinstance(outcome, Delivered):
        return "delivered"
    return "retry" if isinstance(outcome, RetryAt) else "dead"


class HubMetrics:
    """This process's counters, in a registry of its own (several hubs may live in one test process)."""

    def __init__(self) -> None:
        self.started_at = utcnow()
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "lienthong_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "lienthong_http_request_duration_seconds",
            "Time from a request's arrival to its answer's last byte; the intake latency is "
            'route="/api/v1/messages".',
            ["route", "method"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.accepted = Counter(
            "lienthong_messages_accepted",
            "Messages accepted and stored (duplicates not counted), any channel.",
            registry=r,
        )
        self.attempts = Counter(
            "lienthong_delivery_attempts",
            "Delivery attempts by adapter and outcome: delivered, retry (failed, due again) or dead.",
            ["adapter", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "lienthong_delivery_retries",
            "Delivery attempts that were not a delivery's first.",
            ["adapter"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "lienthong_delivery_call_duration_seconds",
            "Duration of one call to the ministry's system.",
            ["adapter"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.wait_seconds = Histogram(
            "lienthong_delivery_latency_seconds",
            "From a message's acceptance to its delivery to this adapter (retries and outages included).",
            ["adapter"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self._children: dict[tuple[str, str, str], tuple[Callable[[], None], Callable[[float], None]]] = {}
        self._attempt_children: dict[
            tuple[str, str],
            tuple[Callable[[], None], Callable[[float], None], Callable[[], None], Callable[[float], None]],
        ] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the hot path

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered. The children of a label set are kept: a label lookup costs more
        than the increment itself."""
        key = (route, method, str(status))
        children = self._children.get(key)
        if children is None:
            with self._lock:
                children = (
                    self.requests.labels(route, method, key[2]).inc,
                    self.request_seconds.labels(route, method).observe,
                )
                self._children[key] = children
        children[0]()
        children[1](seconds)

    def attempted(self, claim: Claim, outcome: Outcome, seconds: float) -> None:
        """One delivery attempt decided (the workers call this; see ``DeliveryWorkers``)."""
        name = outcome_name(outcome)
        key = (claim.target, name)
        children = self._attempt_children.get(key)
        if children is None:
            with self._lock:
                children = (
                    self.attempts.labels(claim.target, name).inc,
                    self.call_seconds.labels(claim.target).observe,
                    self.retries.labels(claim.target).inc,
                    self.wait_seconds.labels(claim.target).observe,
                )
                self._attempt_children[key] = children
        children[0]()
        children[1](seconds)
        if claim.attempt > 1:
            children[2]()
        if name == "delivered":
            waited = (utcnow() - claim.envelope.received_at).total_seconds()
            children[3](max(waited, 0.0))

    # ------------------------------------------------------------------ reading

    def activity(self) -> ProcessActivity:
        """This process's counters as plain numbers, for the dashboard."""
        accepted = refused = 0
        attempts: dict[str, int] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "lienthong_messages_accepted_total":
                    accepted += int(sample.value)
                elif sample.name == "lienthong_http_requests_total" and sample.labels["status"][0] == "4":
                    refused += int(sample.value)
                elif sample.name == "lienthong_delivery_attempts_total":
                    outcome = sample.labels["outcome"]
                    attempts[outcome] = attempts.get(outcome, 0) + int(sample.value)
        return ProcessActivity(
            started_at=self.started_at, accepted=accepted, refused=refused, attempts=attempts
        )

    def render(self, hub: Hub) -> bytes:
        """The exposition text: the counters (this process's, or every process's in multiprocess mode)
        followed by the state read now. While the database is down the counters still answer and
        ``lienthong_database_up`` says 0."""
        counters = self.registry
        if os.environ.get(MULTIPROC_ENV):
            counters = CollectorRegistry()
            _SizedFilesCollector(counters)  # type: ignore[no-untyped-call]
        state = CollectorRegistry()
        state.register(StateCollector(hub))
        return generate_latest(counters) + generate_latest(state)


class _SizedFilesCollector(MultiProcessCollector):
    """Every process's counters, from the files of the multiprocess directory that have their size.

    A process writing its first sample creates its file and then sizes it; a scrape between the two
    found it empty, and prometheus_client's reader failed on it (``struct.error``): ``/metrics``
    answered 500 while a worker process started delivering (seen in tests/e2e/test_metrics_processes.py).
    An empty file holds no sample yet, so it is left out; once it has a size it keeps it."""

    def collect(self) -> Iterable[Metric]:
        files = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            try:
                if os.path.getsize(path) > 0:
                    files.append(path)
            except FileNotFoundError:
                continue  # a 'live' gauge's file removed meanwhile (the library skips those too)
        return self.merge(files, accumulate=True)  # type: ignore[no-any-return,no-untyped-call]


class StateCollector:
    """The hub's state as gauges, read from one snapshot when scraped."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("lienthong_database_up", "1 when the database answered this scrape.")
        try:
            snap = snapshot(self.hub)
        except HubError:
            up.add_metric([], 0)
            yield up
            yield from _circuits(self.hub.workers.breakers().items())
            return
        up.add_metric([], 1)
        yield up
        yield from _state(snap)
        yield from _circuits((n, a.circuit) for n, a in snap.adapters.items() if a.circuit is not None)


def _state(snap: HealthSnapshot) -> Iterator[Metric]:
    messages = GaugeMetricFamily("lienthong_messages", "Messages held in the database.")
    messages.add_metric([], snap.messages)
    unroutable = GaugeMetricFamily("lienthong_messages_unroutable", "Messages no route matched.")
    unroutable.add_metric([], snap.unroutable)
    deliveries = GaugeMetricFamily(
        "lienthong_deliveries",
        "Deliveries by adapter and state (queued, in-flight, failed, delivered, dead).",
        labels=["adapter", "state"],
    )
    depth = GaugeMetricFamily(
        "lienthong_queue_depth",
        "Deliveries still to be made (queued, in-flight or failed and due again).",
        labels=["adapter"],
    )
    dead = GaugeMetricFamily(
        "lienthong_dead_letters", "Deliveries given up on, waiting for a replay.", labels=["adapter"]
    )
    for name, adapter in snap.adapters.items():
        for state, count in adapter.deliveries.items():
            deliveries.add_metric([name, state.value], count)
        depth.add_metric([name], adapter.queue_depth)
        dead.add_metric([name], adapter.dead)
    yield from (messages, unroutable, deliveries, depth, dead)


def _circuits(breakers: Iterable[tuple[str, BreakerView]]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "lienthong_circuit_state",
        "Each adapter's circuit in this process: 1 for its current state (closed, open, half-open).",
        labels=["adapter", "state"],
    )
    failures = GaugeMetricFamily(
        "lienthong_circuit_consecutive_failures",
        "Consecutive failed calls to the adapter in this process.",
        labels=["adapter"],
    )
    for name, view in sorted(breakers, key=lambda item: item[0]):
        for each in BreakerState:
            state.add_metric([name, each.value], 1 if each is view.state else 0)
        failures.add_metric([name], view.consecutive_failures)
    yield state
    yield failures


#: Methods counted by name; any other token a client sends is ``other`` (a series per invented
#: method would let anyone grow the scrape).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never the raw path: ids would make
    a series each), outside the routes' error handlers, so it counts the status they answered; an
    error that escapes them all is counted as the 500 it becomes."""

    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.answered(route, method, status, time.perf_counter() - start)
