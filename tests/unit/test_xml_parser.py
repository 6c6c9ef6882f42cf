"""The one hardened parser: everything hostile in the shared attack corpus is refused, fast, with a
clear reason, and without touching the file system or the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.errors import XmlRefusedError
from lienthong.xml import XmlLimits, parse_xml

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
