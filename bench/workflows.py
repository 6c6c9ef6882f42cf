#!/usr/bin/env python3
"""Hub CPU per dossier of the issue 9 workflows, with every ministry simulated in its own process.

    python bench/workflows.py [--dossiers 20] [--lookups 100] [--rounds 3] [--json out.json]

The hub (REST API, delivery workers, SQLite under var/bench/) runs in this process, built from the
project's own ``config/`` as ``hub demo`` builds it (``lienthong.devtools.demo.stage``: every adapter at
its simulator, keys and secrets made for the run). Each simulator is ``hub simulate <adapter>`` in a
process of its own and calls the hub back by itself, as the real systems do, so the CPU this process
spends is the hub's (and the few requests of the one-stop client below, a small share).

Measured per round, as CPU seconds of this process (user + system) divided by the work done:

* **land ↔ tax**, per dossier: the one-stop system files the dossier and, when the tax notices reach the
  land registry, the payment receipt; the simulators do the rest. Per dossier the hub takes in 6
  messages (dossier, land status, transfer form, tax notices, receipt, land result) and makes 12
  deliveries (land ×3, tax ×2, one-stop ×3, national portal ×4), each translated and validated;
* **business lookup**, per lookup (cache off: every lookup calls the registry and is logged);
* **land only**, per dossier: the same dossiers to the land registry alone (``bench/e2e.py``'s
  workload), as the yardstick in the same run.

Nothing here asserts a time; compare the rows of one run (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]

from lienthong.compose import build_hub  # noqa: E402
from lienthong.config.files import load_configuration  # noqa: E402
from lienthong.config.models import Configuration, RouteRule, RoutesConfig  # noqa: E402
from lienthong.devtools.background import BackgroundServer, bound_socket  # noqa: E402
from lienthong.devtools.demo.landtax import LandTaxSection  # noqa: E402
from lienthong.devtools.demo.stage import PROVINCE, demo_configuration, demo_secrets, dossier_body  # noqa: E402
from lienthong.devtools.demo.workflows import all_delivered, root_name, wait_for_trail  # noqa: E402
from lienthong.devtools.justice_samples import BIRTH, LLTP, birth_dossier, lltp_dossier  # noqa: E402
from lienthong.devtools.samples import sample_dossiers  # noqa: E402
from lienthong.intake.callers import API_KEY_HEADER  # noqa: E402
from lienthong.intake.rest import create_app  # noqa: E402
from lienthong.store import RouteStatus, TrailEntry  # noqa: E402

SIMULATED = ("land", "tax", "motcua", "dvcqg", "business", "justice")
VALID_CODES = ("5700100256", "5701456784", "5702301198")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stage:
    """What LandTaxSection needs of a demo stage: the hub and a client as the one-stop system."""

    def __init__(self, hub: Any, api: httpx.Client) -> None:
        self.hub = hub
        self.api = api


@contextmanager
def running(config: Configuration, workdir: Path, *, only_land: bool = False) -> Iterator[Stage]:
    """Simulators as processes (``hub simulate``), then the hub in this process, all on loopback."""
    sock = bound_socket()
    hub_url = "http://{}:{}".format(*sock.getsockname()[:2])
    keys = {PROVINCE: secrets.token_urlsafe(32)}
    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        for name in ("land",) if only_land else SIMULATED:
            adapter = config.adapters[name]
            assert adapter.simulator is not None
            env = dict(os.environ) | demo_secrets(adapter)
            if (key_env := adapter.simulator.api_key_env) is not None:
                env[key_env] = keys.setdefault(adapter.agency, secrets.token_urlsafe(32))
            port = free_port()
            command = [str(Path(sys.executable).parent / "hub"), "simulate", name, "--port", str(port)]
            command += ["--store", ":memory:", "--hub-url", hub_url, "-c", str(ROOT / "config")]
            procs.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            urls[name] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            _wait_ready(url)
        demo = demo_configuration(
            config, database=workdir / f"hub-{time.monotonic_ns()}.db", simulators=urls, keys=keys
        )
        if only_land:
            routes = RoutesConfig(
                routes=[RouteRule(name="land", match={"kind": "dossier"}, targets=["land"])]
            )
            demo = demo.model_copy(update={"routes": routes, "adapters": {"land": demo.adapters["land"]}})
        hub = build_hub(demo)
        server = BackgroundServer(create_app(hub), sock=sock).start()
        api = httpx.Client(base_url=server.url, timeout=30, headers={API_KEY_HEADER: keys[PROVINCE]})
        try:
            yield Stage(hub, api)
        finally:
            api.close()
            server.stop()
            hub.store.close()
    finally:
        sock.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_sim/stats", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"simulator at {url} did not start")


def _wait(stage: Stage, code: str, done: Callable[[list[TrailEntry]], bool]) -> list[TrailEntry]:
    """The demo's wait (it reads only ``stage.hub``), a minute at most."""
    return wait_for_trail(stage, code, done, 60.0)  # type: ignore[arg-type]


