"""Faults answer well, show, and heal: a database that breaks, a ministry that is down, a slow call.

Every hub here is served by uvicorn on loopback and delivers to the land registry simulator. What is
asserted is what a caller sees (HTTP status, Retry-After, problem+json or SOAP Fault bytes), what an
operator sees (``/healthz``, WARNING lines at the default log level, the attempt history) and what
reaches the registry (no lost message, no duplicate).

Database faults are real ones: SQLite's own page limit ("database or disk is full", SQLITE_FULL, the
error a full disk gives), and a PostgreSQL server that vanishes behind a TCP proxy and comes back
(every pooled connection dead, new ones refused), or whose connections are terminated.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime
from typing import Any

import httpx
import pytest
from soap_support import HUB_ENVIRON, VERSIONS, ack, envelope, fault, fault_detail, post, status_update
from sqlalchemy import Engine, event, text
from support import LOOPBACK, free_port, wait_until

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.store.migrate import upgrade
from lienthong.store.sql import create_store_engine

PROBLEM_JSON = "application/problem+json"
LT = "{urn:lienthong:hub:1}"
HubFactory = Callable[..., Any]


def dossier(index: int) -> dict[str, object]:
    s = sample_dossiers(index + 1)[index]
    return dossier_body(s.dossier_code, s.procedure_code, s.xml)


def histories(hub: Any, message_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for message_id in message_ids:
        (delivery,) = hub.status(message_id)["deliveries"]
        out[message_id] = delivery["history"]
    return out


# ---------------------------------------------------------------- the database breaks


class DiskFull:
    """SQLite's ``max_page_count`` pinned to the file's size on every connection the hub checks out:
    a write that needs a page fails with SQLITE_FULL, "database or disk is full", as on a full disk."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.full = False
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0] if self.full else 1073741823
        cur.execute(f"PRAGMA max_page_count = {pages}")
        cur.close()

    def remove(self) -> None:
        event.remove(self.engine, "checkout", self._checkout)


def assert_unavailable_problem(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) > 0
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "urn:lienthong:problem:store-unavailable"
    assert problem["title"].endswith(" / Database temporarily unavailable")
    assert problem["retry_safe"] is True and problem["retry_after"] == int(response.headers["retry-after"])
    assert "nothing was stored" in problem["detail"] and "same message id" in problem["detail"]
    assert "chưa được lưu" in problem["detail"] and "an toàn" in problem["detail"]  # Vietnamese too
    assert "disk" not in problem["detail"] and "sqlite" not in problem["detail"].lower()  # nothing leaks
    return problem


def test_a_full_disk_is_a_503_with_retry_after_and_the_same_request_is_accepted_after(
    hub_factory: HubFactory, land_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub = hub_factory(environ=HUB_ENVIRON)
    warmup = hub.submit(dossier(0))
    assert warmup.status_code == 202, warmup.text
    hub.wait(warmup.json()["message_id"])
    disk = DiskFull(hub.hub.store.engine)
    body = dossier(1)
    # Larger than a page (4 KiB: 1,900 three-byte letters, within the schema's 2,000 characters), so
    # that storing it needs a new page whatever room the tables' pages have left: a small row can fit
    # in a page a warm-up row began (payloads have tables of their own), which max_page_count allows.
    update = status_update().replace("</dd:NoiDung>", " " + "ẩ" * 1900 + "</dd:NoiDung>")
    soap_requests = {v: envelope(v, update, message_id=f"dkdd-full-{v}") for v in VERSIONS}
    try:
        disk.full = True
        with caplog.at_level(logging.WARNING, logger="lienthong"):
            for _ in range(3):
                assert_unavailable_problem(hub.submit(body))
            for version, request in soap_requests.items():
                answer = post(hub.client, version, request)
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["retry-after"]) > 0
                got = fault(answer)
                assert got.code == {"soap11": "Server", "soap12": "Receiver"}[version]
                assert "database is temporarily unavailable; nothing was stored" in got.reason
                detail = fault_detail(answer)
                assert detail.findtext(f"{LT}code") == "store-unavailable"
                assert detail.findtext(f"{LT}retryAfter") == answer.headers["retry-after"]
                assert "same message id" in (detail.findtext(f"{LT}message") or "")
        outage_lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
        assert len(outage_lines) == 1, [r.getMessage() for r in caplog.records]  # once, not per request
        assert "database or disk is full" in outage_lines[0].getMessage()

        disk.full = False  # space freed
        accepted = hub.submit(body)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["duplicate"] is False  # it was not stored the first time
        hub.wait(accepted.json()["message_id"])
        for version, request in soap_requests.items():
            answer = post(hub.client, version, request)
            assert answer.status_code == 200, answer.text
            assert ack(answer)["duplicate"] == "false"
    finally:
        disk.remove()
    assert any("database available again" in r.getMessage() for r in caplog.records)
    assert hub.count_messages() == 4
    assert land_sim.stats()["unique"] == 2


