"""``hub serve --processes 2``: two hub processes on one port share the load and one database.

One command starts a supervisor and two hub processes accepting on the same socket. Dossiers are
submitted over REST at that one port; both processes deliver (their worker identities carry their
pids), and the land registry simulator, which counts every call per message id, sees each accepted
message exactly once. Run on a SQLite file (one writer at a time across processes) and on PostgreSQL
(SKIP LOCKED). SIGTERM stops the whole group gracefully and leaves nothing in flight.
"""

from __future__ import annotations

import signal
import socket
import subprocess
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
    sqlite_url,
    submit_samples,
    wait_for_port,
    wait_until,
)

from lienthong.devtools.simulator import SimulatorServer

pytestmark = [pytest.mark.slow]

COUNT = 200
WORKERS = {"count": 4, "batch_size": 8, "poll_interval": "100ms"}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_on_one_port_share_the_work_and_deliver_each_message_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgres" else sqlite_url(tmp_path / "hub.db")
    port = free_port()
    config = build_config_dir(tmp_path / "config", hub={"api": {"port": port}, "workers": WORKERS})
    with (
        SimulatorServer(SIMULATOR) as simulator,
        httpx.Client(base_url=simulator.base_url, timeout=10) as sim,
        ProcessGroup(tmp_path / "logs") as group,
    ):
        # A little latency keeps each process's workers busy, so that both get a share.
        sim.put("/_sim/faults", json={"latency": 0.02}).raise_for_status()
        env = hub_env(database_url=url, land_endpoint=simulator.url)
        if backend == "postgres":
            upgrade = subprocess.run(
                hub_command("db", "upgrade", "-c", str(config)),
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        hub = group.start("serve", ["serve", "-c", str(config), "--processes", "2", "--verbose"], env)
        wait_for_port(port, alive=hub.alive, timeout=60)
        wait_until(
            lambda: hub.output().count("hub process") >= 2 or None,
            timeout=60,
            what="both hub processes to be ready",
        )

        accepted = submit_samples(f"http://{LOOPBACK}:{port}", COUNT, concurrency=8)
        assert len(set(accepted)) == COUNT

        with database(url) as db:

            def all_delivered() -> bool:
                assert hub.alive(), f"hub serve exited with {hub.popen.returncode}:\n{hub.output()}"
                return delivery_states(db)["delivered"] == COUNT

            wait_until(all_delivered, timeout=120, interval=0.25, what=f"{COUNT} deliveries")
            hub.send(signal.SIGTERM)
            assert hub.wait(60) == 0, hub.output()

            stats = sim.get("/_sim/stats").json()
            assert (stats["unique"], stats["total"], stats["duplicates"]) == (COUNT, COUNT, 0), stats
            received = sim.get("/_sim/received").json()
            assert {r["message_id"] for r in received} == set(accepted)
            rows = delivery_rows(db)
            assert len(rows) == COUNT
            assert all(r["state"] == "delivered" and r["attempts"] == 1 for r in rows)
            history = attempt_rows(db)
            assert len(history) == COUNT and all(a["outcome"] == "delivered" for a in history)
            # A worker identity is host:pid:random: the pid says which process made the attempt.
            pids = {a["worker"].split(":")[1] for a in history}
            host = socket.gethostname()
            assert all(a["worker"].startswith(f"{host}:") for a in history)
            assert len(pids) == 2, pids
            assert str(hub.pid) not in pids, "the supervisor accepts and delivers nothing itself"
