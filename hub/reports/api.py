"""``GET /api/v1/reports/monthly?month=2026-11``: the monthly statistics over HTTP (docs/reports.md).

JSON by default; CSV or XLSX with ``format=csv|xlsx`` or by ``Accept`` (``text/csv``, the XLSX media
type). Province-wide numbers: only callers with ``rest:read-all`` (the province's operators and
auditors) may read them; anyone else gets 403.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from lienthong.errors import ForbiddenError
from lienthong.reports.monthly import monthly_report
from lienthong.reports.output import CSV_MEDIA, XLSX_MEDIA, to_csv, to_xlsx

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def report_router() -> APIRouter:
    # Imported here: the REST module includes this router, and FastAPI reads these annotations when the
    # route is declared (so this module does not postpone annotations).
    from lienthong.intake.rest import HubDep, Reader

    router = APIRouter()

    @router.get(
        "/api/v1/reports/monthly",
        tags=["reports"],
        responses={
            200: {
                "description": "The report: JSON, CSV or XLSX.",
                "content": {"application/json": {}, "text/csv": {}, XLSX_MEDIA: {}},
            },
            403: {"description": "The caller may not read every agency's messages.", **_PROBLEM},
            422: {"description": "Not a month (YYYY-MM).", **_PROBLEM},
        },
    )
    def monthly(
        request: Request,
        hub: HubDep,
        reader: Reader,
        month: Annotated[str, Query(description="The month, YYYY-MM, in Vietnam time.", max_length=7)],
        format: Annotated[
            Literal["json", "csv", "xlsx"] | None, Query(description="json, csv or xlsx; default: by Accept.")
        ] = None,
    ) -> Response:
        """Per agency and per procedure: dossiers received in the month, processed (on time, late
        against NgayHenTra), returned, pending, exchange failures, from the hub's own records."""
        if reader.parties is not None:
            raise ForbiddenError(
                "monthly statistics cover every agency: they need rest:read-all "
                "(báo cáo thống kê cần quyền rest:read-all)"
            )
        engine = getattr(hub.store, "engine", None)
        if engine is None:
            raise ForbiddenError("monthly statistics need the SQL store")
        made = monthly_report(engine, month, sources=hub.config.hub.notify.sources)
        wanted = format or _by_accept(request.headers.get("accept", ""))
        name = f"bao-cao-{made.month}"
        if wanted == "csv":
            return Response(to_csv(made), media_type=CSV_MEDIA, headers=_attachment(f"{name}.csv"))
        if wanted == "xlsx":
            return Response(to_xlsx(made), media_type=XLSX_MEDIA, headers=_attachment(f"{name}.xlsx"))
        import json

        body = json.dumps(made.as_dict(), ensure_ascii=False).encode("utf-8")
        return Response(body, media_type="application/json")

    return router


def _by_accept(accept: str) -> str:
    media = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for item in media:
        if item == "text/csv":
            return "csv"
        if item == XLSX_MEDIA:
            return "xlsx"
        if item in {"application/json", "*/*", "application/*"}:
            return "json"
    return "json"


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
