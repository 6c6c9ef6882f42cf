"""The demo's reconciliation (docs/reconciliation.md): a status push the land registry made and the hub
never got, found by comparing what the registry holds with what the one-stop system was told, and healed
— the registry's status pushed through the routes to the one-stop system and the national portal.

One dossier is filed while the registry's simulator is set to lose its next status push
(``POST /_sim/diverge``). The registry takes the dossier and goes on with it; the one-stop system hears
nothing from it. A reconciliation run over the minute of the dossier finds the difference and heals it;
the one-stop simulator then shows the registry's status, nobody having re-entered anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.delivery.workers import worker_identity
from lienthong.devtools.demo.stage import DemoStage, dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.reconcile.log import ReconcileLog
from lienthong.reconcile.run import Reconciler

__all__ = ["ReconcileSection"]


@dataclass
class ReconcileSection:
    title: str = "Reconciliation: a status the registry pushed and the hub never got, found and healed"
    adapters: tuple[str, ...] = ("land", "motcua")
    timeout: float = 15.0

    def run(self, console: Console, stage: DemoStage) -> bool:
        land, motcua = stage.simulators["land"].control, stage.simulators["motcua"].control
        # Yesterday's counter: a code no other part of the demo files today.
        sample = sample_dossiers(1, day=date.today() - timedelta(days=1))[0]
        code = sample.dossier_code
        land.post("/_sim/diverge", json={"lose_calls": {"CapNhatTrangThaiHoSo": 1}}).raise_for_status()
        since = datetime.now(UTC) - timedelta(seconds=1)
        console.print(
            f"The one-stop desk files {code}; the registry takes it, starts on it, and its status push "
            "(TrangThaiHoSo 4) is lost on the way: the one-stop system hears nothing."
        )
        stage.api.post(
            "/api/v1/messages", json=dossier_body(code, sample.procedure_code, sample.xml)
        ).raise_for_status()

        def registry_status() -> str:
            records = land.get("/_sim/records", params={"key": code}).json()
            return str(records[-1]["status"]) if records else ""

        def one_stop() -> list[str]:
            return [str(r["status"]) for r in motcua.get("/_sim/records", params={"key": code}).json()]

        if not _until(lambda: registry_status() not in ("", "received"), self.timeout):
            console.print("[red]✗[/] the registry never started on the dossier")
            return False
        before = one_stop()
        report = self._reconciler(stage).run(since, dry_run=False, trigger="demo")
        table = Table(title=f"Reconciliation run {report.run_id} of land", box=box.SIMPLE_HEAD)
        for column in ("dossier", "difference", "outcome", "cause"):
            table.add_column(column, overflow="fold")
        for outcome in report.outcomes:
            f = outcome.finding
            table.add_row(escape(f.dossier_code or ""), f.kind, outcome.outcome, escape(outcome.cause))
        console.print(table)
        healed = _until(lambda: "4" in one_stop(), self.timeout)
        ok = bool(healed) and not before and report.error is None
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(
            f"{mark} the one-stop system's statuses for {code}: before {before or 'none'}, "
            f"after {one_stop()} "
            f"— healed through the routes; 'hub trail {code}' shows the healing and its cause"
        )
        return ok

    @staticmethod
    def _reconciler(stage: DemoStage) -> Reconciler:
        """The land adapter's reconciler, asking this run's simulators, judging even the newest records."""
        hub = stage.hub
        adapter = hub.config.adapters["land"]
        assert adapter.reconcile is not None and adapter.reconcile.one_stop is not None
        one_stop = adapter.reconcile.one_stop.model_copy(
            update={"endpoint": stage.simulators["motcua"].base_url + "/api/motcua/tracuu"}
        )
        spec = adapter.reconcile.model_copy(update={"settle": timedelta(0), "one_stop": one_stop})
        engine = getattr(hub.store, "engine", None)
        assert engine is not None
        return Reconciler(
            hub.config,
            adapter.model_copy(update={"reconcile": spec}),
            ReconcileLog(engine),
            submit=hub.intake.submit,
            wake=hub.workers.wake,
            pollers={},
            inbound=hub.inbound.get("land"),
            owner=worker_identity(),
        )


def _until(check: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
