"""``GET /api/v1/reconciliations``: the runs and their findings, as JSON or CSV (docs/reconciliation.md).

Reconciliation looks at every agency's exchanges, so only a reader with ``rest:read-all`` (the province's
operators and auditors) may see it; anyone else is refused (403), not shown a part."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, fields
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from lienthong.errors import ForbiddenError, NotFoundError
from lienthong.intake.rest import HubDep, Reader
from lienthong.reconcile.log import FindingRow, ReconcileLog, RunRow

__all__ = ["reconciliation_router"]

_CSV: Final = "text/csv"
_RUN_COLUMNS: Final = ("adapter", "started_at", "dry_run")
_FINDING_COLUMNS: Final = tuple(f.name for f in fields(FindingRow))


def _log(hub: Any) -> ReconcileLog:
    engine = getattr(hub.store, "engine", None)
    if engine is None:
        raise NotFoundError("this hub keeps no reconciliation (no SQL store)")
    return ReconcileLog(engine)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _run(run: RunRow, findings: list[FindingRow]) -> dict[str, Any]:
    return {k: _json(v) for k, v in asdict(run).items()} | {
        "findings": [{k: _json(v) for k, v in asdict(f).items()} for f in findings]
    }


def _wants_csv(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        return format_.lower() == "csv"
    return _CSV in request.headers.get("accept", "")


def _csv(runs: list[RunRow], findings: list[FindingRow]) -> Response:
    by_run = {r.id: r for r in runs}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", *(f"run_{c}" for c in _RUN_COLUMNS), *_FINDING_COLUMNS])
    for finding in findings:
        run = by_run[finding.run_id]
        writer.writerow(
            [
                run.id,
                *(_json(getattr(run, c)) for c in _RUN_COLUMNS),
                *("" if (v := _json(getattr(finding, c))) is None else v for c in _FINDING_COLUMNS),
            ]
        )
    return Response(
        out.getvalue().encode("utf-8-sig"),  # with a BOM: spreadsheets then read Vietnamese as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="reconciliations.csv"'},
    )


def reconciliation_router() -> APIRouter:
    router = APIRouter(tags=["reconciliation"])

    @router.get("/api/v1/reconciliations")
    def list_runs(
        request: Request,
        hub: HubDep,
        reader: Reader,
        adapter: Annotated[str | None, Query(description="Only this adapter's runs.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Most recent runs.")] = 50,
        format_: Annotated[str | None, Query(alias="format", description="csv for a CSV export.")] = None,
    ) -> Response:
        """The latest reconciliation runs, newest first, each with its findings (kind, what each side
        holds, the cause, the healing and its outcome). ``format=csv`` or ``Accept: text/csv``: the
        findings as CSV, one row each with its run."""
        if reader.parties is not None:
            raise ForbiddenError("reconciliation covers every agency: it needs rest:read-all")
        log = _log(hub)
        runs = log.runs(adapter, limit)
        findings = log.findings(run_ids=[r.id for r in runs]) if runs else []
        if _wants_csv(request, format_):
            return _csv(runs, findings)
        by_run: dict[int, list[FindingRow]] = {}
        for finding in findings:
            by_run.setdefault(finding.run_id, []).append(finding)
        return JSONResponse({"runs": [_run(r, by_run.get(r.id, [])) for r in runs]})

    @router.get("/api/v1/reconciliations/{run_id}")
    def one_run(
        run_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The run's id.")],
        request: Request,
        hub: HubDep,
        reader: Reader,
    ) -> Response:
        """One run and its findings."""
        if reader.parties is not None:
            raise ForbiddenError("reconciliation covers every agency: it needs rest:read-all")
        log = _log(hub)
        run = log.run(run_id)
        if run is None:
            raise NotFoundError(f"no reconciliation run {run_id}")
        findings = log.findings(run_ids=[run_id])
        if _wants_csv(request, None):
            return _csv([run], findings)
        return JSONResponse(_run(run, findings))

    return router
