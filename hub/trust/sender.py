"""An edXML document speaks for the agency that sent it, and for no other.

The sender an edXML document names (``From/OrganId``; a status package's ``From``) is only text inside the
document. Who sent it is known from outside: the national axis's ``from`` header for what the hub fetches,
the authenticated caller for what an agency posts. A document whose ``From`` differs is one agency
speaking as another, and is refused before anything acts on it.

The signature is the other half: verifying it *for that same agency* (``XmlVerifier.check(data,
agency)``) makes the agency's ``signers`` rules decide whether the signer's certificate speaks for it, so
a document naming agency A, sent as A, but signed with agency B's certificate is refused as
``signer-not-bound``. Both checks use the agency that sent the document, never the one the document names.
"""

from __future__ import annotations

from lienthong.errors import SenderMismatchError

__all__ = ["check_edxml_sender"]


def check_edxml_sender(declared_from: str, agency: str) -> None:
    """Refuse (:class:`SenderMismatchError`, ``edxml-sender-mismatch``) unless the document's declared
    sender is the agency that sent it. Codes are compared exactly, surrounding blanks aside: an agency
    code is an identifier, and two spellings are two agencies."""
    declared = declared_from.strip()
    if declared and declared == agency.strip():
        return
    named = repr(declared) if declared else "no sender"
    raise SenderMismatchError(
        f"the edXML document names {named} as its sender (From/OrganId), but it was sent by agency "
        f"{agency!r}: an agency may send only documents in its own name",
        detail={"declared_from": declared, "agency": agency},
    )
