"""The snapshot the dashboard and ``/metrics`` share, and readiness, on an in-memory hub (no sockets):
the numbers follow the deliveries the workers really made through the land adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families
from test_soap_delivery import _hub, _run_due, plain, registry

from lienthong.delivery.breaker import BreakerState
from lienthong.observe import snapshot
from lienthong.observe.metrics import MULTIPROC_ENV
from lienthong.observe.ready import readiness
from lienthong.store import DeliveryState


def test_the_snapshot_counts_each_state_and_this_process_activity() -> None:
    hub = _hub([plain(503), registry])  # one failed attempt, then delivered
    try:
        before = snapshot(hub)
        land = before.adapters["land"]
        assert land.deliveries == {s: 1 if s is DeliveryState.QUEUED else 0 for s in DeliveryState}
        assert (before.queue_depth, before.dead_letters, before.messages) == (1, 0, 1)
        assert land.circuit is not None and land.circuit.state is BreakerState.CLOSED
        assert before.status == "ok"
        assert before.activity.accepted == 1

        _run_due(hub)

        after = snapshot(hub)
        assert after.adapters["land"].deliveries[DeliveryState.DELIVERED] == 1
        assert (after.queue_depth, after.dead_letters) == (0, 0)
        assert after.activity.attempts == {"retry": 1, "delivered": 1}
        assert (after.activity.delivered, after.activity.failed) == (1, 1)
    finally:
        hub.close()


def test_a_dead_letter_and_the_rendered_metrics_agree_with_the_snapshot() -> None:
    hub = _hub([plain(503), plain(503), plain(503)])  # max_attempts 3: the third failure is dead
    try:
        _run_due(hub)
        snap = snapshot(hub)
        assert snap.dead_letters == 1
        assert snap.activity.attempts == {"retry": 2, "dead": 1}
        text = hub.metrics.render(hub).decode()
    finally:
        hub.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("lienthong_dead_letters", (("adapter", "land"),))] == 1
    assert samples[("lienthong_delivery_attempts_total", (("adapter", "land"), ("outcome", "dead")))] == 1
    assert samples[("lienthong_delivery_retries_total", (("adapter", "land"),))] == 2
    assert samples[("lienthong_messages_accepted_total", ())] == 1
    assert samples[("lienthong_database_up", ())] == 1


def test_a_hub_without_a_database_or_workers_of_its_own_is_ready() -> None:
    hub = _hub([])
    try:
        checks = {c.name: (c.ok, c.detail) for c in readiness(hub)}
    finally:
        hub.close()
    assert checks == {
        "database": (True, "in-memory store"),
        "workers": (True, "none run by this process"),
    }


def test_every_process_counters_are_rendered_while_another_process_creates_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Multiprocess mode: a process writing its first sample creates its file, then sizes it. A
    scrape in between still answers, with every counter written so far (it answered 500 before)."""
    worker = MmapedDict(str(tmp_path / "counter_4242.db"))  # type: ignore[no-untyped-call]
    key = mmap_key(
        "lienthong_delivery_attempts_total",
        "lienthong_delivery_attempts_total",
        ["adapter", "outcome"],
        ["land", "delivered"],
        "Delivery attempts",
    )
    worker.write_value(key, 7.0, 0.0)  # type: ignore[no-untyped-call]
    worker.close()  # type: ignore[no-untyped-call]
    (tmp_path / "counter_4343.db").touch()  # created by a process that has not sized it yet
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    hub = _hub([])
    try:
        text = hub.metrics.render(hub).decode()
    finally:
        hub.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert (
        samples[("lienthong_delivery_attempts_total", (("adapter", "land"), ("outcome", "delivered")))] == 7
    )
