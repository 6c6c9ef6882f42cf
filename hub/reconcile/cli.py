"""``hub reconcile``: one reconciliation run now, with a progress bar and a summary table.

``hub reconcile --adapter tax --since 2026-11-01 [--until …] [--dry-run]`` lists what the system holds
since that day (Asia/Ho_Chi_Minh), compares, heals (unless ``--dry-run``: then it only says what it
would do) and records the run like a scheduled one (``GET /api/v1/reconciliations``). Healed messages
go through this process's intake and the shared outbox: a running ``hub serve``/``hub worker`` sends them.
Exit 0 when the run finished (differences or not), 1 when the system could not be asked, 2 for a
configuration error."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from lienthong.errors import ConfigError, HubError
from lienthong.reconcile.compare import KINDS
from lienthong.reconcile.run import RunReport

__all__ = ["reconcile_app"]

VN = timezone(timedelta(hours=7))
console = Console()
err = Console(stderr=True)
reconcile_app = typer.Typer(help="Reconciliation with the ministry systems (docs/reconciliation.md).")
_OUTCOMES = ("healed", "would-heal", "reported", "known", "failed")


def _day(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text), time())
        except ValueError as exc:
            raise typer.BadParameter(
                f"{text!r} is not a date (2026-11-01) or a time", param_hint=option
            ) from exc
    return value if value.tzinfo else value.replace(tzinfo=VN)


@reconcile_app.callback(invoke_without_command=True)
def reconcile(
    adapter: Annotated[str, typer.Option("--adapter", "-a", help="Adapter to reconcile, e.g. tax.")],
    since: Annotated[str, typer.Option("--since", help="From this day (Vietnam time), e.g. 2026-11-01.")],
    until: Annotated[str | None, typer.Option("--until", help="Up to this day (default: now).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Find and report; heal nothing.")] = False,
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="HUB_CONFIG", help="Configuration directory.")
    ] = Path("config"),
) -> None:
    """Compare what a ministry system holds with the hub's records now; heal the safe differences."""
    from lienthong.compose import build_hub
    from lienthong.config.files import load_configuration
    from lienthong.delivery.workers import worker_identity
    from lienthong.reconcile.run import build_reconcilers

    start = _day(since, "--since")
    end = _day(until, "--until") if until else None
    try:
        cfg = load_configuration(config)
        if adapter not in cfg.adapters:
            _fail(
                f"no adapter {adapter!r} / không có adapter {adapter!r} ({', '.join(sorted(cfg.adapters))})"
            )
        if cfg.adapters[adapter].reconcile is None:
            _fail(
                f"adapter {adapter!r} has no reconcile: section / adapter {adapter!r} chưa cấu hình đối soát "
                f"(config/adapters/{adapter}.yaml)"
            )
        hub = build_hub(cfg)
    except ConfigError as exc:
        for issue in exc.issues:
            err.print(f"[red]{escape(str(issue))}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except HubError as exc:
        _fail(exc.message)
    try:
        reconcilers = build_reconcilers(
            cfg,
            hub.store,
            submit=hub.intake.submit,
            wake=hub.workers.wake,
            pollers=hub.pollers.pollers,
            inbound=hub.inbound,
            owner=worker_identity(),
        )
        if adapter not in reconcilers:
            _fail("reconciliation needs the SQL store / đối soát cần cơ sở dữ liệu SQL")
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
        ) as progress:
            tasks = {
                "list": progress.add_task(f"{adapter}: hỏi hệ thống / listing", total=1),
                "heal": progress.add_task(f"{adapter}: đối chiếu / comparing", total=None),
            }

            def step(what: str, done: int, total: int) -> None:
                progress.update(tasks[what], completed=done, total=total)

            report = reconcilers[adapter].run(start, end, dry_run=dry_run, progress=step)
    finally:
        hub.close()
    _print(report)
    if report.error:
        _fail(f"run {report.run_id}: {report.error}")


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(1)


def _print(report: RunReport) -> None:
    title = (
        f"Đối soát / reconciliation {report.adapter} — run {report.run_id}"
        f"{' (dry run / chạy thử)' if report.dry_run else ''}: "
        f"{report.held} held at the system, {report.compared} deliveries compared"
    )
    summary = Table(title=title)
    summary.add_column("kind / loại")
    for name in ("found", "new", *_OUTCOMES):
        summary.add_column(name, justify="right")
    for kind in KINDS:
        rows = [o for o in report.outcomes if o.finding.kind == kind]
        counts = [len(rows), sum(1 for o in rows if o.new)]
        counts += [sum(1 for o in rows if o.outcome == outcome) for outcome in _OUTCOMES]
        summary.add_row(kind, *(str(c) for c in counts))
    console.print(summary)
    if not report.outcomes:
        console.print("no difference / không có chênh lệch")
        return
    details = Table(title="Findings / chênh lệch")
    for column in ("dossier / hồ sơ", "kind", "outcome", "cause / nguyên nhân"):
        details.add_column(column, overflow="fold")
    for outcome in report.outcomes:
        finding = outcome.finding
        details.add_row(
            finding.dossier_code or finding.message_id or "",
            finding.kind,
            outcome.outcome,
            escape(outcome.cause),
        )
    console.print(details)
