"""``GET /api/v1/dossiers/{code}``: a dossier's trail, what staff and auditors ask about first.

Every message in and out of the hub about one dossier, from every system, oldest first, with its route
and its deliveries (docs/api.md). A route of its own, apart from ``rest.py`` which it builds on (the
reader and its read boundary), so that module stays under 500 lines; ``create_app`` includes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lienthong.errors import NotFoundError
from lienthong.intake.public_url import public_base_url
from lienthong.intake.rest import HubDep, Reader
from lienthong.intake.rest_models import DossierTrail, checked_dossier_code, trail_view

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def dossier_router() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/api/v1/dossiers/{code}",
        response_model=DossierTrail,
        tags=["status"],
        responses={
            404: {"description": "No message about this dossier that the caller may read.", **_PROBLEM},
            422: {"description": "Not a dossier code: too long, or control characters.", **_PROBLEM},
        },
    )
    def dossier_trail(code: str, request: Request, hub: HubDep, reader: Reader) -> DossierTrail:
        """Every message about one dossier (mã hồ sơ), in and out, across all systems, oldest first:
        those naming the code and those carrying the correlation id derived from it. Each has its
        route and its deliveries (state, attempts, last error, delivery time, answer status, link).
        Only the messages the caller's agency is party to, unless it may read all; a dossier with
        none of those is "not found", word for word as one the hub never saw."""
        dossier_code = checked_dossier_code(code)
        entries = hub.store.dossier_trail(dossier_code, reader.parties)
        if not entries:
            raise NotFoundError(f"no message about dossier {dossier_code}")
        return trail_view(dossier_code, entries, public_base_url(request, hub.config))

    return router
