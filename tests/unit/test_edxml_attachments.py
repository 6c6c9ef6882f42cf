"""Attachments are decoded a slice at a time: what a person sees (size, digest, declared type checked,
manifest links) must be exactly what decoding the whole part at once would give."""

from __future__ import annotations

import base64
import hashlib
import os
import random
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from lienthong.edxml.attachments import content_id_key, scan
from lienthong.edxml.build import build_document
from lienthong.edxml.model import Organ, Quirk
from lienthong.edxml.names import EDXML_NS
from lienthong.errors import EdxmlError
from lienthong.xml import parse_xml

NS = {"edXML": EDXML_NS}
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 10
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
DOC = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 100


def document(*attachments: tuple[str, str, bytes]) -> etree._Element:
    return build_document(
        sender=Organ("000.00.00.H49"),
        recipients=[Organ("000.00.00.G15")],
        code_number="1",
        code_notation="UBND-VP",
        subject="Tệp đính kèm",
        promulgation_date=date(2026, 11, 30),
        attachments=attachments,
    )


def encoded(root: etree._Element, n: int = 1) -> etree._Element:
    found = root.find(f"edXML:AttachmentEncoded/edXML:Attachment[{n}]/edXML:ContentTransferEncoded", NS)
    assert found is not None
    return found


def test_size_digest_and_links_of_each_part() -> None:
    root = document(
        ("a.pdf", "application/pdf", PDF), ("b.png", "image/png", PNG), ("c.doc", "application/msword", DOC)
    )
    quirks: list[Quirk] = []
    found = scan(root, quirks=quirks)
    assert [(a.content_id, a.name, a.content_type, a.size, a.sha256, a.referenced) for a in found] == [
        ("cid:1", "a.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest(), True),
        ("cid:2", "b.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest(), True),
        ("cid:3", "c.doc", "application/msword", len(DOC), hashlib.sha256(DOC).hexdigest(), True),
    ]
    assert quirks == []


def test_line_wrapped_base64_decodes_to_the_same_bytes() -> None:
    """MIME-style 76-column lines, CRLF, indentation: the whitespace is not data."""
    data = os.urandom(300_000)
    root = document(("x.bin", "application/octet-stream", data))
    text = base64.b64encode(data).decode()
    encoded(root).text = "\n" + "\r\n    ".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n  "
    (found,) = scan(root)
    assert (found.size, found.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_twenty_megabyte_attachment_is_decoded_exactly() -> None:
    """Large enough for ~27 slices, with lines wrapped so that slices never fall on line boundaries."""
    data = random.Random(10).randbytes(20 * 1024 * 1024 + 7)
    root = document(("big.pdf", "application/pdf", b"%PDF" + data))
    text = base64.b64encode(b"%PDF" + data).decode()
    encoded(root).text = "\n".join(text[i : i + 998] for i in range(0, len(text), 998))
    quirks: list[Quirk] = []
    (found,) = scan(root, quirks=quirks)
    assert found.size == len(data) + 4
    assert found.sha256 == hashlib.sha256(b"%PDF" + data).hexdigest()
    assert quirks == []


def test_a_declared_type_the_bytes_contradict_is_a_quirk() -> None:
    root = document(
        ("a.pdf", "application/pdf", PNG),
        ("b.zip", "application/zip; name=b.zip", PDF),
        ("c.bin", "x/y", PDF),
    )
    quirks: list[Quirk] = []
    found = scan(root, quirks=quirks)
    assert len(found) == 3
    assert [(q.code, q.message) for q in quirks] == [
        (
            "attachment-type-mismatch",
            "AttachmentEncoded/Attachment[1] (cid:1): declared application/pdf, "
            "but its bytes do not start as such a file does",
        ),
        (
            "attachment-type-mismatch",
            "AttachmentEncoded/Attachment[2] (cid:2): declared application/zip; name=b.zip, "
            "but its bytes do not start as such a file does",
        ),
    ]


def test_manifest_and_parts_that_do_not_match_are_quirks() -> None:
    root = document(("a.pdf", "application/pdf", PDF), ("b.pdf", "application/pdf", PDF))
    content_ids = root.findall("edXML:AttachmentEncoded/edXML:Attachment/edXML:ContentId", NS)
    content_ids[0].text = "<1>"  # the same part, another way of writing its id
    content_ids[1].text = "cid:7"  # no reference names it; and cid:2 names nothing
    quirks: list[Quirk] = []
    found = scan(root, quirks=quirks)
    assert [(a.content_id, a.referenced) for a in found] == [("<1>", True), ("cid:7", False)]
    assert [(q.code, q.message) for q in quirks] == [
        (
            "attachment-unreferenced",
            "AttachmentEncoded/Attachment[2] (cid:7): no manifest Reference names it",
        ),
        ("reference-without-attachment", "edXMLManifest/Reference cid:2: no attachment has this ContentId"),
    ]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("UEsDBBQ*AAA", "not valid base64"),
        ("UEsDBBQ", "not valid base64"),  # 7 characters: truncated
        ("UEs=UEsD", "not valid base64"),  # padding in the middle of a run
        ("UEsDBA==" + "A" * 4, "data after padding"),
        ("UEsDBA==" + " " * (1024 * 1024) + "AAAA", "data after the base64 padding"),  # across slices
        ("Tiếng Việt", "not valid base64"),
    ],
)
def test_text_that_is_not_base64_is_refused_naming_the_part(text: str, why: str) -> None:
    root = document(("a.zip", "application/zip", b"PK\x03\x04"))
    encoded(root).text = text
    with pytest.raises(EdxmlError) as caught:
        scan(root)
    assert caught.value.message.startswith("AttachmentEncoded/Attachment[1] (cid:1): ")
    assert why in caught.value.message


def test_attachments_over_the_limit_are_refused() -> None:
    root = document(("a.pdf", "application/pdf", PDF), ("b.pdf", "application/pdf", PDF))
    assert [a.size for a in scan(root, max_bytes=2 * len(PDF))] == [len(PDF)] * 2
    with pytest.raises(EdxmlError) as caught:
        scan(root, max_bytes=2 * len(PDF) - 1)
    assert caught.value.message == (
        f"AttachmentEncoded/Attachment[2] (cid:2): the attachments decode to more than the limit of "
        f"{2 * len(PDF) - 1} bytes per document"
    )


def test_content_ids_are_compared_without_their_decoration() -> None:
    assert {content_id_key(c) for c in ("cid:209", "CID:209", "<209>", " 209 ", "cid:<209>")} == {"209"}


def test_the_vendor_sample_attachment(shared_dir: Path) -> None:
    """The SDK's document carries a zip declared as application/zip under a .doc name: consistent."""
    data = (shared_dir / "testdata/edxml/dc0bdef0-c7a3-4aaf-b717-777303442973.edxml").read_bytes()
    root = parse_xml(data)
    quirks: list[Quirk] = []
    (found,) = scan(root, quirks=quirks)
    text = "".join((root.findtext(".//edXML:ContentTransferEncoded", namespaces=NS) or "").split())
    raw = base64.b64decode(text)
    assert raw.startswith(b"PK\x03\x04")
    assert (found.content_id, found.name, found.content_type) == (
        "cid:209",
        "1896_QD-TTg_m_294779.doc",
        "application/zip",
    )
    assert (found.size, found.sha256, found.referenced) == (len(raw), hashlib.sha256(raw).hexdigest(), True)
    assert quirks == []