class Proxy:
    """A TCP proxy on loopback in front of PostgreSQL: ``cut`` drops every connection and refuses new
    ones, as a server that is restarting does; ``restore`` lets connections through again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        for s in [listener, *sockets]:
            if s is not None:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def pg_hub(
    pg_url: str, hub_factory: HubFactory, project_factory: Callable[..., Any], land_sim: Any
) -> Iterator[tuple[Any, Proxy, str]]:
    """A hub on its own PostgreSQL schema, reached through a proxy the test can cut."""
    engine = create_store_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    proxy = Proxy(("127.0.0.1", 5432))
    name = f"hub-{uuid.uuid4().hex[:10]}"
    proxied = pg_url.replace("@127.0.0.1:5432/", f"@{LOOPBACK}:{proxy.port}/") + f"&application_name={name}"
    project = project_factory(land_sim.url)
    project.update("hub.yaml", {"database": {"url": proxied}})
    try:
        yield hub_factory(project), proxy, name
    finally:
        proxy.cut()


@pytest.mark.postgres
def test_postgresql_going_away_is_a_503_and_the_hub_heals_when_it_is_back(
    pg_hub: tuple[Any, Proxy, str], land_sim: Any
) -> None:
    hub, proxy, _ = pg_hub
    first = hub.submit(dossier(0))
    assert first.status_code == 202, first.text
    hub.wait(first.json()["message_id"])

    proxy.cut()  # the server restarts: pooled connections are dead, new ones refused
    assert_unavailable_problem(hub.submit(dossier(1)))
    health = hub.client.get("/healthz")
    assert health.status_code == 503 and health.headers["content-type"] == PROBLEM_JSON

    proxy.restore()
    again = hub.submit(dossier(1))  # the same submission, as the caller was told it may
    assert again.status_code == 202, again.text
    assert again.json()["duplicate"] is False
    hub.wait(again.json()["message_id"])
    assert hub.client.get("/healthz").json()["status"] == "ok"
    assert (land_sim.stats()["unique"], land_sim.stats()["duplicates"]) == (2, 0)


@pytest.mark.postgres
def test_terminated_connections_are_replaced_without_a_failed_request(
    pg_url: str, pg_hub: tuple[Any, Proxy, str]
) -> None:
    hub, _, name = pg_hub
    for i in range(3):
        assert hub.submit(dossier(i)).status_code == 202
    admin = create_store_engine(pg_url)
    try:
        with admin.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :n"
                ),
                {"n": name},
            ).scalar_one()
    finally:
        admin.dispose()
    assert killed >= 1
    for i in range(3, 6):
        response = hub.submit(dossier(i))
        assert response.status_code == 202, response.text
    assert hub.client.get("/healthz").status_code == 200


# ---------------------------------------------------------------- a ministry is down


def test_an_outage_shows_in_healthz_and_at_warning_level(
    hub_factory: HubFactory, land_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lienthong")
    hub = hub_factory(breaker={"failure_threshold": 2, "reset_after": "1s"}, workers={"count": 1})
    health = hub.client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["adapters"]["land"] == {
        "circuit": "closed",
        "since": None,
        "consecutive_failures": 0,
        "last_error": None,
    }
    land_sim.faults(outage_seconds=3, mode="503")
    ids = [hub.submit(dossier(i)).json()["message_id"] for i in range(3)]

    def degraded() -> dict[str, Any] | None:
        response = hub.client.get("/healthz")
        assert response.status_code == 200  # liveness: the hub still accepts and stores
        body: dict[str, Any] = response.json()
        return body if body["status"] == "degraded" else None

    seen = wait_until(degraded, timeout=10, what="/healthz to report the open circuit")
    land = seen["adapters"]["land"]
    assert land["circuit"] in ("open", "half-open")
    assert land["consecutive_failures"] >= 2
    assert f"HTTP 503 from {land_sim.url}" in land["last_error"]
    assert datetime.fromisoformat(land["since"]).tzinfo is not None

    for message_id in ids:
        hub.wait(message_id, timeout=30)
    health = hub.client.get("/healthz").json()
    assert health["status"] == "ok" and health["adapters"]["land"]["circuit"] == "closed"
    assert health["adapters"]["land"]["since"] is not None  # when it closed again

    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("circuit for land opened after 2 consecutive failed calls" in m for m in messages), messages
    assert any("HTTP 503" in m and "deliveries to land failing" in m for m in messages), messages
    assert any("circuit for land closed" in m and "outage lasted" in m for m in messages), messages
    # Shown, not flooded: a few lines per trial period, not one per retry.
    assert len(messages) <= 12, messages


def test_a_circuit_trial_leaves_no_false_attempt_in_the_history(
    hub_factory: HubFactory, land_sim: Any
) -> None:
    # Several threads, so that the dispatcher has free slots while the trial call is being made:
    # it must not claim a second delivery for the half-open circuit (which it could only hand back).
    hub = hub_factory(breaker={"failure_threshold": 1, "reset_after": "200ms"}, workers={"count": 4})
    land_sim.faults(outage_seconds=3, mode="503")
    ids = [hub.submit(dossier(0)).json()["message_id"]]
    wait_until(lambda: land_sim.stats()["faults_served"] >= 1, timeout=10, what="the circuit to open")
    # Submitted while the circuit is open: from now on each is claimed only as a trial, or once closed.
    ids += [hub.submit(dossier(i)).json()["message_id"] for i in range(1, 6)]
    for message_id in ids:
        hub.wait(message_id, timeout=40)

    found = histories(hub, ids)
    for message_id, history in found.items():
        for attempt in history:
            # Every attempt recorded was a call the registry answered: refused in the outage, or
            # delivered. None was "released" unsent.
            assert attempt["outcome"] in ("retry", "delivered"), (message_id, history)
        assert history[-1]["outcome"] == "delivered"
    stats = land_sim.stats()
    attempts = sum(len(h) for h in found.values())
    assert stats["total"] == attempts, (stats, attempts)  # every recorded attempt was a call made
    assert stats["faults_served"] >= 5  # there were trials (one per 200 ms of a 3 s outage)
    assert (stats["unique"], stats["duplicates"]) == (6, 0)


# ---------------------------------------------------------------- a slow call and a short lease


def test_a_call_longer_than_the_lease_keeps_its_claim(hub_factory: HubFactory, land_sim: Any) -> None:
    # A 1 s lease, renewed by the heartbeat; a call of 2.5 s, allowed by a 5 s adapter timeout.
    hub = hub_factory(workers={"lease": "1s", "count": 2}, land={"timeout": "5s"})
    land_sim.faults(latency=2.5)
    started = time.monotonic()
    message_id = hub.submit(dossier(0)).json()["message_id"]
    view = hub.wait(message_id, timeout=20)
    assert time.monotonic() - started >= 2.5
    (delivery,) = view["deliveries"]
    assert [a["outcome"] for a in delivery["history"]] == ["delivered"]  # never taken over
    stats = land_sim.stats()
    assert (stats["total"], stats["unique"], stats["duplicates"]) == (1, 1, 0)
