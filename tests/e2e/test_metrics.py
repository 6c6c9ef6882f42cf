"""What Prometheus and a load balancer see: ``/metrics`` after real deliveries and during an outage,
``/readyz`` when the database, the schema or the workers fail.

Every hub is served by uvicorn on loopback and delivers to the land registry simulator; the scrapes
are parsed with prometheus-client's own parser, as Prometheus would read them, by a client holding no
API key (a scraper has none).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from support import wait_until
from test_faults import Proxy, dossier

from lienthong.store.migrate import upgrade
from lienthong.store.sql import create_store_engine

HubFactory = Callable[..., Any]
PROBLEM_JSON = "application/problem+json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(hub: Any) -> Samples:
    """Every sample of ``/metrics``, by name and labels, fetched without credentials."""
    with httpx.Client(base_url=hub.url, timeout=10) as anonymous:
        response = anonymous.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"{s.name}{s.labels} appears twice"
            samples[key] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}; have {sorted(k[0] for k in samples)}"
    return samples[key]


def readyz(hub: Any) -> httpx.Response:
    with httpx.Client(base_url=hub.url, timeout=30) as anonymous:
        return anonymous.get("/readyz")


def test_metrics_after_dossiers_are_delivered(hub_server: Any, land_sim: Any) -> None:
    land_sim.faults(fail_next=1, mode="503")  # one attempt fails: one retry
    ids = [hub_server.submit(dossier(i)).json()["message_id"] for i in range(3)]
    for message_id in ids:
        hub_server.wait(message_id)

    # Neither an unknown path nor a method outside the counted set makes a series of its own. (A
    # made-up token such as BREW never reaches the app: uvicorn's HTTP parser answers it 400 itself.)
    for path in ("/coffee/1", "/coffee/2"):
        assert hub_server.client.request("PURGE", path).status_code == 404

    m = scrape(hub_server)

    assert value(m, "lienthong_http_requests_total", route="unmatched", method="other", status="404") == 2
    assert value(m, "lienthong_messages_accepted_total") == 3
    submit = {"route": "/api/v1/messages", "method": "POST"}
    assert value(m, "lienthong_http_requests_total", **submit, status="202") == 3
    assert value(m, "lienthong_http_request_duration_seconds_count", **submit) == 3
    assert value(m, "lienthong_http_request_duration_seconds_bucket", **submit, le="+Inf") == 3
    assert value(m, "lienthong_http_request_duration_seconds_sum", **submit) > 0
    # The status polls are counted under their route's template, never under each message's path.
    polls = value(
        m, "lienthong_http_requests_total", route="/api/v1/messages/{message_id}", method="GET", status="200"
    )
    assert polls >= 3
    assert not any(ids[0] in dict(labels).get("route", "") for _, labels in m)

    assert value(m, "lienthong_delivery_attempts_total", adapter="land", outcome="delivered") == 3
    assert value(m, "lienthong_delivery_attempts_total", adapter="land", outcome="retry") == 1
    assert value(m, "lienthong_delivery_retries_total", adapter="land") == 1
    assert value(m, "lienthong_delivery_call_duration_seconds_count", adapter="land") == 4
    assert value(m, "lienthong_delivery_latency_seconds_count", adapter="land") == 3

    assert value(m, "lienthong_database_up") == 1
    assert value(m, "lienthong_messages") == 3
    assert value(m, "lienthong_deliveries", adapter="land", state="delivered") == 3
    for state in ("queued", "in-flight", "failed", "dead"):
        assert value(m, "lienthong_deliveries", adapter="land", state=state) == 0
    assert value(m, "lienthong_queue_depth", adapter="land") == 0
    assert value(m, "lienthong_dead_letters", adapter="land") == 0
    assert value(m, "lienthong_circuit_state", adapter="land", state="closed") == 1
    assert value(m, "lienthong_circuit_state", adapter="land", state="open") == 0


def test_a_ministry_down_shows_as_dead_letters_a_queue_and_an_open_circuit(
    hub_factory: HubFactory, land_sim: Any
) -> None:
    hub = hub_factory(breaker={"failure_threshold": 2, "reset_after": "1h"}, workers={"count": 1})
    land_sim.faults(reject_next=1)  # the registry refuses the first dossier's data: a dead letter
    rejected = hub.submit(dossier(0)).json()["message_id"]
    hub.wait(rejected, ["dead"])

    land_sim.faults(outage_seconds=3600, mode="503")
    waiting = [hub.submit(dossier(i)).json()["message_id"] for i in (1, 2, 3)]

    def circuit_open() -> Samples | None:
        m = scrape(hub)
        return m if value(m, "lienthong_circuit_state", adapter="land", state="open") == 1 else None

    m = wait_until(circuit_open, timeout=20, what="/metrics to show the land circuit open")

    assert value(m, "lienthong_dead_letters", adapter="land") == 1
    assert value(m, "lienthong_deliveries", adapter="land", state="dead") == 1
    assert value(m, "lienthong_delivery_attempts_total", adapter="land", outcome="dead") == 1
    assert value(m, "lienthong_delivery_attempts_total", adapter="land", outcome="retry") == 2
    assert value(m, "lienthong_queue_depth", adapter="land") == len(waiting)
    assert value(m, "lienthong_circuit_state", adapter="land", state="closed") == 0
    assert value(m, "lienthong_circuit_consecutive_failures", adapter="land") == 2
    assert value(m, "lienthong_messages_accepted_total") == 4
    # A ministry down is not the hub down: it still accepts, stores and queues.
    assert readyz(hub).status_code == 200
    assert land_sim.stats()["unique"] == 0


def test_readyz_says_ready_without_credentials(hub_server: Any) -> None:
    response = readyz(hub_server)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "schema": True,
        "workers": True,
    }
    assert body["checks"]["workers"]["detail"] == "4 threads running"


def test_readyz_is_503_while_the_schema_is_behind_the_code(hub_server: Any) -> None:
    engine = hub_server.hub.store.engine
    with engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    try:
        response = readyz(hub_server)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    problem = _not_ready(response)
    assert problem["checks"]["database"]["ok"] is True
    assert problem["checks"]["schema"] == {
        "ok": False,
        "detail": f"at 0004, the hub needs {head}: run 'hub db upgrade'",
    }
    assert readyz(hub_server).status_code == 200


def test_readyz_is_503_once_the_workers_have_stopped(hub_server: Any) -> None:
    hub_server.hub.workers.stop()
    problem = _not_ready(readyz(hub_server))
    assert problem["checks"]["workers"] == {
        "ok": False,
        "detail": "the delivery workers of this process have stopped",
    }
    assert "workers: the delivery workers of this process have stopped" in problem["detail"]


@pytest.fixture
def pg_proxied_hub(
    pg_url: str, hub_factory: HubFactory, project_factory: Callable[..., Any], land_sim: Any
) -> Iterator[tuple[Any, Proxy]]:
    """A hub on PostgreSQL reached through a proxy the test can cut (the database gone)."""
    engine = create_store_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    proxy = Proxy(("127.0.0.1", 5432))
    name = f"hub-{uuid.uuid4().hex[:10]}"
    proxied = pg_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/") + f"&application_name={name}"
    project = project_factory(land_sim.url)
    project.update("hub.yaml", {"database": {"url": proxied}})
    try:
        yield hub_factory(project), proxy
    finally:
        proxy.cut()


@pytest.mark.postgres
def test_readyz_is_503_while_the_database_is_gone_and_ready_again_when_it_is_back(
    pg_proxied_hub: tuple[Any, Proxy],
) -> None:
    hub, proxy = pg_proxied_hub
    assert readyz(hub).status_code == 200
    proxy.cut()

    problem = _not_ready(readyz(hub))
    assert problem["checks"]["database"]["ok"] is False
    assert problem["checks"]["database"]["detail"].startswith("unreachable: ")
    assert problem["checks"]["schema"]["ok"] is False
    assert problem["detail"].startswith("database: unreachable: ")
    # /metrics still answers: this process's counters, and the database said to be down.
    m = scrape(hub)
    assert value(m, "lienthong_database_up") == 0
    assert value(m, "lienthong_circuit_state", adapter="land", state="closed") == 1
    assert ("lienthong_queue_depth", frozenset({("adapter", "land")})) not in m

    proxy.restore()
    wait_until(lambda: readyz(hub).status_code == 200, timeout=20, what="/readyz to say ready again")
    assert value(scrape(hub), "lienthong_database_up") == 1


def _not_ready(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) > 0
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "urn:lienthong:problem:not-ready"
    assert problem["title"] == "Trục chưa sẵn sàng / Hub not ready"
    assert problem["status"] == 503
    return problem
