"""SOAP replies for comparing the hub's reading of a WSDL reply with zeep's own: valid answers made
from the WSDL's types, and careless or hostile variants of any answer (elements missing, repeated,
reordered, unknown or in the wrong namespace; attributes such as xsi:type and xsi:nil; comments,
processing instructions, CDATA, entities, a DOCTYPE; texts that are not the type's; whitespace; huge
texts; the Envelope, Header and Body themselves out of shape).

Used by tests/unit/test_reply_shape.py (replies made from every WSDL of the project) and
tests/integration/test_zeep_outbound.py (the simulators' real replies)."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree
from zeep.xsd import ComplexType, Element, Sequence
from zeep.xsd.types.simple import AnySimpleType

from lienthong.delivery.soap_adapter import SoapAdapter
from lienthong.delivery.transports.wsdl import WsdlOperation
from lienthong.errors import DeliveryError
from lienthong.soap import envelope_ns, request_hash
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
OTHER_NS = "urn:example:other"
#: A request the replies answer (its hash is in their header, so the reply is read through).
REQUEST = b"<request/>"

#: Texts tried in every simple-typed element: date-times good and bad, numbers, booleans, blanks.
TEXTS: tuple[str, ...] = (
    "2026-11-21T08:00:00+07:00",
    "2026-11-21T08:00:00Z",
    "2026-11-21T08:00:00.123456+07:00",
    "2026-11-21T08:00:00.123456789-03:30",
    "2026-11-21T08:00:00,5+07:00",
    "2026-11-21T08:00+07:00",
    "2026-11-21T08:00:00",
    "2026-11-21T08:00:00+0700",
    "2026-11-21T08:00:00+07",
    "2026-11-21T08:00:00+25:00",
    "2026-11-21T24:00:00Z",
    "2026-11-21T23:59:60Z",
    "2026-11-31T08:00:00Z",
    "2026-02-29T08:00:00Z",
    "2024-02-29T08:00:00Z",
    "2026-02-30T08:00:00Z",
    "2026-13-01T08:00:00Z",
    "2026-00-10T08:00:00Z",
    "0000-01-01T00:00:00Z",
    "0999-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "20261121T080000Z",
    "2026-11-21",
    "2026-11-21 08:00:00",
    "2026-11-21 08:00:00.123456",
    "2026-11-21t08:00:00Z",
    "2026-11-21T08:00:00z",
    "2026-11-21TT08:00:00Z",
    " 2026-11-21T08:00:00+07:00 ",
    "\n2026-11-21T08:00:00+07:00\n",
    "2026-11-21T08:00:00+07:00\n",
    "2026-11-21T\t08:00:00+07:00",
    "\u0662\u0660\u0662\u0666-11-21T08:00:00Z",
    "+2026-11-21T08:00:00Z",
    "-2026-11-21T08:00:00Z",
    "12026-11-21T08:00:00Z",
    "2026-W47-6T08:00:00Z",
    "2026-325T08:00:00Z",
    "T",
    "",
    " ",
    "x",
    "0",
    "1",
    "-1",
    "1.5",
    "1e400",
    "NaN",
    "true",
    "false",
    "TRUE",
    "  DaTiepNhan  ",
    "DaTiepNhan",
    "Tiếp nhận hồ sơ",
    "a & b < c",
    "9" * 5000,
    "x" * 200_000,
)


def _sample(xsd_type: Any) -> str:
    """A text the simple type parses (the first of a few that do)."""
    for text in ("2026-11-21T08:00:00+07:00", "2026-11-21", "1", "true", "x"):
        try:
            xsd_type.pythonvalue(text)
        except Exception:  # the next one, then
            continue
        return text
    return "x"


def valid_entry(element: Any) -> etree._Element:
    """An instance of a WSDL output element with every declared child once (those with a content
    this cannot make, left out)."""
    el = etree.Element(element.qname.text)
    xsd_type = element.type
    if isinstance(xsd_type, AnySimpleType):
        el.text = _sample(xsd_type)
    elif isinstance(xsd_type, ComplexType) and isinstance(xsd_type._element, Sequence):
        for _, child in xsd_type._element.elements:
            if isinstance(child, Element):
                el.append(valid_entry(child))
    return el


def envelope(version: str, entry: etree._Element | None, *, hash_of: bytes = REQUEST) -> bytes:
    """An answer as the simulators write it: the hub header with requestHash, then the Body."""
    ns = envelope_ns("soap11" if version == "soap11" else "soap12")
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"s": ns, "lt": HUB_NS})
    head = etree.SubElement(env, f"{{{ns}}}Header")
    etree.SubElement(head, f"{{{HUB_NS}}}requestHash").text = request_hash(hash_of)
    body = etree.SubElement(env, f"{{{ns}}}Body")
    if entry is not None:
        body.append(copy.deepcopy(entry))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


Mutation = Callable[[etree._Element], None]
Change = Callable[[etree._Element], None]


def _parts(root: etree._Element) -> tuple[str, etree._Element, etree._Element]:
    """The Envelope's namespace, its first Header and first Body (an empty stand-in when missing)."""
    ns = etree.QName(root).namespace or ""
    header = root.find(f"{{{ns}}}Header")
    body = root.find(f"{{{ns}}}Body")
    return (
        ns,
        header if header is not None else etree.Element("none"),
        body if body is not None else etree.Element("none"),
    )