def land_tax_round(config: Configuration, workdir: Path, count: int, seed: int) -> dict[str, float]:
    samples = [s for s in sample_dossiers(count * 3, seed=seed) if b"ThongTinThuaDat" in s.xml][:count]
    with running(config, workdir) as stage:
        land = config.adapters["land"].agency
        tax = config.adapters["tax"].agency
        section = LandTaxSection(samples)

        def notices_at_land(entries: list[TrailEntry]) -> bool:
            return any(e.envelope.sender == tax and all_delivered(e) for e in entries)

        def finished(entries: list[TrailEntry]) -> bool:
            routed = [e for e in entries if e.route.status is RouteStatus.ROUTED]
            result = any(
                e.envelope.sender == land and root_name(stage, e) == "TraKetQuaHoSo" for e in entries
            )  # type: ignore[arg-type]
            return result and all(all_delivered(e) for e in routed)

        started = cpu()
        for s in samples:
            stage.api.post(
                "/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, s.xml)
            ).raise_for_status()
        for s in samples:
            entries = _wait(stage, s.dossier_code, notices_at_land)
            notices = [e for e in entries if e.envelope.sender == tax and all_delivered(e)]
            section._pay(stage, s.dossier_code, notices[0])  # type: ignore[arg-type]
        trails = [_wait(stage, s.dossier_code, finished) for s in samples]
        spent = cpu() - started
        messages = sum(len(t) for t in trails)
        deliveries = sum(len(e.deliveries) for t in trails for e in t)
        complete = sum(finished(t) for t in trails)
    return {
        "dossiers": complete,
        "messages": messages,
        "deliveries": deliveries,
        "cpu_ms_per_dossier": 1000 * spent / count,
    }


def land_only_round(config: Configuration, workdir: Path, count: int, seed: int) -> dict[str, float]:
    samples = sample_dossiers(count, seed=seed + 1)
    with running(config, workdir, only_land=True) as stage:
        started = cpu()
        for s in samples:
            stage.api.post(
                "/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, s.xml)
            ).raise_for_status()
        trails = [
            _wait(stage, s.dossier_code, lambda t: bool(t) and all(all_delivered(e) for e in t))
            for s in samples
        ]
        spent = cpu() - started
    return {"dossiers": sum(bool(t) for t in trails), "cpu_ms_per_dossier": 1000 * spent / count}


def justice_round(config: Configuration, workdir: Path, count: int, seed: int) -> dict[str, float]:
    """Birth registrations (pushed, results polled back) and criminal record requests (the PDF pushed
    back), ``count`` of each; done when every message of each dossier is delivered everywhere."""
    justice = config.adapters["justice"].agency
    day = f"2612{seed + 1:02d}"  # a day of its own per round (each round has a fresh store)
    births = [f"{PROVINCE}-{day}-{8000 + i:04d}" for i in range(count)]
    requests = [f"{PROVINCE}-{day}-{9000 + i:04d}" for i in range(count)]

    def finished(entries: list[TrailEntry]) -> bool:
        routed = [e for e in entries if e.route.status is RouteStatus.ROUTED]
        answered = any(e.envelope.sender == justice for e in entries)
        return answered and all(all_delivered(e) for e in routed)

    with running(config, workdir) as stage:
        started = cpu()
        for code in births:
            body = dossier_body(code, BIRTH, birth_dossier(code))
            stage.api.post("/api/v1/messages", json=body).raise_for_status()
        for code in requests:
            body = dossier_body(code, LLTP, lltp_dossier(code))
            stage.api.post("/api/v1/messages", json=body).raise_for_status()
        trails = {code: _wait(stage, code, finished) for code in births + requests}
        spent = cpu() - started
    return {
        "dossiers": sum(finished(t) for t in trails.values()),
        "cpu_ms_per_dossier": 1000 * spent / (2 * count),
    }


def lookup_round(config: Configuration, workdir: Path, count: int) -> dict[str, float]:
    business = config.adapters["business"]
    assert business.lookup is not None
    lookup = business.lookup.model_copy(update={"cache": timedelta(0)})
    config = config.model_copy(
        update={"adapters": {**config.adapters, "business": business.model_copy(update={"lookup": lookup})}}
    )
    with running(config, workdir) as stage:
        started = cpu()
        ok = 0
        for i in range(count):
            r = stage.api.get(f"/api/v1/lookups/business/{VALID_CODES[i % len(VALID_CODES)]}")
            ok += r.status_code == 200
        spent = cpu() - started
    return {"answered": ok, "cpu_ms_per_lookup": 1000 * spent / count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=20)
    parser.add_argument("--lookups", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    console = Console()
    config = load_configuration(ROOT / "config")
    workdir = ROOT / "var" / "bench" / "workflows"
    workdir.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):  # interleaved, so a noisy minute spoils every kind alike
        rounds.append(
            {
                "land only": land_only_round(config, workdir, args.dossiers, seed=100 + r),
                "land ↔ tax": land_tax_round(config, workdir, args.dossiers, seed=200 + r),
                "civil status + criminal record": justice_round(config, workdir, args.dossiers // 2, seed=r),
                "business lookup": lookup_round(config, workdir, args.lookups),
            }
        )
    table = Table(title=f"hub CPU per unit of work, {args.rounds} rounds (median)")
    for column in ("workflow", "unit", "hub CPU ms (rounds)", "median", "done"):
        table.add_column(column)
    for name, unit, key, done in (
        ("land only", "dossier", "cpu_ms_per_dossier", "dossiers"),
        ("land ↔ tax", "dossier", "cpu_ms_per_dossier", "dossiers"),
        ("civil status + criminal record", "dossier", "cpu_ms_per_dossier", "dossiers"),
        ("business lookup", "lookup", "cpu_ms_per_lookup", "answered"),
    ):
        values = [r[name][key] for r in rounds]
        table.add_row(
            name,
            unit,
            ", ".join(f"{v:.1f}" for v in values),
            f"{statistics.median(values):.1f}",
            ", ".join(str(int(r[name][done])) for r in rounds),
        )
    console.print(table)
    extra = rounds[-1]["land ↔ tax"]
    per = {k: extra[k] / args.dossiers for k in ("messages", "deliveries")}
    console.print(
        f"land ↔ tax: {per['messages']:.0f} messages, {per['deliveries']:.0f} deliveries per dossier"
    )
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
