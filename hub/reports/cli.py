"""``hub report --month 2026-11 [-o report.xlsx|.csv]``: the monthly statistics (docs/reports.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from lienthong.reports.monthly import MonthlyReport


def report(
    month: Annotated[str, typer.Option("--month", "-m", help="The month, YYYY-MM (Vietnam time).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the report to this file: .xlsx or .csv (default: a table)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (the API's shape).")
    ] = False,
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", envvar="HUB_CONFIG", help="Configuration directory (hub.yaml, adapters/)."
        ),
    ] = Path("config"),
) -> None:
    """Monthly statistics from the hub's own records (docs/reports.md): per agency and per procedure,
    dossiers received in the month, processed (on time, late), returned, pending, exchange failures."""
    from lienthong.cli import _load, console  # the CLI's own helpers, at run time
    from lienthong.cli_errors import cli_errors as _errors
    from lienthong.cli_errors import fail as _fail
    from lienthong.compose import open_store
    from lienthong.reports.monthly import monthly_report
    from lienthong.reports.output import to_csv, to_xlsx

    suffix = output.suffix.lower() if output is not None else ""
    if output is not None and suffix not in {".xlsx", ".csv"}:
        raise _fail(f"{output}: write the report as .xlsx or .csv (báo cáo ghi ra tệp .xlsx hoặc .csv)", 2)
    with _errors():
        cfg = _load(config)
        store = open_store(cfg)
        try:
            made = monthly_report(store.engine, month, sources=cfg.hub.notify.sources)
        finally:
            store.close()
    if output is not None:
        try:
            output.write_bytes(to_xlsx(made) if suffix == ".xlsx" else to_csv(made))
        except OSError as exc:
            raise _fail(f"{output}: {exc.strerror or exc}") from None
        console.print(
            f"wrote {output}: {len(made.rows)} rows, {made.total().received} dossiers", highlight=False
        )
        return
    if as_json:
        sys.stdout.write(json.dumps(made.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    console.print(table(made))


def table(made: MonthlyReport) -> Table:
    from rich.table import Table

    from lienthong.reports.output import COLUMNS

    view = Table(title=f"Báo cáo tháng {made.month} — monthly report (as of {made.as_of:%Y-%m-%d %H:%M} ICT)")
    view.add_column("Đơn vị / Agency")
    view.add_column("TTHC / Procedure")
    for _, vi, en in COLUMNS:
        view.add_column(f"{vi}\n{en}", justify="right")
    for row in made.rows:
        numbers = row.counts.as_dict()
        view.add_row(row.agency_code, row.procedure_code, *(str(numbers[key]) for key, _, _ in COLUMNS))
    total = made.total().as_dict()
    view.add_row("Tổng cộng / Total", "", *(str(total[key]) for key, _, _ in COLUMNS), style="bold")
    return view
