"""The one hardened parser: everything hostile in the shared attack corpus is refused, fast, with a
clear reason, and without touching the file system or the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from lienthong.errors import XmlRefusedError
from lienthong.xml import XmlLimits, parse_xml, serialize

ATTACKS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "xml-attacks" / "defusedxml"


def attack_files() -> list[Path]:
    return sorted(p for p in ATTACKS.glob("*") if p.suffix in {".xml", ".xsl"}) if ATTACKS.is_dir() else []


def test_attack_corpus_present(shared_dir: Path) -> None:
    assert attack_files(), f"no attack payloads under {ATTACKS}"


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.name)
def test_attack_payloads_are_refused_or_inert(path: Path) -> None:
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        with pytest.raises(XmlRefusedError, match="DOCTYPE"):
            parse_xml(data)
    else:
        # XSLT attacks are only dangerous when executed as stylesheets; as data they parse inertly.
        root = parse_xml(data)
        assert root is not None


def test_well_formed_vietnamese_document_parses() -> None:
    root = parse_xml("<HoSo><ChuHoSo>Nguyễn Thị Hương</ChuHoSo></HoSo>".encode())
    assert root.findtext("ChuHoSo") == "Nguyễn Thị Hương"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<a><b></a>", "not well-formed"),
        (b"<?xml-stylesheet href='x'?><a/>", "processing instructions"),
        (b"<a><?php system('x') ?></a>", "processing instructions"),
        (b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>', "XInclude"),
        (b"<a>" * 300 + b"</a>" * 300, "depth|deeper"),
    ],
)
def test_refusals_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(XmlRefusedError, match=reason):
        parse_xml(data)


def test_size_and_attribute_limits() -> None:
    limits = XmlLimits(max_bytes=1000, max_attributes=3, max_attribute_bytes=10)
    with pytest.raises(XmlRefusedError, match="exceeds the limit"):
        parse_xml(b"<a>" + b"x" * 1000 + b"</a>", limits=limits)
    with pytest.raises(XmlRefusedError, match="attributes"):
        parse_xml(b'<a p="1" q="2" r="3" s="4"/>', limits=limits)
    with pytest.raises(XmlRefusedError, match="attribute value"):
        parse_xml(b'<a p="' + b"x" * 11 + b'"/>', limits=limits)


def test_syntax_error_carries_position() -> None:
    with pytest.raises(XmlRefusedError) as info:
        parse_xml(b"<a>\n  <b>\n</a>")
    assert info.value.detail["line"] == 3


@pytest.mark.parametrize(
    "data",
    [
        # A DOCTYPE past the 64 KiB byte check: libxml2 would open the file for the parameter entity.
        b"<!--" + b"x" * 70_000 + b'--><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]><r/>',
        # In UTF-16 the byte check sees no "<!DOCTYPE" at all.
        (
            '<?xml version="1.0" encoding="UTF-16"?>'
            '<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]><r/>'
        ).encode("utf-16"),
        b"<!--" + b"x" * 70_000 + b'--><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
    ],
    ids=["pe-after-64k", "pe-utf16", "external-dtd-after-64k"],
)
def test_external_resources_are_refused_before_they_are_opened(data: bytes) -> None:
    # The resolver refuses before libxml2 opens anything; its message proves it was asked.
    with pytest.raises(XmlRefusedError, match="external resources are not accepted"):
        parse_xml(data)


def test_the_depth_limit_is_exact() -> None:
    limits = XmlLimits(max_depth=5)
    assert parse_xml(b"<a>" * 5 + b"</a>" * 5, limits=limits) is not None
    with pytest.raises(XmlRefusedError, match="deeper than 5"):
        parse_xml(b"<a>" * 6 + b"</a>" * 6, limits=limits)
    # Depth is counted per branch: a deep branch after a wide one is still found.
    wide_then_deep = b"<a>" + b"<b/>" * 5000 + b"<c>" * 5 + b"</c>" * 5 + b"</a>"
    with pytest.raises(XmlRefusedError, match="deeper than 5"):
        parse_xml(wide_then_deep, limits=limits)


def test_what_is_refused_is_found_after_many_siblings() -> None:
    many = b"<b>x</b>" * 20_000
    with pytest.raises(XmlRefusedError, match=r"processing instructions are not accepted \(line 2\)"):
        parse_xml(b"<a>" + many + b"<c>\n<?php x ?></c></a>")
    limits = XmlLimits(max_attributes=2)
    with pytest.raises(XmlRefusedError, match="attributes on one element"):
        parse_xml(b"<a>" + many + b'<b><c p="1" q="2" r="3"/></b></a>', limits=limits)


SERIALIZED = [
    # Namespaces declared on ancestors (used, unused, default), Vietnamese text, tails, a comment,
    # a processing instruction, CDATA, a character reference and escaped attribute values.
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!--before--><e:Envelope xmlns:e="urn:e" xmlns:x="urn:x" '
    b'xmlns="urn:default"><e:Body>\n  <d:KetQua xmlns:d="urn:d" a="&lt;&amp;&quot;\'">'
    + '<d:Ten xsi:type="x:T" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">Giấy chứng nhận '.encode()
    + b"<![CDATA[a<b]]> &#xD;</d:Ten>tail<!-- c --><Plain>default ns</Plain></d:KetQua>\n</e:Body>"
    b"</e:Envelope><!--after-->",
    "<HoSo><ChuHoSo>Nguyễn Thị Hương</ChuHoSo></HoSo>".encode("utf-16"),
    b'<?xml version="1.0" encoding="ISO-8859-1"?><a>caf\xe9</a>',
]


@pytest.mark.parametrize("data", SERIALIZED, ids=["envelope", "utf-16", "latin-1"])
@pytest.mark.parametrize("with_tail", [True, False])
def test_serialize_writes_the_bytes_tostring_writes(data: bytes, with_tail: bool) -> None:
    """Stored payloads are written with serialize: what is signed, verified and sent depends on every byte."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True))
    for element in root.iter("*"):
        expected = etree.tostring(element, xml_declaration=True, encoding="UTF-8", with_tail=with_tail)
        assert serialize(element, with_tail=with_tail) == expected


