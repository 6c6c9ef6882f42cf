"""A reply's Body proven acceptable to zeep without zeep building its objects: the fast path of
:meth:`~lienthong.delivery.transports.wsdl.WsdlOperation.read_reply`.

zeep reads a reply's Body (``SoapMessage.deserialize``) by parsing the element it holds against the
operation's output message: every child element becomes a Python value (an isodate ``datetime``,
a ``CompoundValue`` per complex element) that the hub throws away, since all it wants is zeep's
verdict. That reading cost most of a delivery call's Python (150–230 µs a reply).

:class:`ReplyShape` is the output message's element compiled once, when the adapter is built, into
what a reply must look like for zeep's reading to succeed: the element's children in the WSDL's
order and counts, each with the exact qualified name declared, simple-typed texts that zeep's type
parses (a string always; a date-time matching a pattern zeep's parser is known to take, or else the
type's own ``pythonvalue`` tried). :meth:`ReplyShape.proves` answers True only when the reply is in
that shape, and then zeep, given the same tree, would accept it: the argument for each rule is given
where it is checked. Anything else — a name zeep would match loosely (by local name, or without a
namespace), an attribute (``xsi:type``, ``xsi:nil``), a comment, an element inside a simple value,
an element too many or missing, a text zeep's type would log as unparseable — answers False, and
zeep reads the reply as before, so every refusal and every error message is zeep's own.

Only the shapes whose reading is simple enough to argue are compiled (document/literal, one part,
no header parts, complex types whose content is one ``xsd:sequence`` of elements with distinct local
names, simple types parsed by ``AnySimpleType.parse_xmlelement``); for any other WSDL,
:meth:`ReplyShape.compile` returns None and zeep reads every reply. tests/unit/test_reply_shape.py
compares both on careless and hostile replies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from zeep.wsdl.messages.soap import DocumentMessage
from zeep.xsd import ComplexType, Element, Sequence
from zeep.xsd.types.builtins import DateTime, String
from zeep.xsd.types.simple import AnySimpleType

from lienthong.soap import SoapVersion, envelope_ns, envelope_parts

__all__ = ["DATETIME_SAFE", "ReplyShape"]

#: xsd:dateTime texts zeep's ``DateTime.pythonvalue`` parses without an error, with isodate: no
#: blank (so zeep's whitespace collapse and its "date only" and "space for T" rewrites leave the
#: text as it is), one ``T``, a day that exists in every year (29 and 30 but in February, 31 in the
#: months that have one; 29 February is left to the type), hours 00–23, minutes and seconds 00–59,
#: up to nine digits of fraction after a dot, ``Z`` or an offset up to ±14:59. ASCII digits only
#: (``\d`` would take other scripts' digits). tests/unit/test_reply_shape.py parses every form.
DATETIME_SAFE = re.compile(
    r"[1-9][0-9]{3}-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])"
)


@dataclass(frozen=True)
class _Leaf:
    """A simple-typed element: its text is proven when zeep's type parses it without an error."""

    xsd_type: Any
    #: Every text parses (xsd:string and its restrictions: ``pythonvalue`` returns the text).
    any_text: bool
    #: Texts known to parse without calling the type (None: call it).
    safe: re.Pattern[str] | None

    def proves(self, el: etree._Element) -> bool:
        if len(el):  # children (or a comment) inside a simple value: zeep's reading is left to it
            return False
        text = el.text
        if text is None or self.any_text:
            return True
        if self.safe is not None and self.safe.fullmatch(text):
            return True
        try:  # the type's own parse, as zeep calls it: it is a pure function of the text
            self.xsd_type.pythonvalue(text)
        except Exception:  # zeep would log it and read None, or raise: either way, zeep decides
            return False
        return True


@dataclass(frozen=True)
class _Complex:
    """A complex-typed element whose content is one sequence: each child (Clark name, min, max,
    its content) in order."""

    children: tuple[tuple[str, int, int | None, _Leaf | _Complex], ...]

    def proves(self, el: etree._Element) -> bool:
        """zeep's ``ComplexType.parse_xmlelement`` takes the children in order: each declared element
        consumes the children that follow with its local name, up to its maxOccurs, and fails only
        when the first does not match and the element is required; children left over fail in strict
        mode. With the exact names, the counts within bounds and the local names distinct (checked
        when compiled), every child is consumed by its own declaration and none is left."""
        children = iter(el)
        child = next(children, None)
        for name, low, high, content in self.children:
            count = 0
            while child is not None and child.tag == name:
                # items(): the cheapest way lxml has to say "no attribute"
                if count == high or child.items() or not content.proves(child):
                    return False
                count += 1
                child = next(children, None)
            if count < low:
                return False
        return child is None  # a comment or processing instruction also ends up here, unproven


