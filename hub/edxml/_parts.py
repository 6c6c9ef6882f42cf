"""What the reader decodes rather than reads: the signature's shape and certificate, and each
attachment's content (size, SHA-256, first bytes), linked to the manifest. Private to
:mod:`lienthong.edxml.read`.

Attachment content is decoded here, minimally and a few MiB at a time, until
``lienthong.edxml.attachments.scan`` (streaming, with its size limits and the full type check) is
available to the reader.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from lxml import etree

from lienthong.edxml._tolerant import QuirkLog, children, local, text_of
from lienthong.edxml.model import Attachment, SignatureInfo
from lienthong.edxml.names import EDXML_NS, XMLDSIG_NS

__all__ = ["attachments", "signature_info"]

_LEGACY_ALGORITHMS: Final = ("rsa-sha1", "dsa-sha1", "hmac-sha1")


def signature_info(
    log: QuirkLog, root: etree._Element, envelope: etree._Element, header: etree._Element
) -> SignatureInfo | None:
    candidates = [
        *children(header, "Signature"),
        *children(envelope, "Signature"),
        *children(root, "Signature"),
    ]
    if not candidates:
        candidates = [el for el in root.iter() if isinstance(el.tag, str) and local(el) == "Signature"][:1]
    if not candidates:
        return None
    sig = candidates[0]
    namespace = etree.QName(sig).namespace or ""
    if namespace == EDXML_NS:
        log.quirk(
            "signature-unprefixed",
            "the Signature is written without the XML Signature namespace (it falls in the edXML "
            "namespace); read as the XML Signature it is meant to be",
            sig,
        )
    elif namespace != XMLDSIG_NS:
        log.quirk("signature-namespace", f"the Signature is in namespace {namespace!r}", sig)
    method = next(
        (el for el in sig.iter() if isinstance(el.tag, str) and local(el) == "SignatureMethod"), None
    )
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm and algorithm.rsplit("#", 1)[-1] in _LEGACY_ALGORITHMS:
        log.quirk(
            "legacy-signature-algorithm",
            f"the signature uses {algorithm.rsplit('#', 1)[-1]} (SHA-1), accepted only where the "
            "sender's policy allows legacy SHA-1",
            method,
        )
    return SignatureInfo(algorithm=algorithm, namespace=namespace, certificate_subject=_certificate(log, sig))


def _certificate(log: QuirkLog, sig: etree._Element) -> str | None:
    el = next((c for c in sig.iter() if isinstance(c.tag, str) and local(c) == "X509Certificate"), None)
    text = text_of(el)
    if text is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
        return cert.subject.rfc4514_string()
    except (binascii.Error, ValueError) as exc:
        log.quirk(
            "certificate-unreadable",
            f"the X509Certificate ({len(text)} base64 characters) cannot be read: truncated or not "
            f"a certificate ({exc})",
            el,
        )
        return None


def attachments(log: QuirkLog, root: etree._Element, envelope: etree._Element) -> tuple[Attachment, ...]:
    manifest = log.one(log.one(envelope, "edXMLBody", "edXMLEnvelope"), "edXMLManifest", "edXMLBody")
    references: dict[str, etree._Element] = {}
    for ref in children(manifest, "Reference"):
        cid = _content_id(log.value(ref, "ContentId", "Reference"))
        if cid:
            references.setdefault(cid, ref)
    parts = [
        a
        for holder in (*children(root, "AttachmentEncoded"), *children(envelope, "AttachmentEncoded"))
        for a in children(holder, "Attachment")
    ]
    found: list[Attachment] = []
    seen: set[str] = set()
    for el in parts:
        found.append(_attachment(log, el, references))
        seen.add(_content_id(found[-1].content_id))
    for cid, ref in references.items():
        if cid not in seen:
            log.quirk(
                "reference-without-attachment",
                f"the manifest names ContentId {cid!r}, but no AttachmentEncoded/Attachment carries it",
                ref,
            )
    return tuple(found)


def _attachment(log: QuirkLog, el: etree._Element, references: dict[str, etree._Element]) -> Attachment:
    where = "Attachment"
    raw_cid = log.value(el, "ContentId", where) or ""
    ref = references.get(_content_id(raw_cid))
    declared = log.value(el, "ContentType", where)
    name = log.value(el, "AttachmentName", where) or log.value(ref, "AttachmentName", "Reference")
    if not raw_cid:
        log.quirk("attachment-without-content-id", "an Attachment has no ContentId", el)
    elif ref is None:
        log.quirk(
            "attachment-unreferenced",
            f"Attachment {raw_cid!r} is named by no manifest Reference/ContentId",
            el,
        )
    referenced_type = log.value(ref, "ContentType", "Reference")
    if declared and referenced_type and declared.lower() != referenced_type.lower():
        log.quirk(
            "attachment-type-mismatch",
            f"Attachment {raw_cid!r} is declared {declared}, its manifest Reference says {referenced_type}",
            el,
        )
    encoded = log.one(el, "ContentTransferEncoded", where)
    try:
        decoded = _decode_attachment(encoded.text if encoded is not None and encoded.text else "")
    except ValueError as exc:
        raise log.refuse(
            f"Attachment {raw_cid!r} ({name}): ContentTransferEncoded is not base64 ({exc})",
            element="Attachment/ContentTransferEncoded",
            at=encoded,
        ) from exc
    if decoded.size == 0:
        log.quirk("attachment-empty", f"Attachment {raw_cid!r} ({name}) carries no content", el)
    elif (actual := _sniff_mismatch(declared or referenced_type, decoded.head)) is not None:
        log.quirk(
            "attachment-type-mismatch",
            f"Attachment {raw_cid!r} ({name}) is declared {declared or referenced_type}, "
            f"but its content is {actual}",
            encoded,
        )
    return Attachment(
        content_id=raw_cid,
        name=name,
        description=log.value(el, "Description", where) or log.value(ref, "Description", "Reference"),
        content_type=declared or referenced_type,
        size=decoded.size,
        sha256=decoded.sha256,
        referenced=ref is not None,
    )


def _content_id(value: str | None) -> str:
    """``cid:209``, ``<209>`` and ``209`` name the same part."""
    text = (value or "").strip()
    if text[:4].lower() == "cid:":
        text = text[4:]
    return text.strip("<> ")


_CHUNK: Final = 4 * 1024 * 1024  # base64 characters decoded at a time
_MAGIC: Final = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP (zip, docx, xlsx, odt)"),
    (b"PK\x05\x06", "ZIP (zip, docx, xlsx, odt)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 (doc, xls)"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
)
_EXPECTED: Final = {
    "application/pdf": "PDF",
    "application/zip": "ZIP (zip, docx, xlsx, odt)",
    "application/x-zip-compressed": "ZIP (zip, docx, xlsx, odt)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "ZIP (zip, docx, xlsx, odt)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "ZIP (zip, docx, xlsx, odt)",
    "application/vnd.oasis.opendocument.text": "ZIP (zip, docx, xlsx, odt)",
    "application/msword": "OLE2 (doc, xls)",
    "application/vnd.ms-excel": "OLE2 (doc, xls)",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
}


@dataclass(frozen=True)
class _Decoded:
    size: int
    sha256: str
    head: bytes


def _decode_attachment(text: str) -> _Decoded:
    """Size, SHA-256 and first bytes of base64 text, decoded a few MiB at a time so that a 50 MB
    attachment is never held decoded in full; ValueError when it is not base64."""
    digest = hashlib.sha256()
    size, head, carry = 0, b"", ""
    for start in range(0, len(text), _CHUNK):
        piece = carry + "".join(text[start : start + _CHUNK].split())
        cut = len(piece) - len(piece) % 4
        block, carry = piece[:cut], piece[cut:]
        try:
            raw = base64.b64decode(block, validate=True)
        except binascii.Error as exc:
            raise ValueError(str(exc)) from None
        digest.update(raw)
        size += len(raw)
        if len(head) < 16:
            head = (head + raw)[:16]
    if carry:
        raise ValueError(f"{len(carry)} base64 character(s) left over at the end")
    return _Decoded(size, digest.hexdigest(), head)


def _sniff_mismatch(declared: str | None, head: bytes) -> str | None:
    """What the content is, when its first bytes contradict a declared type the hub knows."""
    expected = _EXPECTED.get((declared or "").split(";")[0].strip().lower())
    if expected is None:
        return None
    actual = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "of an unrecognised type")
    return None if actual == expected else actual