# ---------------------------------------------------------------- large documents (huge text nodes)

DOCUMENT_LIMITS = XmlLimits.for_documents(80 * 1024 * 1024)


def _document_with_text(size: int) -> bytes:
    return (
        b'<edXML xmlns="urn:x"><ContentTransferEncoded>'
        + b"QUJD" * (size // 4)
        + b"</ContentTransferEncoded></edXML>"
    )


def test_a_text_node_over_10_mb_needs_the_document_limits() -> None:
    data = _document_with_text(12_000_000)
    # The common limits refuse it twice over: by size, and (with room for the bytes) by libxml2's text cap.
    with pytest.raises(XmlRefusedError, match="exceeds the limit"):
        parse_xml(data)
    with pytest.raises(XmlRefusedError, match="not well-formed"):
        parse_xml(data, limits=XmlLimits(max_bytes=20_000_000))
    root = parse_xml(data, limits=DOCUMENT_LIMITS)
    assert len(root[0].text or "") == 12_000_000


def test_document_limits_only_lift_the_text_cap_when_they_are_larger() -> None:
    assert DOCUMENT_LIMITS.huge_text and DOCUMENT_LIMITS.max_bytes == 80 * 1024 * 1024
    assert XmlLimits.for_documents(0) == XmlLimits()
    assert XmlLimits.for_documents(1024) == XmlLimits()
    with pytest.raises(XmlRefusedError, match="exceeds the limit"):
        parse_xml(_document_with_text(1000), limits=XmlLimits(max_bytes=100))


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.name)
def test_attack_payloads_are_still_refused_with_document_limits(path: Path) -> None:
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        with pytest.raises(XmlRefusedError, match="DOCTYPE"):
            parse_xml(data, limits=DOCUMENT_LIMITS)
    else:
        assert parse_xml(data, limits=DOCUMENT_LIMITS) is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<a><?php system('x') ?></a>", "processing instructions"),
        (b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>', "XInclude"),
        (b"<a>" * 300 + b"</a>" * 300, "deeper"),
        (b"<a>" * 3000 + b"</a>" * 3000, "deeper|not well-formed"),
        (
            b"<!--"
            + b"x" * 70_000
            + b'--><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]><r/>',
            "external",
        ),
        (b'<a p="' + b"x" * (2 * 1024 * 1024) + b'"/>', "attribute value"),
    ],
    ids=["pi", "xinclude", "depth", "deep-beyond-libxml2", "pe-after-64k", "attribute"],
)
def test_document_limits_keep_every_other_refusal(data: bytes, reason: str) -> None:
    with pytest.raises(XmlRefusedError, match=reason):
        parse_xml(data, limits=DOCUMENT_LIMITS)


def test_serialize_writes_large_texts_as_tostring_does() -> None:
    """Texts of a megabyte or more are written by serialize itself: the same bytes, and the tree after
    as before (other targets of the same message still read it)."""
    big = "QUJD" * 300_000 + "a&b<c>d\re ạ Đ ]]>" + "x" * 200_000
    root = etree.Element("{urn:e}Doc", nsmap={"e": "urn:e", None: "urn:d"})  # type: ignore[dict-item]
    first = etree.SubElement(root, "{urn:e}A", n="1")
    first.text, first.tail = big, big
    etree.SubElement(root, "{urn:d}B").text = "small & text"
    etree.SubElement(root, "{urn:d}C").append(etree.Comment(" note "))
    etree.SubElement(root, "{urn:d}D").text = big[::-1]
    before = etree.tostring(root)
    for element, with_tail in ((root, True), (root[0], True), (root[0], False), (root[-1], True)):
        expected = etree.tostring(element, xml_declaration=True, encoding="UTF-8", with_tail=with_tail)
        assert serialize(element, with_tail=with_tail) == expected
    assert etree.tostring(root) == before
