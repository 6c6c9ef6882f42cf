"""The envelope headers that carry an edXML message's facts, and the document links they imply.

Intake reads an edXML payload once (:mod:`lienthong.intake.edxml_facts`) and writes what the hub needs
to know of it into the envelope's headers, which are immutable and fingerprinted like the rest of the
envelope. Everything after intake — the store's document links, the document states, the REST views —
reads these headers, never the payload again: a document may be 50 MB, its header is a few lines.

The ``edxml.`` header prefix belongs to the hub: a sender cannot set these headers to other values than
the payload's (intake refuses the message), so a link or a status in the store always says what a
payload said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "edxml."
DOCUMENT_ID: Final = "edxml.document_id"  # the message's own DocumentId (a status package has none)
MESSAGE_TYPE: Final = "edxml.message_type"  # edoc | status
STATUS_CODE: Final = "edxml.status_code"  # status packages only: 01 … 16
BUSINESS_DOC_TYPE: Final = "edxml.business_doc_type"  # documents only: 0 new, 1 revoke, 2 update, 3 replace
FROM: Final = "edxml.from"  # the sender's OrganId (a status package: the status's From)
TO: Final = "edxml.to"  # the recipients' OrganIds, comma-separated
QUIRKS: Final = "edxml.quirks"  # the quirk codes the reader reported, comma-separated
SUBJECT: Final = "edxml.subject"  # documents only: Subject (trích yếu)
CODE: Final = "edxml.code"  # documents only: CodeNumber/CodeNotation (số, ký hiệu)
#: Revocations, updates and replacements: the documents they change, as JSON
#: ``[{"document_id": …, "agencies": [OrganId, …]}]``. Document ids hold commas, hence JSON; an empty
#: ``agencies`` means every recipient of the change (``edxml.to``).
CHANGES: Final = "edxml.changes"

#: BussinessDocType → the link role of the documents a change names, and the kind of change.
CHANGE_ROLES: Final[dict[str, str]] = {"1": "revokes", "2": "updates", "3": "replaces"}
SELF: Final = "self"  # the link of a document to its own DocumentId
ANSWERS: Final = "answers"  # the link of a status package to the document it is about


@dataclass(frozen=True)
class Change:
    """One document a revocation, update or replacement changes, for which agencies."""

    document_id: str
    agencies: tuple[str, ...] = ()


def split_list(value: str | None) -> tuple[str, ...]:
    """A comma list header (``edxml.to``, ``edxml.quirks``) as its items."""
    return tuple(item for item in (value or "").split(",") if item)


def changes_of(headers: Mapping[str, str]) -> tuple[Change, ...]:
    """The documents a change document names (empty for anything else)."""
    text = headers.get(CHANGES)
    if not text:
        return ()
    return tuple(
        Change(str(item["document_id"]), tuple(str(a) for a in item.get("agencies", ())))
        for item in json.loads(text)
    )


def changes_header(changes: tuple[Change, ...]) -> str:
    """``edxml.changes`` for these changes: compact JSON, text kept as it is (``ensure_ascii`` off), so
    the header is the same bytes for the same payload (it is fingerprinted)."""
    return json.dumps(
        [{"document_id": c.document_id, "agencies": list(c.agencies)} for c in changes],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def document_links(headers: Mapping[str, str], document_id: str | None) -> list[tuple[str, str]]:
    """Every (document id, role) an edXML message is about, for the store's ``document_links``:
    a document's own id (``self``) and the documents it revokes, updates or replaces; a status
    package's document (``answers``). ``document_id`` is the envelope's (the document it is about).
    Nothing for a message without edXML facts."""
    message_type = headers.get(MESSAGE_TYPE)
    links: list[tuple[str, str]] = []
    if message_type == "status":
        if document_id:
            links.append((document_id, ANSWERS))
    elif message_type == "edoc":
        own = headers.get(DOCUMENT_ID)
        if own:
            links.append((own, SELF))
        role = CHANGE_ROLES.get(headers.get(BUSINESS_DOC_TYPE, "0"))
        if role is not None:
            links += [(change.document_id, role) for change in changes_of(headers)]
    unique: list[tuple[str, str]] = []
    for link in links:
        if link not in unique:
            unique.append(link)
    return unique