def _content(xsd_type: Any) -> _Leaf | _Complex | None:
    """What zeep's parse of ``xsd_type`` is compiled to, or None when it is not a shape argued here."""
    kind = type(xsd_type)
    if isinstance(xsd_type, AnySimpleType):
        if kind.parse_xmlelement is not AnySimpleType.parse_xmlelement:
            return None
        plain = kind.pythonvalue is String.pythonvalue
        safe = DATETIME_SAFE if kind.pythonvalue is DateTime.pythonvalue else None
        return _Leaf(xsd_type, plain, safe)
    if not isinstance(xsd_type, ComplexType) or kind.parse_xmlelement is not ComplexType.parse_xmlelement:
        return None
    if xsd_type.attributes or getattr(xsd_type, "_array_type", None) is not None:
        return None
    nested = xsd_type.elements_nested
    sequence = xsd_type._element
    if len(nested) != 1 or type(sequence) is not Sequence or nested[0][1] is not sequence:
        return None
    if sequence.min_occurs != 1 or sequence.max_occurs != 1:
        return None
    children: list[tuple[str, int, int | None, _Leaf | _Complex]] = []
    for _, element in sequence.elements:
        if type(element) is not Element:
            return None
        content = _content(element.type)
        low, high = element.min_occurs, element.max_occurs
        limit: int | None = None if high == "unbounded" else high if isinstance(high, int) else 0
        if content is None or not isinstance(low, int) or low < 0 or (limit is not None and limit < 1):
            return None
        children.append((str(element.qname.text), low, limit, content))
    locals_ = [etree.QName(name).localname for name, *_ in children]
    if not children or len(set(locals_)) != len(locals_):
        return None  # zeep matches by local name: two alike could be taken by the wrong declaration
    return _Complex(tuple(children))


_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@dataclass(frozen=True)
class ReplyShape:
    """The Envelope of a reply zeep is proven to accept for one operation's output message."""

    version: SoapVersion
    #: Clark names of this version's Envelope and of the output element.
    envelope: str
    element: str
    content: _Complex

    @classmethod
    def compile(cls, message: Any, version: SoapVersion) -> ReplyShape | None:
        """The shape of ``message`` (zeep's output message of the operation), or None when its reading
        is not one argued here (zeep then reads every reply)."""
        if type(message) is not DocumentMessage or message._is_body_wrapped:
            return None
        settings = message.wsdl.types.settings  # what zeep's parse consults (strict, sequence order)
        if not settings.strict or settings.xsd_ignore_sequence_order:
            return None
        body, header = message.body, message.header
        if type(body) is not Element:
            return None
        # No header parts: zeep reads the Header as an empty type, which returns None whatever the
        # Header holds (unless an xsi:type on it names another type: refused at run time).
        if header is None or header.type.attributes or header.type.elements or header.type._element:
            return None
        content = _content(body.type)
        if not isinstance(content, _Complex):
            return None
        return cls(version, f"{{{envelope_ns(version)}}}Envelope", str(body.qname.text), content)

    def proves(self, envelope: etree._Element) -> bool:
        """True when zeep, reading ``envelope`` (a parsed reply that is not a fault), would accept it:
        the Envelope is this version's, its first Header (if any) has no ``xsi:type``, its first Body
        holds exactly the output element (with the declared name, no attributes, no comment around
        it) and that element is in the compiled shape. False says nothing: zeep decides."""
        if envelope.tag != self.envelope:
            return False
        header, bodies = envelope_parts(envelope, self.version)  # as zeep's find() takes them
        if header is not None and header.get(_XSI_TYPE) is not None:
            return False
        if not bodies or len(bodies[0]) != 1:
            return False
        entry = bodies[0][0]
        return entry.tag == self.element and not entry.items() and self.content.proves(entry)
