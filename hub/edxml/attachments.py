"""The attachments of an edXML document, decoded and checked without a second copy of them.

An edXML document carries its files base64-encoded in ``AttachmentEncoded/Attachment``, up to 50 MB
per document. Decoding one with ``b64decode(text)`` would hold the text and the whole decoded file
at once; here the text is decoded a slice at a time (slices cut on 4-character boundaries, whitespace
removed), each slice fed to SHA-256 and counted, then dropped. What remains is what a person and
the document states need: size, digest, whether the declared type is what the bytes are, and whether
the manifest (``edXMLBody/edXMLManifest/Reference/ContentId``) names the part.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from typing import Final

from lxml import etree

from lienthong.edxml.model import Attachment, Quirk
from lienthong.errors import EdxmlError

__all__ = ["DEFAULT_MAX_BYTES", "MAGIC", "content_id_key", "line_of", "scan"]

#: Decoded bytes of all attachments of one document, by default (QCVN 102 traffic: 50 MB per document).
DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024

#: Characters of base64 text decoded at a time: 1 MiB of text, 768 KiB of bytes.
_SLICE: Final = 1024 * 1024

_ZIP: Final = (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty one
_OLE: Final = (bytes.fromhex("D0CF11E0A1B11AE1"),)  # .doc, .xls, .ppt
#: Declared content type → the first bytes its files start with. A type not listed is not checked.
MAGIC: Final[dict[str, tuple[bytes, ...]]] = {
    "application/pdf": (b"%PDF",),
    "application/zip": _ZIP,
    "application/x-zip-compressed": _ZIP,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _ZIP,
    "application/msword": _OLE,
    "application/vnd.ms-excel": _OLE,
    "application/vnd.ms-powerpoint": _OLE,
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/jpg": (b"\xff\xd8\xff",),
}
_HEAD: Final = max(len(m) for magics in MAGIC.values() for m in magics)
_WHITESPACE: Final = str.maketrans("", "", " \t\r\n")


def _local(el: etree._Element) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def line_of(el: etree._Element) -> int | None:
    """The line an element was parsed from (None for one built in memory)."""
    line: int | None = getattr(el, "sourceline", None)  # lxml-stubs do not type it
    return line


def _text(el: etree._Element, local: str) -> str | None:
    for child in el:
        if _local(child) == local:
            return (child.text or "").strip() or None
    return None


def content_id_key(content_id: str) -> str:
    """A ContentId as the manifest and the attachment both mean it: ``cid:209``, ``<209>`` and ``209``
    name the same part (senders differ on the ``cid:`` prefix)."""
    key = content_id.strip().strip("<>")
    if key[:4].lower() == "cid:":
        key = key[4:]
    return key.strip().strip("<>")


def _slices(text: str) -> Iterator[str]:
    """Whitespace-free base64 in runs of a multiple of 4 characters (the last one excepted)."""
    carry = ""
    for start in range(0, len(text), _SLICE):
        run = carry + text[start : start + _SLICE].translate(_WHITESPACE)
        cut = len(run) - len(run) % 4
        carry = run[cut:]
        if cut:
            yield run[:cut]
    if carry:
        yield carry  # not a multiple of 4: decoding it fails, as it should


def _decode(text: str, where: str, budget: int, limit: int) -> tuple[int, str, bytes]:
    """Size, SHA-256 hex and the first bytes of the base64 ``text``, decoded a slice at a time.

    Raises EdxmlError for text that is not base64 or that decodes to more than ``budget`` bytes (what
    is left of the document's ``limit``)."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    padded = False
    for run in _slices(text):
        if padded:  # '=' ends the data: anything after it would be silently dropped by a decoder
            raise EdxmlError(f"{where}: ContentTransferEncoded has data after the base64 padding")
        try:
            chunk = base64.b64decode(run, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EdxmlError(f"{where}: ContentTransferEncoded is not valid base64 ({exc})") from None
        padded = run.endswith("=")
        size += len(chunk)
        if size > budget:
            raise EdxmlError(
                f"{where}: the attachments decode to more than the limit of {limit} bytes per document",
                detail={"limit": limit},
            )
        if len(head) < _HEAD:
            head += chunk[: _HEAD - len(head)]
        digest.update(chunk)
        del chunk
    return size, digest.hexdigest(), head


def scan(
    root: etree._Element, *, max_bytes: int = DEFAULT_MAX_BYTES, quirks: list[Quirk] | None = None
) -> tuple[Attachment, ...]:
    """Every ``AttachmentEncoded/Attachment`` of the document ``root``, decoded and checked.

    Elements are found by local name, whatever their namespace (real senders write these parts
    unprefixed). ``quirks``, when given, receives what departs from the standard without making the
    document unusable: ``attachment-type-mismatch`` (the declared ContentType is not what the bytes
    start with), ``attachment-unreferenced`` (no manifest Reference names the part),
    ``reference-without-attachment`` (a Reference names no part). Raises EdxmlError for a part that
    is not base64, has no ContentId, or for attachments decoding to more than ``max_bytes`` together.
    """
    referenced: set[str] = set()
    references: list[tuple[str, int | None]] = []
    parts: list[etree._Element] = []
    for child in root:
        if _local(child) == "edXMLEnvelope":
            for el in child.iter():
                parent = el.getparent()
                if _local(el) == "Reference" and parent is not None and _local(parent) == "edXMLManifest":
                    cid = _text(el, "ContentId")
                    if cid is not None:
                        referenced.add(content_id_key(cid))
                        references.append((cid, line_of(el)))
        elif _local(child) == "AttachmentEncoded":
            parts.extend(p for p in child if _local(p) == "Attachment")

    found: list[Attachment] = []
    budget = max_bytes
    for number, part in enumerate(parts, start=1):
        cid = _text(part, "ContentId")
        where = f"AttachmentEncoded/Attachment[{number}]" + (f" ({cid})" if cid else "")
        if cid is None:
            raise EdxmlError(f"{where}: ContentId is missing", detail={"line": line_of(part)})
        encoded = next((c for c in part if _local(c) == "ContentTransferEncoded"), None)
        if encoded is None:
            raise EdxmlError(f"{where}: ContentTransferEncoded is missing", detail={"line": line_of(part)})
        size, sha256, head = _decode(encoded.text or "", where, budget, max_bytes)
        budget -= size
        content_type = _text(part, "ContentType")
        declared = (content_type or "").split(";")[0].strip().lower()
        if quirks is not None:
            magics = MAGIC.get(declared)
            if magics is not None and size and not head.startswith(magics):
                quirks.append(
                    Quirk(
                        "attachment-type-mismatch",
                        f"{where}: declared {content_type}, but its bytes do not start as such a file does",
                        line_of(part),
                    )
                )
        is_referenced = content_id_key(cid) in referenced
        if quirks is not None and not is_referenced:
            quirks.append(
                Quirk("attachment-unreferenced", f"{where}: no manifest Reference names it", line_of(part))
            )
        found.append(
            Attachment(
                content_id=cid,
                name=_text(part, "AttachmentName"),
                description=_text(part, "Description"),
                content_type=content_type,
                size=size,
                sha256=sha256,
                referenced=is_referenced,
            )
        )
    if quirks is not None:
        present = {content_id_key(a.content_id) for a in found}
        for cid, line in references:
            if content_id_key(cid) not in present:
                quirks.append(
                    Quirk(
                        "reference-without-attachment",
                        f"edXMLManifest/Reference {cid}: no attachment has this ContentId",
                        line,
                    )
                )
    return tuple(found)