def _entry(root: etree._Element) -> etree._Element:
    return next(el for el in _parts(root)[2] if isinstance(el.tag, str))


# ---------------------------------------------------------------- changes to one element below the entry


def _drop(el: etree._Element) -> None:
    el.getparent().remove(el)  # type: ignore[union-attr]


def _twice(el: etree._Element) -> None:
    el.addnext(copy.deepcopy(el))


def _last(el: etree._Element) -> None:
    el.getparent().append(el)  # type: ignore[union-attr]


def _first(el: etree._Element) -> None:
    el.getparent().insert(0, el)  # type: ignore[union-attr]


def _renamed(tag: Callable[[etree.QName], str]) -> Change:
    def change(el: etree._Element) -> None:
        el.tag = tag(etree.QName(el))

    return change


def _with(name: str, value: str) -> Change:
    def change(el: etree._Element) -> None:
        el.set(name, value)

    return change


def _text(value: str | None) -> Change:
    def change(el: etree._Element) -> None:
        if len(el) == 0:
            el.text = value

    return change


def _child(el: etree._Element) -> None:
    etree.SubElement(el, f"{{{OTHER_NS}}}inner").text = "x"


def _comment_inside(el: etree._Element) -> None:
    if len(el):
        el.insert(0, etree.Comment(" first "))
        return
    value = el.text or ""
    el.text = value[: len(value) // 2]
    el.append(etree.Comment(" split "))
    el[-1].tail = value[len(value) // 2 :]


def _tail(el: etree._Element) -> None:
    el.tail = "stray text"


ELEMENT_CHANGES: tuple[tuple[str, Change], ...] = (
    ("dropped", _drop),
    ("twice", _twice),
    ("moved last", _last),
    ("moved first", _first),
    ("unknown name", _renamed(lambda q: f"{{{q.namespace}}}Unknown" if q.namespace else "Unknown")),
    ("other namespace", _renamed(lambda q: f"{{{OTHER_NS}}}{q.localname}")),
    ("no namespace", _renamed(lambda q: q.localname)),
    ("xsi:type string", _with(f"{{{XSI}}}type", "xs:string")),
    ("xsi:type int", _with(f"{{{XSI}}}type", "xs:int")),
    ("xsi:type dateTime", _with(f"{{{XSI}}}type", "xs:dateTime")),
    ("xsi:type unknown", _with(f"{{{XSI}}}type", "xs:nothing")),
    ("xsi:type undeclared prefix", _with(f"{{{XSI}}}type", "nope:thing")),
    ("xsi:nil", _with(f"{{{XSI}}}nil", "true")),
    ("attribute", _with("extra", "1")),
    ("xml:lang", _with("{http://www.w3.org/XML/1998/namespace}lang", "vi")),
    ("empty", _text(None)),
    ("child element", _child),
    ("comment inside", _comment_inside),
    ("tail text", _tail),
    *((f"text {i} {value[:30]!r}", _text(value)) for i, value in enumerate(TEXTS)),
)


def _below_entry(index: int, change: Change) -> Mutation:
    """``change`` applied to the ``index``-th element below the Body's element, in document order."""

    def mutate(root: etree._Element) -> None:
        found = [el for el in _parts(root)[2].iter() if isinstance(el.tag, str)][2:]
        if index < len(found):
            change(found[index])

    return mutate


# ---------------------------------------------------------------- changes to the Envelope, Header, Body


def _in(part: int, change: Change) -> Mutation:
    """``change`` applied to the Header (1) or the Body (2)."""

    def mutate(root: etree._Element) -> None:
        _, header, body = _parts(root)
        change(header if part == 1 else body)

    return mutate


def _on_entry(change: Change) -> Mutation:
    return lambda root: change(_entry(root))


def _no_header(root: etree._Element) -> None:
    root.remove(_parts(root)[1])


def _foreign_block(header: etree._Element) -> None:
    block = etree.SubElement(header, f"{{{OTHER_NS}}}block")
    block.set(f"{{{etree.QName(header).namespace}}}mustUnderstand", "1")


def _header_after_body(root: etree._Element) -> None:
    root.append(_parts(root)[1])


def _second_header(root: etree._Element) -> None:
    ns, header, _ = _parts(root)
    header.addnext(etree.Element(f"{{{ns}}}Header", {f"{{{XSI}}}type": "xs:string"}))


def _comments(el: etree._Element) -> None:
    el.insert(0, etree.Comment(" first "))
    el.append(etree.Comment(" last "))


def _emptied(el: etree._Element) -> None:
    for child in list(el):
        el.remove(child)


def _no_body(root: etree._Element) -> None:
    root.remove(_parts(root)[2])


def _two_bodies(root: etree._Element) -> None:
    body = _parts(root)[2]
    body.addprevious(copy.deepcopy(body))


def _fault_in_second_body(root: etree._Element) -> None:
    ns, _, body = _parts(root)
    second = etree.Element(f"{{{ns}}}Body")
    etree.SubElement(etree.SubElement(second, f"{{{ns}}}Fault"), "faultcode").text = "s:Client"
    body.addnext(second)


def _empty_body_first(root: etree._Element) -> None:
    ns, _, body = _parts(root)
    body.addprevious(etree.Element(f"{{{ns}}}Body"))


def _other_version(root: etree._Element) -> None:
    ns = _parts(root)[0]
    other = SOAP12_NS if ns == SOAP11_NS else SOAP11_NS
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith(f"{{{ns}}}"):
            el.tag = f"{{{other}}}{etree.QName(el).localname}"


def _mixed(el: etree._Element) -> None:
    el.text = "mixed"
    for child in el:
        child.tail = "more"


def _reversed(el: etree._Element) -> None:
    children = list(el)
    _emptied(el)
    for child in reversed(children):
        el.append(child)


def _inserted(where: str, tag: str | None) -> Change:
    def change(el: etree._Element) -> None:
        extra = etree.Element(tag or f"{{{etree.QName(el).namespace}}}Unknown")
        extra.text = "x"
        el.insert({"first": 0, "middle": len(el) // 2, "last": len(el)}[where], extra)

    return change


def _set_root_tag(root: etree._Element) -> None:
    root.tag = "Envelope"


TREE_MUTATIONS: tuple[tuple[str, Mutation], ...] = (
    ("as made", lambda root: None),
    ("no Header", _no_header),
    ("Header xsi:type", _in(1, _with(f"{{{XSI}}}type", "xs:string"))),
    ("Header attribute", _in(1, _with("extra", "1"))),
    ("foreign header block", _in(1, _foreign_block)),
    ("comments in Header", _in(1, _comments)),
    ("Header after Body", _header_after_body),
    ("second Header with xsi:type", _second_header),
    ("comments in Envelope", _comments),
    ("unknown Envelope child", lambda root: root.append(etree.Element(f"{{{OTHER_NS}}}extra"))),
    ("Envelope xsi:type", _with(f"{{{XSI}}}type", "xs:string")),
    ("Envelope without namespace", _set_root_tag),
    ("other SOAP version", _other_version),
    ("Body attribute", _in(2, _with("extra", "1"))),
    ("text in Body", _in(2, _text("stray"))),
    ("comments in Body", _in(2, _comments)),
    ("empty Body", _in(2, _emptied)),
    ("no Body", _no_body),
    ("Body twice", _two_bodies),
    ("empty Body first", _empty_body_first),
    ("Fault in a second Body", _fault_in_second_body),
    ("entry twice", _on_entry(_twice)),
    ("unknown second entry", _on_entry(lambda el: el.addnext(etree.Element(f"{{{OTHER_NS}}}second")))),
    ("unknown first entry", _in(2, lambda body: body.insert(0, etree.Element(f"{{{OTHER_NS}}}first")))),
    ("entry renamed", _on_entry(_renamed(lambda q: f"{{{q.namespace}}}SomethingElse"))),
    ("entry in another namespace", _on_entry(_renamed(lambda q: f"{{{OTHER_NS}}}{q.localname}"))),
    ("entry without namespace", _on_entry(_renamed(lambda q: q.localname))),
    ("entry xsi:type", _on_entry(_with(f"{{{XSI}}}type", "xs:string"))),
    ("entry xsi:type unknown", _on_entry(_with(f"{{{XSI}}}type", "xs:nothing"))),
    ("entry xsi:type undeclared", _on_entry(_with(f"{{{XSI}}}type", "nope:x"))),
    ("entry xsi:nil", _on_entry(_with(f"{{{XSI}}}nil", "true"))),
    ("entry attribute", _on_entry(_with("extra", "1"))),
    ("entry mixed content", _on_entry(_mixed)),
    ("entry empty", _on_entry(_emptied)),
    ("entry reversed", _on_entry(_reversed)),
    ("comments in entry", _on_entry(_comments)),
    *(
        (f"{label} element {where}", _on_entry(_inserted(where, tag)))
        for where in ("first", "middle", "last")
        for label, tag in (
            ("unknown", f"{{{OTHER_NS}}}Unknown"),
            ("unqualified", "Unknown"),
            ("same-ns", None),
        )
    ),
)


def _byte_variants(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Changes made to the bytes: what a tree cannot hold, or holds differently."""
    body = re.search(rb"<([A-Za-z_][\w.-]*:)?Body>", data)
    assert body is not None
    opened, closed = body.group(0), b"</" + body.group(0)[1:]
    yield "processing instruction", data.replace(opened, opened + b"<?pi x?>", 1)
    yield "processing instruction before root", data.replace(b"?>", b"?><?pi x?>", 1)
    yield "DOCTYPE", data.replace(b"?>", b"?><!DOCTYPE x>", 1)
    yield "entity declared", data.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e "v">]>', 1)
    yield "entity undefined", data.replace(closed, b"&undefined;" + closed, 1)
    yield "BOM", b"\xef\xbb\xbf" + data
    yield "no declaration", data[data.index(b"?>") + 2 :]
    yield "latin-1 declared", data.replace(b"UTF-8", b"ISO-8859-1", 1)
    yield "truncated", data[: len(data) // 2]
    yield "garbage", b"<<<not xml>>>"
    yield "not XML", b"Service Unavailable"
    yield "empty", b""
    yield "spaces around", b"\n\n  " + data + b"\n\n"
    # The first text below the Body, spelled with CDATA sections, character references, entities.
    text = re.compile(rb">([^<>]+)</").search(data, body.end())
    if text is not None:
        at, end, value = text.start(1), text.end(1), text.group(1)
        yield "CDATA", data[:at] + b"<![CDATA[" + value + b"]]>" + data[end:]
        yield "CDATA split", data[:at] + value[:3] + b"<![CDATA[" + value[3:] + b"]]>" + data[end:]
        yield "character references", data[:at] + b"".join(b"&#%d;" % c for c in value) + data[end:]
        yield "entities", data[:at] + b"&lt;&amp;&gt;" + data[end:]


@dataclass(frozen=True)
class Variant:
    name: str
    status: int
    body: bytes


def variants(answer: bytes, *, depth_of_leaves: int = 40) -> Iterator[Variant]:
    """``answer`` (an Envelope, as bytes, that is not a fault) and its careless and hostile variants,
    each answered with HTTP 200; a few with other statuses too."""
    root = etree.fromstring(answer)
    leaves = sum(1 for el in _parts(root)[2].iter() if isinstance(el.tag, str)) - 2
    mutations = list(TREE_MUTATIONS)
    for index in range(min(max(leaves, 0), depth_of_leaves)):
        mutations.extend(
            (f"[{index}] {name}", _below_entry(index, change)) for name, change in ELEMENT_CHANGES
        )
    for name, mutate in mutations:
        tree = copy.deepcopy(root)
        mutate(tree)
        data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
        yield Variant(name, 200, data)
        if name == "as made":
            for status in (201, 202, 400, 500):
                yield Variant(f"as made, HTTP {status}", status, data)
            for byte_name, changed in _byte_variants(data):
                yield Variant(byte_name, 200, changed)
            for fault_name, fault in _faults(root):
                for status in (200, 400, 500):
                    yield Variant(f"{fault_name}, HTTP {status}", status, fault)


def _faults(root: etree._Element) -> Iterator[tuple[str, bytes]]:
    """The answer's Body replaced by a Fault blaming the sender, the receiver, or without a code."""
    ns = _parts(root)[0]
    for code in ("Client", "Server", "Sender", "Receiver", None):
        tree = copy.deepcopy(root)
        _, _, body = _parts(tree)
        for el in list(body):
            body.remove(el)
        fault = etree.SubElement(body, f"{{{ns}}}Fault")
        if ns == SOAP11_NS:
            if code is not None:
                etree.SubElement(fault, "faultcode").text = f"s:{code}"
            etree.SubElement(fault, "faultstring").text = "refused"
            etree.SubElement(etree.SubElement(fault, "detail"), "why").text = " no  parcel "
        else:
            if code is not None:
                value = etree.SubElement(etree.SubElement(fault, f"{{{ns}}}Code"), f"{{{ns}}}Value")
                value.text = f"s:{code}"
            etree.SubElement(etree.SubElement(fault, f"{{{ns}}}Reason"), f"{{{ns}}}Text").text = "refused"
        yield f"fault {code}", etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- the two readings, compared


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.name, record.levelno, record.getMessage()))


def _logged(fn: Callable[[], object]) -> tuple[tuple[object, ...], list[tuple[str, int, str]]]:
    """What ``fn`` returns or raises (type and text), and what zeep logged meanwhile."""
    handler = _Records()
    zeep_log = logging.getLogger("zeep")
    previous = zeep_log.level
    zeep_log.addHandler(handler)
    zeep_log.setLevel(logging.DEBUG)
    try:
        try:
            result: tuple[object, ...] = ("returned", fn())
        except DeliveryError as exc:
            result = (type(exc).__name__, exc.message, exc.response, exc.response_status, exc.request)
        except Exception as exc:
            result = ("raised", type(exc).__name__, str(exc))
    finally:
        zeep_log.removeHandler(handler)
        zeep_log.setLevel(previous)
    return result, handler.seen


def zeep_only(operation: WsdlOperation) -> WsdlOperation:
    """The same operation reading every reply with zeep (no shape): how the hub read replies before."""
    slow = copy.copy(operation)
    slow.reply_shape = None
    return slow


def compare_read_reply(operation: WsdlOperation, data: bytes) -> tuple[bool, bool]:
    """Read ``data`` (parsed by the hub's parser, as the adapter does) with ``operation`` and with
    zeep alone; assert the same outcome and the same zeep log. Returns (proven by the shape, accepted)."""
    from lienthong.errors import XmlRefusedError
    from lienthong.xml import parse_xml

    try:
        root = parse_xml(data, what="SOAP response")
    except XmlRefusedError:
        return False, False
    proven = operation.reply_shape is not None and operation.reply_shape.proves(root)
    fast = _logged(lambda: operation.read_reply(root))
    slow = _logged(lambda: zeep_only(operation).read_reply(root))
    assert fast == slow, (fast, slow)
    accepted = fast[0] == ("returned", None)
    assert accepted or not proven, "the shape proved a reply zeep refuses"
    if proven:
        assert not slow[1], f"the shape proved a reply zeep logs about: {slow[1]}"
    return proven, accepted


def compare_interpret(adapter: SoapAdapter, variant: Variant) -> tuple[bool, object]:
    """The whole reading of an answer by the adapter (what reaches the delivery record: Delivered, or
    the error's class, message, response and status), with the shape and with zeep alone."""
    assert adapter.wsdl is not None
    fast_wsdl = adapter.wsdl
    fast = _logged(lambda: adapter._interpret(REQUEST, variant.status, variant.body))
    adapter.wsdl = zeep_only(fast_wsdl)
    try:
        slow = _logged(lambda: adapter._interpret(REQUEST, variant.status, variant.body))
    finally:
        adapter.wsdl = fast_wsdl
    assert fast == slow, (variant.name, fast, slow)
    return fast[0][0] == "returned", fast[0]
