"""What the simulated agencies write: status packages (01 … 16) and documents, signed as each agency.

Built with the hub's own edXML builders (:mod:`lienthong.edxml.build`), so what the simulators send is
the standard form the hub emits; signed by the hub's own signer with policy ``edxml`` (the signature
the last child of ``edXMLHeader``, RSA-SHA256) using the agency's development key, as ``hub keys
dev-ca`` writes them (``<keys_dir>/<code>.key`` and ``.pem``). An agency without a key there sends
unsigned packages: useful to test what the hub does with those.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from lxml import etree

from lienthong.config.models import KeyReference, SigningPolicyConfig
from lienthong.devtools.simulator.axis.facts import EdocFacts
from lienthong.edxml.build import build_document, build_status
from lienthong.edxml.model import Business, Organ, Replacement, ResponseFor, StaffInfo
from lienthong.edxml.names import STATUS_CODES
from lienthong.trust.keys import Keystore
from lienthong.trust.sign import Signer, build_signer

__all__ = ["AgencySigners", "document_for", "serialize", "status_for"]

log = logging.getLogger("lienthong.simulator")


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class AgencySigners:
    """One signer per agency with a key in ``keys_dir``, loaded the first time that agency signs."""

    def __init__(self, keys_dir: Path | None) -> None:
        self.keys_dir = keys_dir
        self._signers: dict[str, Signer | None] = {}
        self._lock = threading.Lock()

    def signer(self, agency: str) -> Signer | None:
        with self._lock:
            if agency not in self._signers:
                self._signers[agency] = self._load(agency)
            return self._signers[agency]

    def _load(self, agency: str) -> Signer | None:
        if self.keys_dir is None:
            return None
        key, cert = self.keys_dir / f"{agency}.key", self.keys_dir / f"{agency}.pem"
        if not key.is_file():
            log.warning("simulator: no key for %s in %s; its messages go unsigned", agency, self.keys_dir)
            return None
        ref = KeyReference(id="agency", key_file=key, certificate_file=cert if cert.is_file() else None)
        keystore = Keystore.load([ref], self.keys_dir, {})
        return build_signer(SigningPolicyConfig(policy="edxml", algorithm="rsa-sha256"), keystore)

    def sign(self, agency: str, root: etree._Element) -> tuple[etree._Element, bool]:
        """The document signed as ``agency`` when it has a key (True), else as it was (False)."""
        signer = self.signer(agency)
        return (signer.sign(root), True) if signer is not None else (root, False)


def status_for(
    facts: EdocFacts, *, answering: Organ, code: str, staff: StaffInfo | None = None
) -> etree._Element:
    """``answering``'s status package ``code`` about the document ``facts`` describe (its ResponseFor
    names that document: its sender, code, date and DocumentId)."""
    vi, _ = STATUS_CODES.get(code, (code, code))
    about = ResponseFor(
        organ_id=facts.sender,
        code=facts.code,
        promulgation_date=facts.promulgation_date,
        document_id=facts.document_id,
    )
    return build_status(about=about, sender=answering, code=code, description=vi, staff=staff)


def document_for(request: Mapping[str, object], sender: Organ, recipients: Sequence[Organ]) -> etree._Element:
    """A document as ``/_sim/inject`` describes it in JSON (docs/simulators.md): subject, code_number,
    code_notation, promulgation_date (yyyy-mm-dd), business_doc_type with response_for (the document
    revoked, updated or replaced), content."""

    def text(name: str, default: str | None = None) -> str | None:
        value = request.get(name, default)
        return str(value) if value is not None else None

    doc_type = text("business_doc_type", "0") or "0"
    targets = request.get("response_for") or []
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list):
        raise ValueError("response_for: a DocumentId, or a list of them")
    response_for = [ResponseFor(_organ_of(str(t)), None, None, str(t)) for t in targets]
    if doc_type != "0" and not response_for:
        raise ValueError(f"business_doc_type {doc_type} needs response_for (the document it changes)")
    if doc_type == "3":
        business = Business(
            doc_type="3",
            reason=text("reason"),
            replacements=tuple(
                Replacement(r.document_id or "", tuple(o.organ_id for o in recipients)) for r in response_for
            ),
        )
    else:
        business = Business(
            doc_type=doc_type,
            reason=text("reason"),
            document_id=response_for[0].document_id if doc_type in ("1", "2") else None,
        )
    issued = text("promulgation_date")
    return build_document(
        sender=sender,
        recipients=recipients,
        code_number=text("code_number", "1") or "1",
        code_notation=text("code_notation", "SIM") or "SIM",
        subject=text("subject", "Văn bản mô phỏng") or "Văn bản mô phỏng",
        content=text("content"),
        promulgation_date=date.fromisoformat(issued) if issued else None,
        business=business,
        response_for=response_for,
        attachments=_attachments(request.get("attachments")),
    )


def _attachments(given: object) -> list[tuple[str, str, bytes]]:
    """``[{name, content_type, data_base64}]`` as the builder takes them."""
    if given is None:
        return []
    if not isinstance(given, list) or not all(isinstance(a, dict) for a in given):
        raise ValueError("attachments: a list of {name, content_type, data_base64}")
    out = []
    for a in given:
        try:
            data = base64.b64decode(str(a.get("data_base64", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"attachment {a.get('name')!r}: data_base64 is not base64") from exc
        out.append(
            (str(a.get("name", "attachment")), str(a.get("content_type", "application/octet-stream")), data)
        )
    return out


def _organ_of(document_id: str) -> str | None:
    """The sender's OrganId a DocumentId starts with (``<OrganId>,<date>,<code>``)."""
    head = document_id.split(",", 1)[0].strip()
    return head or None
