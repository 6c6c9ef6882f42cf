"""Two ``hub worker`` processes share one PostgreSQL outbox: each message reaches the registry exactly once.

One ``hub serve`` process with no delivery threads accepts 1,000 dossiers over REST; then two worker
processes drain the same database. ``FOR UPDATE SKIP LOCKED`` claims must never hand one delivery to
both: the land registry simulator, which counts every call per message id, must see 1,000 calls for
1,000 distinct messages, every delivery must have needed one attempt, and both workers must have
taken part.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from land_support import SIMULATOR
from support import (
    LOOPBACK,
    ProcessGroup,
    attempt_rows,
    build_config_dir,
    database,
    delivery_rows,
    delivery_states,
    free_port,
    hub_command,
    hub_env,
    message_count,
    start_serve,
    submit_samples,
    wait_until,
)

from lienthong.devtools.simulator import SimulatorServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

COUNT = 1000
WORKERS = {"count": 4, "batch_size": 8, "poll_interval": "100ms"}


def test_two_worker_processes_deliver_each_message_exactly_once(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    # The same hub twice: an intake-only process (no delivery threads) and the worker processes.
    intake_config = build_config_dir(
        tmp_path / "intake", hub={"api": {"port": port}, "workers": {**WORKERS, "count": 0}}
    )
    worker_config = build_config_dir(tmp_path / "config", hub={"workers": WORKERS})
    with (
        SimulatorServer(SIMULATOR) as simulator,
        httpx.Client(base_url=simulator.base_url, timeout=10) as sim,
        ProcessGroup(tmp_path / "logs") as group,
        database(pg_url) as db,
    ):
        # A little latency keeps each worker busy for a few seconds, so the second one gets a share.
        sim.put("/_sim/faults", json={"latency": 0.02}).raise_for_status()
        env = hub_env(database_url=pg_url, land_endpoint=simulator.url)
        upgrade = subprocess.run(
            hub_command("db", "upgrade", "-c", str(intake_config)),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr

        intake = start_serve(group, intake_config, env, port)
        started = time.monotonic()
        accepted = submit_samples(f"http://{LOOPBACK}:{port}", COUNT, concurrency=8)
        intake_seconds = time.monotonic() - started
        assert len(set(accepted)) == COUNT
        assert message_count(db) == COUNT
        assert delivery_states(db) == {"queued": COUNT}, "the intake-only hub must not deliver"
        assert sim.get("/_sim/stats").json()["total"] == 0
        intake.send(signal.SIGTERM)
        assert intake.wait(30) == 0

        started = time.monotonic()
        workers = [group.start(f"worker{n}", ["worker", "-c", str(worker_config)], env) for n in (1, 2)]

        def all_delivered() -> bool:
            for w in workers:
                assert w.alive(), f"{w.name} exited with {w.popen.returncode}"
            return delivery_states(db)["delivered"] == COUNT

        wait_until(all_delivered, timeout=90, interval=0.25, what=f"{COUNT} deliveries")
        deliver_seconds = time.monotonic() - started
        for w in workers:
            w.send(signal.SIGTERM)
        for w in workers:
            assert w.wait(30) == 0, f"{w.name} did not stop cleanly"

        stats = sim.get("/_sim/stats").json()
        assert stats["unique"] == COUNT, stats
        assert stats["total"] == COUNT, stats  # not one message sent twice
        assert stats["duplicates"] == 0, stats
        received = sim.get("/_sim/received").json()
        assert {r["message_id"] for r in received} == set(accepted)

        rows = delivery_rows(db)
        assert len(rows) == COUNT
        assert all(r["state"] == "delivered" and r["attempts"] == 1 for r in rows), [
            r for r in rows if r["state"] != "delivered" or r["attempts"] != 1
        ]
        history = attempt_rows(db)
        assert len(history) == COUNT
        assert all(a["outcome"] == "delivered" for a in history)
        # A worker identity is host:pid:random; the pid says which process made the attempt.
        by_process: dict[str, int] = {}
        for a in history:
            process = a["worker"].rsplit(":", 1)[0]
            by_process[process] = by_process.get(process, 0) + 1
        host = socket.gethostname()
        assert set(by_process) == {f"{host}:{w.pid}" for w in workers}, by_process
        print(
            f"intake {COUNT} in {intake_seconds:.1f}s; delivered in {deliver_seconds:.1f}s; "
            f"attempts per worker process {by_process}"
        )
