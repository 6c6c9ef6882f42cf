"""Scheduled reconciliation runs once per tick across hub processes, and a dead process's run is taken
over once its lease has run out (issue 13, item 2), on PostgreSQL.

Two ``hub worker`` processes share one database and the land adapter's schedule (a run every second,
a lease of a few seconds); the land registry simulator answers each listing slowly, so a run takes a
while. The runs recorded in ``reconciliation_runs`` never overlap and come from whichever process holds
the lease. Then the process in the middle of a run is killed (SIGKILL, no goodbye): its run stays
unfinished until the lease it held has run out, and the other process takes the job over — its next
run starts no earlier than that lease's end, and marks the dead one's run abandoned.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from land_support import SIMULATOR
from sqlalchemy import select
from support import ProcessGroup, build_config_dir, database, hub_command, hub_env, wait_until

from lienthong.devtools.simulator import SimulatorServer
from lienthong.store.schema import poll_state, reconciliation_runs

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = {"count": 1, "batch_size": 8, "poll_interval": "200ms"}
RECONCILE = {"interval": "1s", "lease": "6s", "settle": "0s", "one_stop": None}


def _runs(db: Any) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(select(reconciliation_runs).order_by(reconciliation_runs.c.started_at))
        return [dict(r._mapping) for r in rows]


def _lease_until(db: Any) -> datetime:
    with db.connect() as conn:
        value = conn.execute(
            select(poll_state.c.lease_until).where(poll_state.c.key == "land/reconcile")
        ).scalar()
    assert value is not None
    return value  # type: ignore[no-any-return]


def _pid(owner: str) -> int:
    return int(owner.split(":")[1])  # host:pid:random (worker_identity)


def test_two_processes_run_each_tick_once_and_a_killed_leader_is_taken_over(
    pg_url: str, tmp_path: Path
) -> None:
    config = build_config_dir(tmp_path / "config", hub={"workers": WORKERS}, land={"reconcile": RECONCILE})
    with (
        SimulatorServer(SIMULATOR) as simulator,
        httpx.Client(base_url=simulator.base_url, timeout=10) as sim,
        ProcessGroup(tmp_path / "logs") as group,
        database(pg_url) as db,
    ):
        sim.put("/_sim/faults", json={"latency": 2.5}).raise_for_status()  # every listing takes a while
        env = hub_env(database_url=pg_url, land_endpoint=simulator.url)
        upgrade = subprocess.run(
            hub_command("db", "upgrade", "-c", str(config)),
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        workers = {
            w.pid: w for w in (group.start(f"worker{n}", ["worker", "-c", str(config)], env) for n in (1, 2))
        }

        def finished(count: int) -> bool:
            for w in workers.values():
                assert w.alive(), f"{w.name} exited with {w.popen.returncode}"
            return sum(1 for r in _runs(db) if r["state"] == "done") >= count

        wait_until(lambda: finished(3), timeout=90, what="three scheduled runs")
        runs = [r for r in _runs(db) if r["state"] != "running"]
        assert all(r["trigger"] == "schedule" and r["state"] == "done" for r in runs), runs
        # Once per tick: one run at a time across both processes, each after the one before ended.
        for before, after in itertools.pairwise(runs):
            assert after["started_at"] >= before["finished_at"], (before, after)
        assert {_pid(r["owner"]) for r in runs} <= set(workers)

        # Kill the process in the middle of a run.
        running = wait_until(
            lambda: next((r for r in _runs(db) if r["state"] == "running"), None),
            timeout=30,
            what="a run under way",
        )
        leader = workers[_pid(running["owner"])]
        lease_end = _lease_until(db)
        leader.send(signal.SIGKILL)
        leader.wait(10)
        [survivor] = [w for pid, w in workers.items() if pid != leader.pid]

        def taken_over() -> dict[str, Any] | None:
            assert survivor.alive(), survivor.output()
            later = [r for r in _runs(db) if r["id"] > running["id"] and r["state"] == "done"]
            return later[0] if later else None

        next_run = wait_until(taken_over, timeout=60, what="the survivor's run")
        assert _pid(next_run["owner"]) == survivor.pid
        assert next_run["started_at"] >= lease_end  # not before the dead leader's lease ran out
        dead = next(r for r in _runs(db) if r["id"] == running["id"])
        assert dead["state"] == "abandoned" and dead["finished_at"] is not None, dead
        # And it goes on alone, one run at a time.
        wait_until(lambda: sum(r["id"] > next_run["id"] and r["state"] == "done" for r in _runs(db)) >= 2,
                   timeout=60, what="two more runs")  # fmt: skip
        alone = [r for r in _runs(db) if r["id"] >= next_run["id"] and r["state"] == "done"]
        assert {_pid(r["owner"]) for r in alone} == {survivor.pid}
