"""parse_xml asks libxml2 whether a tree holds anything to refuse before walking it in Python
(lienthong.xml._clean): whatever the answer, what is refused, and how it is worded, is what the walk
alone decides. Each case is parsed twice, once with the walk forced, and the outcomes compared."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from lienthong import xml
from lienthong.errors import XmlRefusedError
from lienthong.xml import XmlLimits, parse_xml


def _nested(depth: int, inner: str = "") -> bytes:
    return ("<a>" * depth + inner + "</a>" * depth).encode()


def _wide(count: int) -> bytes:
    return ("<r>" + "<a x='1'/>" * count + "</r>").encode()


CASES: list[tuple[str, bytes, XmlLimits]] = [
    ("plain", b"<r a='1'><b>t</b><!-- c --></r>", XmlLimits()),
    ("many shallow elements", _wide(600), XmlLimits(max_depth=5)),
    ("exactly the depth", _nested(5), XmlLimits(max_depth=5)),
    ("an element too deep", _nested(6), XmlLimits(max_depth=5)),
    ("a comment too deep", _nested(5, "<!-- c -->"), XmlLimits(max_depth=5)),
    ("text at the last level", _nested(5, "t"), XmlLimits(max_depth=5)),
    ("a PI inside", b"<r><?pi x?></r>", XmlLimits()),
    ("a PI after the root", b"<r/><?pi x?>", XmlLimits()),
    ("XInclude", b"<r xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='x'/></r>", XmlLimits()),
    ("many attributes in all", _wide(10), XmlLimits(max_attributes=3)),
    ("too many on one", b"<r><a w='1' x='1' y='1' z='1'/></r>", XmlLimits(max_attributes=3)),
    ("a long value", b"<r><a v='" + b"x" * 11 + b"'/></r>", XmlLimits(max_attribute_bytes=10)),
    ("a long value by references", b"<r v='" + b"&#233;" * 11 + b"'/>", XmlLimits(max_attribute_bytes=10)),
    ("values just short", b"<r v='" + b"&#233;" * 10 + b"'/>", XmlLimits(max_attribute_bytes=10)),
    ("deep with huge texts", _nested(300), XmlLimits(huge_text=True)),
    # The shortest documents holding what _clean counts: the counts are skipped only below these.
    ("the shortest element too deep", _nested(5, "<a/>"), XmlLimits(max_depth=5)),
    ("the shortest comment too deep", _nested(5, "<!---->"), XmlLimits(max_depth=5)),
    (
        "the shortest too deep, in UTF-16",
        _nested(5, "<a/>").decode().encode("utf-16"),
        XmlLimits(max_depth=5),
    ),
    ("the shortest too many attributes", b'<r a="" b="" c="" d=""/>', XmlLimits(max_attributes=3)),
    ("too many attributes, no blanks to spare", b"<r\na=''\tb=''\rc='' d=''/>", XmlLimits(max_attributes=3)),
    ("just short of too deep", _nested(4, "<a/>"), XmlLimits(max_depth=5)),
    ("just short of too many attributes", b'<r a="" b="" c=""/>', XmlLimits(max_attributes=3)),
]


def _outcome(parse: Callable[[], object]) -> str:
    try:
        parse()
    except XmlRefusedError as exc:
        return f"refused: {exc.message}"
    return "accepted"


@pytest.mark.parametrize(("name", "data", "limits"), CASES, ids=[c[0] for c in CASES])
def test_libxml2s_answer_changes_nothing_the_walk_decides(
    name: str, data: bytes, limits: XmlLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = _outcome(lambda: parse_xml(data, limits=limits))
    monkeypatch.setattr(xml, "_clean", lambda *_args: False)  # the walk alone, as before
    assert checked == _outcome(lambda: parse_xml(data, limits=limits))
    if name in (
        "plain",
        "many shallow elements",
        "exactly the depth",
        "many attributes in all",
    ) or name.startswith("just short"):
        assert checked == "accepted"
    if name.startswith("the shortest") or name.startswith("too many attributes"):
        assert checked.startswith("refused")


def test_the_shortest_documents_are_counted() -> None:
    """The bounds in _clean are tight: one byte less than each shortest case above and it skips."""
    deep, wide = _nested(5, "<a/>"), b'<r a="" b="" c="" d=""/>'
    assert len(deep) == xml._DEEP_BYTES * 5 + xml._NODE_BYTES
    assert len(wide) == xml._ATTRIBUTE_BYTES * 4 + len(b"<r/>")


@pytest.mark.parametrize(("name", "data", "limits"), CASES, ids=[c[0] for c in CASES])
def test_libxml2_finds_what_the_walk_would(name: str, data: bytes, limits: XmlLimits) -> None:
    """Where the walk below the root refuses, _clean has said so first: it never hides a refusal.
    (Processing instructions beside the root are looked for apart, as before.)"""
    if name == "a PI after the root" or _outcome(lambda: parse_xml(data, limits=limits)) == "accepted":
        return
    root = etree.fromstring(data, xml._new_parser(huge_text=True))
    assert not xml._clean(root, limits, len(data))
