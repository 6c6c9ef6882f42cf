"""Document facts at intake: what an edXML payload says of itself, written into its envelope.

An official document or status package arrives as edXML (QCVN 102:2016). Before it is routed, intake
reads it (:func:`lienthong.edxml.read.read_edxml`, tolerant of real senders' quirks) and fills the
envelope: kind ``document`` or ``status``, ``document_id`` = the document the message is about (a
status package's, a revocation's target), ``document_type`` = ``edxml`` and the ``edxml.*`` headers
(:mod:`lienthong.edxml.headers`), and the recipient when the sender left it unset (a status
package's: the document's issuer). The correlation id then follows the document id, so that every
message about one document shares it, whoever sends it.

Envelopes are immutable and fingerprinted (a repeat is told from a conflict by the fingerprint), so the
facts are a function of the payload alone: the same bytes give the same envelope. What a sender states
itself is never overridden: a kind, document id, type or ``edxml.*`` header that disagrees with the
payload is refused (:class:`~lienthong.errors.DocumentFactsError`, 422), naming the field.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from lxml import etree

from lienthong.edxml import headers as h
from lienthong.envelope import Envelope, MessageKind, derive_correlation_id, nfc
from lienthong.errors import DocumentFactsError
from lienthong.xml import EDXML_NS

if TYPE_CHECKING:
    from lienthong.edxml.model import EdxmlMessage

__all__ = ["DOCUMENT_TYPE", "EDXML_ROOT", "apply_facts", "facts_of", "is_edxml", "refuse_foreign_facts"]

log = logging.getLogger("lienthong.edxml")

EDXML_ROOT = f"{{{EDXML_NS}}}edXML"
DOCUMENT_TYPE = "edxml"


def is_edxml(root: etree._Element) -> bool:
    return root.tag == EDXML_ROOT


def facts_of(msg: EdxmlMessage) -> tuple[MessageKind, str | None, dict[str, str]]:
    """The kind, document id and ``edxml.*`` headers of a message as read."""
    kind = MessageKind.STATUS if msg.message_type == "status" else MessageKind.DOCUMENT
    facts: dict[str, str] = {
        h.MESSAGE_TYPE: msg.message_type,
        h.FROM: msg.sender.organ_id,
        h.TO: ",".join(organ.organ_id for organ in msg.recipients),
        h.QUIRKS: ",".join(dict.fromkeys(quirk.code for quirk in msg.quirks)),
    }
    if msg.document_id:
        facts[h.DOCUMENT_ID] = msg.document_id
    if msg.message_type == "status":
        facts[h.STATUS_CODE] = msg.status.code if msg.status is not None else ""
    else:
        facts[h.BUSINESS_DOC_TYPE] = msg.business_doc_type
        if msg.subject:
            facts[h.SUBJECT] = msg.subject
        code = "/".join(part for part in (msg.code_number, msg.code_notation) if part)
        if code:
            facts[h.CODE] = code
        changes = _changes(msg)
        if changes:
            facts[h.CHANGES] = h.changes_header(changes)
    return kind, msg.subject_document_id, {k: nfc(v) or "" for k, v in facts.items()}


def _changes(msg: EdxmlMessage) -> tuple[h.Change, ...]:
    """The documents a revocation or update (its subject) or a replacement (each ReplacementInfo,
    agencies merged per document) changes; nothing for a new document."""
    doc_type = msg.business_doc_type
    if doc_type in ("1", "2"):
        subject = msg.subject_document_id
        return (h.Change(subject),) if subject else ()
    if doc_type != "3" or msg.business is None:
        return ()
    agencies: dict[str, dict[str, None]] = {}
    for replacement in msg.business.replacements:
        agencies.setdefault(replacement.document_id, {}).update(dict.fromkeys(replacement.organ_ids))
    return tuple(h.Change(doc, tuple(organs)) for doc, organs in agencies.items())


def refuse_foreign_facts(envelope: Envelope) -> None:
    """A payload that is not edXML carries no ``edxml.*`` header: those say what an edXML payload
    said, and the store links documents by them."""
    for name in envelope.headers:
        if name.startswith(h.PREFIX):
            raise DocumentFactsError(
                f"header {name!r} is the hub's, for edXML payloads only; this payload is not edXML",
                detail={"field": f"headers.{name}"},
            )


def apply_facts(envelope: Envelope, root: etree._Element, *, keep_correlation: bool) -> Envelope:
    """The envelope with the facts of its edXML payload (``root``, what the hub acts on).

    ``keep_correlation``: the sender chose the correlation id itself; otherwise it is derived from the
    dossier code or, failing that, the document id (a random one would make a repeat a conflict).
    """
    from lienthong.edxml.read import read_edxml  # the reader, loaded only when edXML arrives

    msg = read_edxml(root)
    kind, document_id, facts = facts_of(msg)
    _agree("kind", envelope.kind.value, kind.value)
    if envelope.document_id is not None:
        _agree("document_id", envelope.document_id, document_id)
    if envelope.document_type is not None:
        _agree("document_type", envelope.document_type, DOCUMENT_TYPE)
    for name, value in envelope.headers.items():
        if name.startswith(h.PREFIX):
            _agree(f"headers.{name}", value, facts.get(name))
    if msg.quirks:
        log.warning(
            "edXML from %s (%s) departs from the standard: %s",
            envelope.sender,
            envelope.sender_message_id,
            "; ".join(f"{q.code}: {q.message}" for q in msg.quirks),
        )
    correlation_id = envelope.correlation_id
    if not keep_correlation and (envelope.dossier_code or document_id):
        correlation_id = derive_correlation_id(envelope.dossier_code, document_id)
    return replace(
        envelope,
        recipient=envelope.recipient or _recipient(msg, document_id),
        kind=kind,
        document_id=document_id,
        document_type=DOCUMENT_TYPE,
        correlation_id=correlation_id,
        headers={**envelope.headers, **facts},
    )


def _recipient(msg: EdxmlMessage, document_id: str | None) -> str | None:
    """Who the message is for, when the sender did not say: a status package's is the issuer of the
    document it answers (``ResponseFor/OrganId``), a document's its one recipient. This is what lets
    that agency read it (docs/api.md, the read boundary); several recipients leave it unset."""
    if msg.message_type == "status":
        for about in msg.response_for:
            if about.document_id == document_id and about.organ_id:
                return nfc(about.organ_id)
        return None
    return nfc(msg.recipients[0].organ_id) if len(msg.recipients) == 1 else None


def _agree(field: str, given: str, payload: str | None) -> None:
    if given != payload:
        raise DocumentFactsError(
            f"{field} {given!r} disagrees with the edXML payload, which says {payload!r}",
            detail={"field": field, "given": given, "payload": payload},
        )
