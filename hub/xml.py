"""XML in one place: the namespaces the hub speaks and the one hardened parser all code uses.

libxml2's defaults are not safe for input from other systems (lxml's default parser loads DTDs and
expands entities). Every parse in the hub goes through :func:`parse_xml`, which refuses DTDs,
entities, processing instructions, network access, any external resource (file or URL) and
XInclude, and bounds size and depth.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, cast

from lxml import etree

from lienthong.errors import XmlRefusedError

SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
#: The hub's own SOAP header blocks (message id, correlation id, client, service, request hash).
HUB_NS: Final = "urn:lienthong:hub:1"
EDXML_NS: Final = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XMLDSIG_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
XSLT_NS: Final = "http://www.w3.org/1999/XSL/Transform"


@dataclass(frozen=True)
class XmlLimits:
    """Bounds on what one document may cost to parse.

    ``huge_text`` lifts libxml2's own cap of 10,000,000 bytes on one text node (its ``XML_PARSE_HUGE``,
    lxml's ``huge_tree``). An edXML document carries each attachment as one base64 text node, so 50 MB
    of attachments is a 67 MB node; nothing else the hub reads has text that large. Only
    :meth:`for_documents` sets it, where the configuration allows a document that large
    (``api.max_document_size``). Everything else stays as strict: the size is still bounded by
    ``max_bytes``, DOCTYPE, entities, PIs, XInclude and external resources are still refused, depth
    and attributes still checked by the hub itself.
    """

    max_bytes: int = 10 * 1024 * 1024
    max_depth: int = 256
    max_attributes: int = 256
    max_attribute_bytes: int = 1024 * 1024
    huge_text: bool = False

    @classmethod
    def for_documents(cls, max_bytes: int) -> XmlLimits:
        """The limits for an official document of at most ``max_bytes`` (``api.max_document_size``):
        text nodes as large as that when it is more than the common limit, else the common limits."""
        common = cls().max_bytes
        return cls(max_bytes=max(max_bytes, common), huge_text=max_bytes > common)


DEFAULT_LIMITS: Final = XmlLimits()


class _ExternalRefusedError(Exception):
    def __init__(self, url: str | None) -> None:
        super().__init__(url)
        self.url = url


class _RefuseExternal(etree.Resolver):
    """Refuse every external resource libxml2 wants to load, before it opens anything.

    ``load_dtd=False`` and ``no_network=True`` are not enough: with these options libxml2 still opens
    a *local file* named by a parameter entity in an internal subset (``<!ENTITY % p SYSTEM
    "file:///…"> %p;``), and a DOCTYPE can slip past the byte check in :func:`parse_xml` (placed
    after 64 KiB of comments, or in a UTF-16 document). libxml2 asks the parser's resolvers first,
    so this one raising means no file is opened and no connection made, whatever the document says.
    """

    # lxml calls resolve(url, public_id, context); lxml-stubs omit the context.
    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> None:  # type: ignore[override]
        raise _ExternalRefusedError(system_url)


def _new_parser(*, huge_text: bool = False) -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        # False keeps libxml2's own caps on depth and text node size; True (large documents only,
        # see XmlLimits.huge_text) lifts them, and the hub's own checks below still bound depth.
        huge_tree=huge_text,
        remove_pis=False,  # PIs are refused below, not silently dropped
        remove_comments=False,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseExternal())
    return parser


#: One parser of each kind per thread (lxml's parsers must not be shared between threads): a parser
#: made for each document costs as much again as parsing a dossier of a few kilobytes.
_PARSERS = threading.local()


def _parser(*, huge_text: bool) -> etree.XMLParser:
    parsers: dict[bool, etree.XMLParser] = _PARSERS.__dict__.setdefault("by_huge_text", {})
    parser = parsers.get(huge_text)
    if parser is None:
        parser = parsers[huge_text] = _new_parser(huge_text=huge_text)
    return parser


#: How far :func:`parse_xml` looks for a DOCTYPE in the bytes before parsing (libxml2 and the tree's
#: docinfo catch one further on, see :class:`_RefuseExternal`).
_DOCTYPE_WINDOW: Final = 64 * 1024


def parse_xml(data: bytes, *, limits: XmlLimits = DEFAULT_LIMITS, what: str = "payload") -> etree._Element:
    """Parse untrusted bytes, or raise :class:`XmlRefusedError` saying exactly what was wrong."""
    if len(data) > limits.max_bytes:
        raise XmlRefusedError(f"{what}: {len(data)} bytes exceeds the limit of {limits.max_bytes}")
    # A DOCTYPE is refused before libxml2 sees it, so no internal subset is ever processed. Both
    # markers hold a "!": without one in the first 64 KiB (most payloads: no comment, no CDATA) the two
    # searches, each over the whole of a payload of a few KB, cannot find anything, and are skipped
    # (a search for one byte is a memchr, a twentieth of theirs).
    if data.find(b"!", 0, _DOCTYPE_WINDOW) != -1:
        head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if b"<!DOCTYPE" in data[:_DOCTYPE_WINDOW] or b"<!ENTITY" in head:
            raise XmlRefusedError(f"{what}: DOCTYPE declarations are not accepted")
    try:
        root = etree.fromstring(data, parser=_parser(huge_text=limits.huge_text))
    except _ExternalRefusedError as exc:
        raise XmlRefusedError(f"{what}: external resources are not accepted ({exc.url})") from None
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise XmlRefusedError(
            f"{what} is not well-formed XML: {exc.msg}",
            detail={"line": line, "column": column},
        ) from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise XmlRefusedError(f"{what}: DOCTYPE declarations are not accepted")
    _check_tree(root, limits, what, len(data))
    return root


#: XPaths of :func:`_clean`, compiled per thread (lxml's XPath objects are not shared between threads).
_CHECKS = threading.local()
_XINCLUDE: Final = "{http://www.w3.org/2001/XInclude}include"


def _xpath(text: str) -> etree.XPath:
    compiled: dict[str, etree.XPath] = _CHECKS.__dict__.setdefault("xpaths", {})
    found = compiled.get(text)
    if found is None:
        found = compiled[text] = etree.XPath(text)
    return found


def _clean(root: etree._Element, limits: XmlLimits, size: int) -> bool:
    """True when :func:`_check_tree` would find nothing below the root, asked of libxml2 rather than
    walked in Python: no processing instruction, entity reference or XInclude element; no node deeper
    than ``max_depth``; no element with more than ``max_attributes`` attributes, no attribute value
    longer than ``max_attribute_bytes``. Counts decide where they can (a tree of fewer elements than
    ``max_depth`` is not that deep; a value is never longer than the ``size`` bytes it was parsed
    from). False is only a suspicion: the walk then says exactly what is wrong, as it always has."""
    if next(root.iter(etree.PI, etree.Entity, _XINCLUDE), None) is not None:
        return False
    depth = limits.max_depth
    if (
        size >= _DEEP_BYTES * depth + _NODE_BYTES
        and _count("count(/descendant::*)", root) >= depth
        and _xpath(_deeper_than(depth))(root)
    ):
        return False  # (fewer elements than max_depth: no node is deeper than that)
    many = limits.max_attributes
    if (
        size >= _ATTRIBUTE_BYTES * (many + 1)
        and _count("count(/descendant::*/@*)", root) > many
        and _xpath(f"boolean(//@*[{many + 1}])")(root)
    ):
        return False  # (no more attributes in all than one element may have: none has too many)
    longest = limits.max_attribute_bytes
    return size <= longest or not _xpath(f"boolean(//@*[string-length() > {longest}])")(root)


#: The fewest bytes (or characters) of markup each thing the counts in :func:`_clean` look for takes in
#: the document it was parsed from; a document shorter than that many of them cannot hold what they
#: look for, and is not counted (an answer of a kilobyte or so, on every delivery). An element that
#: holds another takes a start and an end tag, ``<a>`` and ``</a>``; the node below the deepest of
#: them at least ``<a/>`` (a comment ``<!---->``, a PI ``<?a?>``); an attribute a blank, a name, "="
#: and two quotes. No DTD is read, so no default attribute is added and no entity expands into
#: markup; an encoding other than UTF-8 only takes more bytes.
_DEEP_BYTES, _NODE_BYTES, _ATTRIBUTE_BYTES = 7, 4, 5


def _count(text: str, root: etree._Element) -> float:
    return cast(float, _xpath(text)(root))


def _deeper_than(depth: int) -> str:
    """Whether any node but text is below ``depth`` levels of elements (the root is level 1)."""
    return "boolean(/" + "/".join(["*"] * depth) + "/node()[not(self::text())])"


def _check_tree(root: etree._Element, limits: XmlLimits, what: str, size: int) -> None:
    for sibling in root.itersiblings(preceding=True):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise XmlRefusedError(f"{what}: processing instructions are not accepted")
    if _clean(root, limits, size):
        levels: list[Iterator[etree._Element]] = []  # nothing below the root to refuse
    else:
        levels = [iter((root,))]
    # Depth first with one child iterator per level, not a stack of every pending sibling: a list of
    # 30,000 elements under one parent would otherwise hold 30,000 element proxies at once (~4 MB for
    # a 9 MB document), as much as a tenth of the whole request's memory.
    while levels:
        el = next(levels[-1], None)
        if el is None:
            levels.pop()
            continue
        depth = len(levels)
        if isinstance(el, etree._ProcessingInstruction):
            raise XmlRefusedError(f"{what}: processing instructions are not accepted (line {el.sourceline})")
        if isinstance(el, etree._Entity):
            raise XmlRefusedError(f"{what}: entity references are not accepted (line {el.sourceline})")
        if depth > limits.max_depth:
            raise XmlRefusedError(f"{what}: nesting deeper than {limits.max_depth} levels")
        if isinstance(el.tag, str):
            if el.tag == "{http://www.w3.org/2001/XInclude}include":
                raise XmlRefusedError(f"{what}: XInclude is not accepted (line {el.sourceline})")
            attrib = el.attrib
            if len(attrib) > limits.max_attributes:
                raise XmlRefusedError(f"{what}: more than {limits.max_attributes} attributes on one element")
            for value in attrib.values():
                if len(value) > limits.max_attribute_bytes:
                    raise XmlRefusedError(
                        f"{what}: an attribute value exceeds {limits.max_attribute_bytes} bytes"
                    )
        levels.append(iter(el))
    for sibling in root.itersiblings():
        if isinstance(sibling, etree._ProcessingInstruction):
            raise XmlRefusedError(f"{what}: processing instructions are not accepted")


def serialize(element: etree._Element, *, with_tail: bool = True, keep_tree: bool = True) -> bytes:
    """``etree.tostring(element, xml_declaration=True, encoding="UTF-8")``, byte for byte, in half the
    memory: how the hub writes the documents it stores (a body element, a translation).

    tostring builds the whole document in libxml2's buffer, which grows by doubling, and then copies it
    into a bytes object: ~2.2 times the document at its peak, 20 MB for a 9 MB payload. Written
    through lxml's incremental writer into a BytesIO, the document exists once: the BytesIO grows in
    place and hands its buffer over without a copy.

    A text node of a megabyte or more (an edXML attachment, in base64) is written by the hub itself
    (:class:`LargeTexts`): libxml2 escapes a text node into buffers of its own, 3–4 times its size at
    once, 240 MB for a document with 50 MB of attachments (docs/benchmarks.md). ``keep_tree=False``
    says the caller drops the tree once it has the bytes: its large texts are then not put back.
    """
    large = LargeTexts.detach(element)
    try:
        return serialize_detached(element, large, with_tail=with_tail)
    finally:
        if keep_tree:
            large.restore()


def serialize_detached(
    element: etree._Element, large: LargeTexts | None = None, *, with_tail: bool = True
) -> bytes:
    """:func:`serialize` for a tree whose large texts the caller has set apart already (``large``),
    or knows to have none: the tree is not walked again for them."""
    out = io.BytesIO()
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        xf.write(element, with_tail=with_tail)
    if large is None or not large:
        return out.getvalue()
    skeleton = out.getvalue()
    del out
    return large.splice(skeleton, escape_text)


#: Text nodes from this many characters on are set apart by :class:`LargeTexts`.
LARGE_TEXT: Final = 1024 * 1024


class LargeTexts:
    """The large texts (and tails) of a tree, each swapped for a marker while the tree is copied,
    serialised or canonicalised, so that libxml2 and the libraries on it (signxml) handle a small tree.

    The Python string is the one copy of each text meanwhile: setting the marker frees libxml2's node.
    :meth:`splice` writes the texts into bytes made from the small tree, :meth:`restore` puts them back
    into the tree they came from, :meth:`put_back_into` into a copy of it (a signed document)."""

    def __init__(self, items: list[tuple[etree._Element, str, str, str]]) -> None:
        self.items = items  # (node, "text" or "tail", the text, its marker)

    @classmethod
    def detach(cls, element: etree._Element) -> LargeTexts:
        items = []
        for node, where, text in _large_texts(element):
            marker = f"lienthong-large-text-{uuid.uuid4().hex}"
            setattr(node, where, marker)
            items.append((node, where, text, marker))
            del text
        return cls(items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def restore(self) -> None:
        """Put each text back where it was taken from."""
        for node, where, text, _marker in reversed(self.items):
            setattr(node, where, text)
        self.items = []

    def put_back_into(self, root: etree._Element) -> None:
        """Put each text where its marker is in ``root`` (a copy of the tree they came from)."""
        markers = {marker: text for _node, _where, text, marker in self.items}
        for node in root.iter():
            if isinstance(node.tag, str):
                for where in ("text", "tail"):
                    value = getattr(node, where)
                    if value is not None and value in markers:
                        setattr(node, where, markers.pop(value))
        if markers:
            raise AssertionError("a large text's marker is missing from the copy")

    def splice(self, skeleton: bytes, escape: Callable[[str], str]) -> bytes:
        """``skeleton`` with each marker replaced by its text, ``escape``d and in UTF-8."""
        out = io.BytesIO()
        for piece in self.pieces(skeleton, escape):
            out.write(piece)
        return out.getvalue()

    def pieces(self, skeleton: bytes, escape: Callable[[str], str]) -> Iterator[bytes]:
        """:meth:`splice` a megabyte of text at a time, for a digest that need not hold it all."""
        found = sorted(
            (skeleton.find(marker.encode("ascii")), text, marker)
            for _node, _where, text, marker in self.items
            if marker.encode("ascii") in skeleton
        )
        position = 0
        for at, text, marker in found:
            if skeleton.count(marker.encode("ascii")) != 1:
                raise AssertionError("a large text's marker must occur once in the document")
            yield skeleton[position:at]
            for start in range(0, len(text), LARGE_TEXT):
                yield escape(text[start : start + LARGE_TEXT]).encode("utf-8")
            position = at + len(marker)
        yield skeleton[position:]

    def markers_in(self, data: bytes) -> bool:
        return any(marker.encode("ascii") in data for _node, _where, _text, marker in self.items)


def _large_texts(element: etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    """The texts and tails of ``element``'s elements from :data:`LARGE_TEXT` characters on (not its own
    tail; comments and PIs keep their text). Every document the hub writes is looked at here, mostly
    without one: elements only (lxml picks them in C), two reads each."""
    for node in element.iter(etree.Element):
        text = node.text
        if text is not None and len(text) >= LARGE_TEXT:
            yield node, "text", text
        if node is not element:
            text = node.tail
            if text is not None and len(text) >= LARGE_TEXT:
                yield node, "tail", text
        del text


def escape_text(text: str) -> str:
    """Text content as libxml2 serialises it."""
    return _escape(text, "&#13;")


def escape_c14n_text(text: str) -> str:
    """Text content as canonical XML writes it (C14N 1.0 and exclusive C14N)."""
    return _escape(text, "&#xD;")


def _escape(text: str, carriage_return: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", carriage_return)
    return text


def parse_trusted_file(path: str) -> etree._ElementTree:
    """Parse a file shipped with the project (XSD, XSLT, WSDL) with the same safety settings."""
    with open(path, "rb") as f:
        data = f.read()
    return etree.ElementTree(parse_xml(data, what=path))


def qname(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"
