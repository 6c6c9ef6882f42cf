"""How ``hub documents show`` and ``hub documents unmatched`` print: tables in Vietnam's time, like
``hub trail`` (:mod:`lienthong.trail`), since staff read documents as they read dossiers."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from lienthong.documents import DocumentReport
from lienthong.edxml import headers as h
from lienthong.edxml.names import BUSINESS_DOC_TYPES, STATUS_CODES
from lienthong.store import TrailEntry
from lienthong.trail import vietnam_time

__all__ = ["document_tables", "unmatched_table"]


def _row(*cells: str | None) -> list[str]:
    return [escape(cell or "") for cell in cells]


def _code(code: str | None) -> str:
    if not code:
        return ""
    name = STATUS_CODES.get(code)
    return f"{code} {name[1]}" if name else code


def document_tables(report: DocumentReport) -> list[Table]:
    """The document, its states per agency, its related documents (if any) and its history."""
    tables = []
    doc = report.document
    about = Table("field", "value", title=f"document {escape(report.document_id)}", show_header=False)
    if doc is None:
        about.add_row("document", "(not held by the hub: only messages about it)")
    else:
        business = doc.business_doc_type or ""
        if business in BUSINESS_DOC_TYPES:
            business = f"{business} {BUSINESS_DOC_TYPES[business][1]}"
        for name, value in (
            ("from", doc.sender),
            ("to", ", ".join(doc.recipients)),
            ("subject", doc.subject),
            ("code", doc.code),
            ("business type", business),
            ("received (ICT)", vietnam_time(doc.received_at)),
            ("message", str(doc.message_id)),
        ):
            about.add_row(*_row(name, value))
    tables.append(about)
    states = Table("agency", "state", "since (ICT)", "last code", title="states")
    for state in report.states:
        states.add_row(*_row(state.agency, state.state, vietnam_time(state.at), _code(state.code)))
    tables.append(states)
    if report.related:
        related = Table("relation", "document", "message", title="related documents")
        for item in report.related:
            related.add_row(*_row(item.relation, item.document_id, str(item.message_id)))
        tables.append(related)
    tables.append(_history(report.history, "history"))
    return tables


def unmatched_table(entries: Sequence[TrailEntry]) -> Table:
    """Status packages about documents the hub does not know, oldest first."""
    return _history(entries, "status packages about unknown documents", document=True)


def _history(entries: Sequence[TrailEntry], title: str, *, document: bool = False) -> Table:
    columns = ["time (ICT)", "kind", "code", "from", "deliveries", "message"]
    if document:
        columns.insert(3, "document")
    table = Table(*columns, title=title)
    for entry in entries:
        env = entry.envelope
        headers = env.headers
        code = headers.get(h.STATUS_CODE) or (
            f"type {headers[h.BUSINESS_DOC_TYPE]}" if h.BUSINESS_DOC_TYPE in headers else ""
        )
        deliveries = ", ".join(f"{d.target}: {d.state.value}" for d in entry.deliveries) or "none"
        cells = [
            vietnam_time(env.received_at),
            env.kind.value,
            _code(code) if h.STATUS_CODE in headers else code,
            headers.get(h.FROM) or env.sender,
            deliveries,
            str(env.message_id),
        ]
        if document:
            cells.insert(3, env.document_id or "(none)")
        table.add_row(*_row(*cells))
    return table
