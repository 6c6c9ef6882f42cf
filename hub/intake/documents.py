"""``GET /api/v1/documents/{document_id}`` and ``GET /api/v1/documents?unmatched=true``: official
documents (edXML) as staff and auditors ask about them — where each one stands with each agency.

Read like a dossier's trail (``dossiers.py``): only what the caller's agency is party to, unless it may
read all, and a document with nothing readable is "not found", word for word as an unknown one.
Document ids hold slashes (``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``): sent URL-encoded, and taken
whole either way.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.convertors import Convertor, register_url_convertor

from lienthong.documents import document_report, document_trail
from lienthong.errors import NotFoundError, RequestInvalidError
from lienthong.intake.document_models import (
    DocumentStates,
    HistoryItemView,
    checked_document_id,
    document_view,
    history_view,
)
from lienthong.intake.public_url import public_base_url
from lienthong.intake.rest import HubDep, Reader

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


class _DocumentIdConvertor(Convertor[str]):
    """The rest of the path, slashes and all, and any character: Starlette's ``path`` stops at a
    newline, which would make an id with a control character an unknown route (404) instead of the
    reader's mistake it is (422, see ``checked_document_id``)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("document_id", _DocumentIdConvertor())


def document_router() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/api/v1/documents",
        response_model=list[HistoryItemView],
        response_model_by_alias=True,
        tags=["status"],
        responses={422: {"description": "Without unmatched=true: nothing to list.", **_PROBLEM}},
    )
    def list_documents(
        request: Request,
        hub: HubDep,
        reader: Reader,
        unmatched: Annotated[
            bool, Query(description="Status packages about a document the hub does not know.")
        ] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[HistoryItemView]:
        """With ``unmatched=true``: the edXML status packages whose document the hub holds no document
        message of (yet), oldest first. Kept as messages and delivered like any other; listed here
        so that someone looks. One document is read at ``/api/v1/documents/{document_id}``."""
        if not unmatched:
            raise RequestInvalidError(
                "list status packages with ?unmatched=true; read one document at /api/v1/documents/{id}",
                detail={"errors": [{"location": "query.unmatched", "message": "only unmatched=true"}]},
            )
        entries = hub.store.unmatched_status_packages(reader.parties, limit)
        return history_view(entries, public_base_url(request, hub.config))

    @router.get(
        "/api/v1/documents/{document_id:document_id}",
        response_model=DocumentStates,
        response_model_by_alias=True,
        tags=["status"],
        responses={
            404: {"description": "No message about this document that the caller may read.", **_PROBLEM},
            422: {"description": "Not a document id: too long, or control characters.", **_PROBLEM},
        },
    )
    def document_states(document_id: str, request: Request, hub: HubDep, reader: Reader) -> DocumentStates:
        """One official document by its DocumentId (URL-encoded): the document (from, to, subject,
        code, business type), its state with each agency (since when, the last status code), its
        history (every message about it, with its deliveries) and the documents it revokes, updates
        or replaces, or that do so to it."""
        checked = checked_document_id(document_id)
        entries = document_trail(hub.store, checked, reader.parties)
        if not entries:
            raise NotFoundError(f"no message about document {checked}")
        return document_view(document_report(checked, entries), public_base_url(request, hub.config))

    return router
