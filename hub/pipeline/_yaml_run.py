"""Applying a compiled declarative mapping to one message (:mod:`lienthong.pipeline.yaml_mapping`).

Two writers walk the same compiled fields with the same reading of the source: :meth:`MappingRun.tree`
builds the output tree (XML, or JSON in the W3C vocabulary of :mod:`lienthong.jsonxml`), and
:meth:`MappingRun.json` builds the JSON value itself (dicts, lists, strings, ``Decimal`` numbers and
booleans) — what :func:`lienthong.jsonxml.tree_to_value` reads from that tree, without the tree:
a JSON target's payload is validated and written from it (``Preparation.prepare``).

Reading a value is an XPath per field, except where the XPath is one that lxml's tree answers
directly: a child's text (``h:MaHoSo``, when that child holds text only), the children of one
name (``for_each: h:TaiLieuNop``), the document's root (``for_each: /h:HoSo``), and templates made
of those. Each such reader gives what its XPath gives, and asks the XPath when it cannot be sure
(an element with children of its own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from lxml import etree

from lienthong.config.files import KeyPath
from lienthong.errors import TranslationError
from lienthong.jsonxml import JSON_NS
from lienthong.pipeline.mapping_formats import DatePattern, NumberFormat

if TYPE_CHECKING:
    from lienthong.pipeline.yaml_mapping import YamlMapping

__all__ = [
    "DEFAULT",
    "Dates",
    "Group",
    "MappingRun",
    "Reader",
    "TemplatePart",
    "Value",
    "child_text",
    "children",
    "document_root",
    "template",
]

_XML_SPACE: Final = re.compile(r"[ \t\r\n]+")
#: Where a compiled code list keeps its default.
DEFAULT: Final = "\x00default"

#: Reads a source value without XPath: (the run, the context element) → what the XPath returns.
Reader = Callable[["MappingRun", etree._Element], Any]


@dataclass(frozen=True)
class Dates:
    read: DatePattern
    write: DatePattern
    zone: Any  # tzinfo


@dataclass
class Value:
    """A field with one value. ``expr`` indexes the compiled XPaths (None for const and param)."""

    name: str
    label: str
    at: KeyPath
    attribute: bool = False
    expr: int | None = None
    const: str | None = None
    param: str | None = None
    #: The source path as written (xml: XPath, json: dotted keys), for the schema check.
    source_path: str | None = None
    required: bool = True
    default: str | None = None
    when: int | None = None
    space: str = "normalize"
    lookup: tuple[str, dict[str, str], str | None] | None = None
    dates: Dates | None = None
    number: NumberFormat | None = None
    json_type: str = "string"


@dataclass
class Group:
    """A group of fields (one element or object), or with ``for_each`` one per source item."""

    name: str
    label: str
    at: KeyPath
    fields: list[Value | Group] = field(default_factory=list)
    for_each: int | None = None
    source_path: str | None = None
    item: Value | None = None
    when: int | None = None
    required: bool = True


# ---------------------------------------------------------------- readers without XPath


def _text_only(run: MappingRun, context: etree._Element, tag: str) -> str | None:
    """``string(p:name)`` when the tree says it: the text of the first child of that name ("" without
    one), or None for a child with children of its own (comments, mixed content), whose string value
    (all its descendants' text) is left to XPath."""
    child = run.first_children(context).get(tag)
    if child is None:
        return ""
    return None if len(child) else (child.text or "")


def child_text(tag: str, index: int) -> Reader:
    """``string(p:name)``, expression ``index`` asked where the tree does not say it."""

    def read(run: MappingRun, context: etree._Element) -> Any:
        text = _text_only(run, context, tag)
        return text if text is not None else run.evaluate(index, context)

    return read


def children(tag: str) -> Reader:
    """``p:name`` as a node-set: the children of that name, in document order."""

    def read(_run: MappingRun, context: etree._Element) -> Any:
        return list(context.iterchildren(tag))

    return read


def document_root(tag: str) -> Reader:
    """``/p:name`` as a node-set: the document's root element when it has that name."""

    def read(_run: MappingRun, context: etree._Element) -> Any:
        root = context.getroottree().getroot()
        return [root] if root.tag == tag else []

    return read


#: A part of a template: ("", literal text), ("$", a variable's name) or ("child", a child's tag).
TemplatePart = tuple[str, str]


def template(parts: Sequence[TemplatePart], index: int) -> Reader:
    """``concat(…)`` of literal texts, variables and children's texts; the whole expression
    (``index``) is asked when a child's text is not one the tree says (see :func:`_text_only`)."""

    def read(run: MappingRun, context: etree._Element) -> Any:
        out: list[str] = []
        for kind, value in parts:
            if kind == "child":
                text = _text_only(run, context, value)
                if text is None:
                    return run.evaluate(index, context)
                out.append(text)
            else:
                out.append(run.variables[value] if kind == "$" else value)
        return "".join(out)

    return read


# ---------------------------------------------------------------- one application


class MappingRun:
    """One application of a mapping to one message."""

    def __init__(
        self, mapping: YamlMapping, xpaths: Sequence[etree.XPath], variables: dict[str, str]
    ) -> None:
        self.mapping = mapping
        self.xpaths = xpaths
        self.readers = mapping.readers
        self.variables = variables
        self.json = mapping.json_target
        #: Per context element read so far, its first child of each name (see first_children).
        self._first: dict[etree._Element, dict[str, etree._Element]] = {}

    def evaluate(self, index: int, context: etree._Element) -> Any:
        try:
            if self.mapping.with_variables[index]:
                return self.xpaths[index](context, **self.variables)
            return self.xpaths[index](context)  # passing variables costs more than the lookup itself
        except etree.XPathEvalError as exc:
            text = self.mapping.expressions[index][0]
            raise self.error("", f"XPath {text!r} failed: {exc}") from exc

    def first_children(self, context: etree._Element) -> dict[str, etree._Element]:
        """The first child element of each name (Clark notation) of ``context``, found in one pass
        over its children and kept for this run: a mapping reads a dozen fields of one element, and
        asking lxml for each (``iterchildren(tag)``, which parses the name every time) cost more
        than reading them all once. The tree does not change while a mapping reads it."""
        found = self._first.get(context)
        if found is None:
            found = self._first[context] = {}
            for child in context:
                tag = child.tag
                if tag.__class__ is str and tag not in found:  # elements (not comments, PIs)
                    found[tag] = child
        return found

    def read(self, index: int, context: etree._Element) -> Any:
        """What expression ``index`` gives for ``context``, without XPath where a reader knows it."""
        reader = self.readers[index]
        return reader(self, context) if reader is not None else self.evaluate(index, context)

    def error(self, label: str, message: str) -> TranslationError:
        what = f"field {label}: " if label else ""
        message_id = self.variables.get("message_id") or "?"
        return TranslationError(f"mapping {self.mapping.loaded.name}, message {message_id}: {what}{message}")

    # ------------------------------------------------------------ the output as a tree

    def tree(self, context: etree._Element, parent: etree._Element, fields: Sequence[Value | Group]) -> None:
        for node in fields:
            if node.when is not None and not self.read(node.when, context):
                continue
            if isinstance(node, Value):
                text = self.value(node, context)
                if text is not None:
                    self.write(parent, node, text)
            elif node.for_each is None:
                element = self.child(parent, node.name, "map")
                self.tree(context, element, node.fields)
                empty = not len(element) and (self.json or not element.attrib)
                if empty and not node.required:
                    parent.remove(element)
            else:
                self.repeat(node, context, parent)

    def items(self, group: Group, context: etree._Element) -> list[etree._Element]:
        assert group.for_each is not None
        items = self.read(group.for_each, context)
        if not isinstance(items, list):
            raise self.error(group.label, f"for_each {group.source_path!r} must select elements")
        if group.required and not items:
            raise self.error(group.label, f"required, but for_each {group.source_path!r} selects nothing")
        return items

    def item(self, group: Group, item: Any) -> etree._Element:
        if not isinstance(item, etree._Element):
            raise self.error(group.label, f"for_each {group.source_path!r} must select elements")
        return item

    def repeat(self, group: Group, context: etree._Element, parent: etree._Element) -> None:
        items = self.items(group, context)
        holder = self.child(parent, group.name, "array") if self.json else parent
        for found in items:
            item = self.item(group, found)
            if group.item is not None:
                text = self.value(group.item, item)
                if text is not None:
                    self.write(holder, group.item, text, name=group.name)
            else:
                self.tree(item, self.child(holder, group.name, "map"), group.fields)

    def child(self, parent: etree._Element, name: str, kind: str) -> etree._Element:
        if not self.json:
            return etree.SubElement(parent, name)
        element = etree.SubElement(parent, f"{{{JSON_NS}}}{kind}")
        if parent.tag == _MAP:
            element.set("key", name)
        return element

    def write(self, parent: etree._Element, node: Value, text: str, *, name: str | None = None) -> None:
        if node.attribute:
            parent.set(node.name, text)
            return
        if self.json:
            kind = node.json_type
            text = self.typed(node, text)
            element = self.child(parent, name or node.name, kind)
        else:
            element = self.child(parent, name or node.name, "")
        element.text = text

    # ------------------------------------------------------------ the output as a JSON value

    def json_object(
        self, context: etree._Element, out: dict[str, Any], fields: Sequence[Value | Group]
    ) -> None:
        """:meth:`tree`'s twin for a JSON target: ``out`` gets what ``tree_to_value`` would read from
        the map element :meth:`tree` fills, member by member in the same order."""
        for node in fields:
            if node.when is not None and not self.read(node.when, context):
                continue
            if isinstance(node, Value):
                text = self.value(node, context)
                if text is not None:
                    _member(out, node.name, self.json_value(node, text))
            elif node.for_each is None:
                inner: dict[str, Any] = {}
                self.json_object(context, inner, node.fields)
                if inner or node.required:
                    _member(out, node.name, inner)
            else:
                items = self.items(node, context)
                array: list[Any] = []
                _member(out, node.name, array)
                for found in items:
                    item = self.item(node, found)
                    if node.item is not None:
                        text = self.value(node.item, item)
                        if text is not None:
                            array.append(self.json_value(node.item, text))
                    else:
                        member: dict[str, Any] = {}
                        array.append(member)
                        self.json_object(item, member, node.fields)

    def json_value(self, node: Value, text: str) -> Any:
        """The JSON value of a field whose text is ``text``: what :meth:`write` puts in the tree, as
        ``tree_to_value`` reads it back."""
        if node.json_type == "string":  # most fields: typed() would give the text as it is
            return text
        text = self.typed(node, text)
        if node.json_type == "number":
            return Decimal(text.strip())
        if node.json_type == "boolean":
            return text == "true"
        return text

    # ------------------------------------------------------------ values

    def typed(self, node: Value, text: str) -> str:
        if node.json_type == "number":
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = Decimal("NaN")
            if not number.is_finite():
                raise self.error(node.label, f"{text!r} is not a number")
        elif node.json_type == "boolean":
            if text.lower() not in _BOOLEANS:
                raise self.error(node.label, f"{text!r} is not a boolean (true/false, 1/0)")
            return _BOOLEANS[text.lower()]
        return text

    def value(self, node: Value, context: etree._Element) -> str | None:
        if node.expr is not None:
            text = str(self.read(node.expr, context))
        elif node.param is not None:
            text = self.variables[node.param]
        else:
            text = node.const or ""
        text = _SPACE[node.space](text)
        if not text:
            if node.default is not None:
                return node.default
            if node.required:
                where = f" (path {node.source_path})" if node.source_path else ""
                raise self.error(node.label, f"required, but the source has no value{where}")
            return None
        if node.lookup is not None:
            name, table, default = node.lookup
            found = table.get(text, default)
            if found is None:
                known = ", ".join(sorted(k for k in table if k != DEFAULT)[:10])
                raise self.error(node.label, f"{text!r} is not in code list {name!r} (codes: {known})")
            text = found
        try:
            if node.dates is not None:
                dates = node.dates
                text = dates.write.format(dates.read.parse(text, dates.zone), dates.zone)
            if node.number is not None:
                text = node.number.convert(text)
        except ValueError as exc:
            raise self.error(node.label, str(exc)) from exc
        return text


def _member(out: dict[str, Any], key: str, value: Any) -> None:
    if key in out:  # as tree_to_value refuses it (field names are YAML keys: never twice in one object)
        raise TranslationError(f"JSON output: the key {key!r} appears twice in one object")
    out[key] = value


_MAP: Final = f"{{{JSON_NS}}}map"
_BOOLEANS: Final = {"true": "true", "false": "false", "1": "true", "0": "false"}


def _normalize(text: str) -> str:
    """XPath's normalize-space(): only XML whitespace, not Unicode's (a no-break space stays)."""
    text = text.strip(" \t\r\n")
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        return _XML_SPACE.sub(" ", text)
    return text


_SPACE: Final[dict[str, Callable[[str], str]]] = {
    "normalize": _normalize,
    "trim": lambda s: s.strip(" \t\r\n"),
    "preserve": lambda s: s,
}
