"""A hub process killed or stopped in the middle of deliveries loses nothing.

``hub serve`` runs as a real process on a SQLite file, delivering to the land registry simulator
(a SOAP service that remembers every message id, so duplicates are visible). The simulator answers
slowly, so deliveries are in flight when the hub is stopped:

* SIGKILL: the in-flight attempts die with the process, and with it the heartbeat that renewed their
  leases. After a restart they are taken over within about one lease of the kill ('released',
  'lease expired' in the history) and delivered. Every accepted message
  reaches the registry; a message sent twice is one whose first attempt was cut by the crash.
* SIGTERM: the hub stops claiming, finishes what it is sending within the grace period, exits 0 and
  leaves nothing in flight. A restart delivers the rest, and nothing is sent twice.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from land_support import SIMULATOR
from support import (
    LOOPBACK,
    MOTCUA_HEADERS,
    ProcessGroup,
    attempt_rows,
    build_config_dir,
    database,
    delivery_rows,
    delivery_states,
    free_port,
    health_counts,
    hub_env,
    sqlite_url,
    start_serve,
    submit_samples,
    wait_until,
)

from lienthong.devtools.simulator import SimulatorServer

pytestmark = pytest.mark.slow

COUNT = 60
LATENCY = 0.3  # seconds the registry takes per call: deliveries are in flight most of the time
SUBMIT_LATENCY = 1.0  # slower while dossiers are submitted, so most are still queued afterwards
LEASE = 3.0  # shorter than the land timeout below: the heartbeat renews it while a call runs
GRACE = 5.0  # > LATENCY: a graceful stop lets running deliveries finish


@dataclass
class Setup:
    config: Path
    env: dict[str, str]
    db_url: str
    api: httpx.Client
    sim: httpx.Client
    group: ProcessGroup

    def serve(self) -> subprocess.Popen[bytes]:
        return start_serve(self.group, self.config, self.env, port=self.api_port).popen

    @property
    def api_port(self) -> int:
        assert self.api.base_url.port is not None
        return self.api.base_url.port

    def submit(self) -> list[str]:
        """Submit the samples while the registry is slow, then let it answer at its normal pace."""
        self.sim.put("/_sim/faults", json={"latency": SUBMIT_LATENCY}).raise_for_status()
        accepted = submit_samples(str(self.api.base_url), COUNT)
        self.sim.put("/_sim/faults", json={"latency": LATENCY}).raise_for_status()
        assert len(set(accepted)) == COUNT
        return accepted

    def wait_mid_delivery(self) -> None:
        """Until some are delivered, many are still to go and at least one call is under way."""

        def mid_delivery() -> bool:
            counts = health_counts(self.api)
            assert counts["delivered"] <= COUNT - 10, f"too late to interrupt anything: {counts}"
            return counts["delivered"] >= 5 and counts["in-flight"] > 0

        wait_until(mid_delivery, timeout=30, what="deliveries to be under way")


@contextmanager
def running_setup(tmp_path: Path) -> Iterator[Setup]:
    """A slow land registry simulator (in this process: it outlives every hub) and a hub config."""
    port = free_port()
    config = build_config_dir(
        tmp_path / "config",
        hub={
            "api": {"port": port},
            "workers": {
                "count": 4,
                "batch_size": 4,
                "poll_interval": "100ms",
                "lease": f"{LEASE}s",
                "shutdown_grace": f"{GRACE}s",
            },
        },
        # Longer than the lease (allowed: the heartbeat renews a live call's claim); far above the
        # simulator's latency, so no call times out on a busy machine.
        land={"timeout": "5s", "connect_timeout": "500ms"},
    )
    db_url = sqlite_url(tmp_path / "hub.db")
    with (
        SimulatorServer(SIMULATOR) as simulator,
        httpx.Client(base_url=simulator.base_url, timeout=10) as sim,
        httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=10, headers=MOTCUA_HEADERS) as api,
        ProcessGroup(tmp_path / "logs") as group,
    ):
        env = hub_env(database_url=db_url, land_endpoint=simulator.url)
        yield Setup(config=config, env=env, db_url=db_url, api=api, sim=sim, group=group)


def _all_delivered(api: httpx.Client) -> bool:
    return health_counts(api)["delivered"] == COUNT


def _history(api: httpx.Client, message_id: str) -> list[dict[str, object]]:
    response = api.get(f"/api/v1/messages/{message_id}")
    response.raise_for_status()
    (delivery,) = response.json()["deliveries"]
    assert delivery["target"] == "land"
    assert delivery["state"] == "delivered", (message_id, delivery)
    history: list[dict[str, object]] = delivery["history"]
    assert history[-1]["outcome"] == "delivered", (message_id, history)
    assert all(a["outcome"] is not None for a in history), (message_id, history)
    return history


def _lease_expired(attempt: dict[str, object]) -> bool:
    return attempt["outcome"] == "released" and "lease expired" in str(attempt["error"])


def test_sigkill_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    with running_setup(tmp_path) as s:
        first = s.serve()
        accepted = s.submit()
        s.wait_mid_delivery()
        first.kill()  # SIGKILL: no shutdown code runs, as when the machine loses power
        killed_at = time.monotonic()
        first.wait(10)
        assert first.returncode == -signal.SIGKILL

        with database(s.db_url) as db:
            at_kill = delivery_states(db)
        assert at_kill["in-flight"] >= 1, f"nothing was in flight at the kill: {at_kill}"
        assert at_kill["delivered"] < COUNT, at_kill
        assert sum(at_kill.values()) == COUNT, at_kill  # every 202 was committed before it was sent

        s.serve()  # same config, same database

        def taken_over() -> bool:
            with database(s.db_url) as db:
                expired = [a for a in attempt_rows(db) if "lease expired" in str(a["error"])]
            return len(expired) >= at_kill["in-flight"]

        wait_until(taken_over, timeout=60, what="the crashed process's deliveries to be taken over")
        # One lease after the last heartbeat, plus the restart of the process: not minutes.
        assert time.monotonic() - killed_at < LEASE + 12
        wait_until(lambda: _all_delivered(s.api), timeout=60, what=f"all {COUNT} deliveries")

        histories = {message_id: _history(s.api, message_id) for message_id in accepted}
        stats = s.sim.get("/_sim/stats").json()
        received = s.sim.get("/_sim/received").json()
        assert stats["unique"] == COUNT, stats  # none lost
        assert {r["message_id"] for r in received} == set(accepted)
        assert all(r["outcome"] == "accepted" for r in received), received
        duplicates = {r["message_id"]: r["count"] for r in received if r["count"] > 1}
        assert stats["total"] - stats["unique"] == stats["duplicates"], stats
        assert sum(n - 1 for n in duplicates.values()) == stats["duplicates"], (duplicates, stats)

        # Taken over after the crash: exactly the deliveries in flight when the process died.
        expired = {m for m, h in histories.items() if any(_lease_expired(a) for a in h)}
        assert len(expired) == at_kill["in-flight"], (expired, at_kill)
        for message_id, count in duplicates.items():
            history = histories[message_id]
            # Sent again only because an earlier attempt's worker died before it could record the
            # answer: each repeat follows an attempt taken over after its lease expired.
            assert history[-2:-1] and _lease_expired(history[-2]), (message_id, history)
            assert sum(_lease_expired(a) for a in history) >= count - 1, (message_id, history)
        for message_id in set(accepted) - expired:
            assert len(histories[message_id]) == 1, histories[message_id]
            assert message_id not in duplicates

        with database(s.db_url) as db:
            rows = delivery_rows(db)
        assert {r["message_id"] for r in rows} == set(accepted)
        assert all(r["claimed_by"] is None and r["lease_until"] is None for r in rows), rows


def test_sigterm_finishes_in_flight_and_exits_cleanly(tmp_path: Path) -> None:
    with running_setup(tmp_path) as s:
        first = s.serve()
        accepted = s.submit()
        s.wait_mid_delivery()
        stopped_at = time.monotonic()
        first.send_signal(signal.SIGTERM)
        code = first.wait(GRACE + 10)
        took = time.monotonic() - stopped_at
        assert code == 0, f"hub serve exited with {code} after SIGTERM"
        assert took < GRACE, f"graceful stop took {took:.1f}s, longer than the grace period"

        with database(s.db_url) as db:
            rows = delivery_rows(db)
        states = {r["state"] for r in rows}
        assert len(rows) == COUNT
        assert "in-flight" not in states, [r for r in rows if r["state"] == "in-flight"]
        assert states <= {"delivered", "queued"}, states
        assert all(r["claimed_by"] is None and r["lease_until"] is None for r in rows), rows
        delivered_before = sum(r["state"] == "delivered" for r in rows)
        assert 0 < delivered_before < COUNT, delivered_before

        s.serve()
        wait_until(lambda: _all_delivered(s.api), timeout=60, what=f"all {COUNT} deliveries")
        for message_id in accepted:
            history = _history(s.api, message_id)
            # A graceful stop never leaves work to be taken over: no lease ever expired.
            assert not any(_lease_expired(a) for a in history), (message_id, history)
            assert all(a["outcome"] == "released" and "shutdown" in str(a["error"]) for a in history[:-1]), (
                message_id,
                history,
            )
        stats = s.sim.get("/_sim/stats").json()
        assert stats["unique"] == COUNT, stats
        assert stats["total"] == COUNT, stats
        assert stats["duplicates"] == 0, stats
