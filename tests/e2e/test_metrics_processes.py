"""Several hub processes, one ``/metrics``: with ``PROMETHEUS_MULTIPROC_DIR`` set, the counters of every
process sharing the directory are summed by whichever one is scraped.

An intake-only ``hub serve`` (no delivery threads) and a ``hub worker`` share one PostgreSQL database
and one metrics directory; the serve process's ``/metrics`` shows the deliveries the worker made,
which it never made itself. Without the directory each process shows its own (docs/metrics.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from land_support import SIMULATOR
from prometheus_client.parser import text_string_to_metric_families
from support import (
    LOOPBACK,
    ProcessGroup,
    build_config_dir,
    free_port,
    hub_command,
    hub_env,
    start_serve,
    submit_samples,
    wait_until,
)
from test_metrics import Samples, value

from lienthong.devtools.simulator import SimulatorServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

COUNT = 5


def scrape_text(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_the_serve_process_shows_the_deliveries_a_worker_process_made(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    workers = {"count": 2, "batch_size": 4, "poll_interval": "100ms"}
    intake_config = build_config_dir(
        tmp_path / "intake", hub={"api": {"port": port}, "workers": {**workers, "count": 0}}
    )
    worker_config = build_config_dir(tmp_path / "config", hub={"workers": workers})
    shared = tmp_path / "prometheus"
    shared.mkdir()
    with (
        SimulatorServer(SIMULATOR) as simulator,
        ProcessGroup(tmp_path / "logs") as group,
        httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as scraper,
    ):
        env = hub_env(database_url=pg_url, land_endpoint=simulator.url, PROMETHEUS_MULTIPROC_DIR=str(shared))
        upgrade = subprocess.run(
            hub_command("db", "upgrade", "-c", str(intake_config)),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        start_serve(group, intake_config, env, port)
        group.start("worker", ["worker", "-c", str(worker_config)], env)

        submit_samples(f"http://{LOOPBACK}:{port}", COUNT, concurrency=2)

        def delivered() -> Samples | None:
            m = scrape_text(scraper)
            return (
                m
                if m.get(("lienthong_deliveries", frozenset({("adapter", "land"), ("state", "delivered")})))
                == COUNT
                else None
            )

        m = wait_until(delivered, timeout=60, what="the worker process to deliver every dossier")

    assert value(m, "lienthong_messages_accepted_total") == COUNT  # counted by the serve process
    # Made by the worker process, shown by the serve process: the counters are summed over both.
    assert value(m, "lienthong_delivery_attempts_total", adapter="land", outcome="delivered") == COUNT
    assert value(m, "lienthong_delivery_latency_seconds_count", adapter="land") == COUNT
    assert (
        value(m, "lienthong_http_requests_total", route="/api/v1/messages", method="POST", status="202")
        == COUNT
    )
    assert {p.name.split("_")[0] for p in shared.glob("*.db")} >= {"counter", "histogram"}
