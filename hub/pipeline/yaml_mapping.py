"""Declarative mappings: a YAML file saying which source value goes into which target field.

Most ministry formats are the provincial dossier's fields renamed, reformatted (dates, amounts) and
recoded (code lists), grouped and repeated. XSLT can say all of that, but provincial IT staff read
YAML more easily, and a YAML mapping can be checked against both schemas before any message flows
(:mod:`lienthong.pipeline.mapping_check`). XSLT stays for what this language cannot say.

A file is compiled once: every XPath (JSON paths become XPaths over the W3C XML representation of
JSON, see :mod:`lienthong.jsonxml`), date pattern and code list is prepared at load, and a problem is
a :class:`ConfigError` at the mapping file's line. Applying it to a message walks the compiled fields
in the order they are written, which is the order of the output's elements (XSD sequences care).
docs/mappings.md is the reference.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from lxml import etree

from lienthong.config.files import KeyPath, LoadedYaml, read_yaml_file
from lienthong.errors import ConfigError, ConfigIssue, TranslationError
from lienthong.jsonxml import JSON_NS
from lienthong.pipeline.mapping_formats import DatePattern, NumberFormat, time_zone
from lienthong.pipeline.mapping_spec import PARAMS, CodeFile, CodeList, FieldSpec, MappingFile

__all__ = ["YamlMapping"]

_JSON_SEGMENT: Final = re.compile(r"\$(\[\])?|([^.\[\]]+)(\[\])?")
_VARIABLE: Final = re.compile(r"\$[A-Za-z_][\w.-]*")
_XML_SPACE: Final = re.compile(r"[ \t\r\n]+")
_TEMPLATE_PART: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[^{}]+|[{}]")
_ATTRIBUTE_PREFIX: Final = "@"


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


class YamlMapping:
    """A compiled declarative mapping (``.yaml``/``.yml``), implementing the ``Mapper`` contract.

    Raises ConfigError listing every problem in the file, each at its line."""

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        loaded = read_yaml_file(path, MappingFile, name=name)
        self.loaded: LoadedYaml[MappingFile] = loaded
        self._issues: list[ConfigIssue] = list(loaded.issues)
        self._expressions: list[tuple[str, KeyPath]] = []
        self._with_variables: list[bool] = []
        if loaded.value is None:
            raise ConfigError(self._issues)
        self.spec = spec = loaded.value
        self.json_source = spec.source.format == "json"
        self.json_target = spec.target.format == "json"
        self.source_ns = dict(spec.source.namespaces)
        if self.json_source:
            self.source_ns.setdefault("fn", JSON_NS)
        self.target_ns = dict(spec.target.namespaces)
        self.codelists = {name: self._codelist(name, cl) for name, cl in spec.codelists.items()}
        self.source_root = self._clark(spec.source.root, self.source_ns, ("source", "root"))
        target_root = None if self.json_target else spec.target.root
        self.root_name = self._clark(target_root, self.target_ns, ("target", "root"))
        self.fields = self._fields(spec.fields, ("fields",), "")
        self._local = threading.local()
        if not self._issues:
            self._compiled()  # every XPath compiles here, so a syntax error is a load-time issue
        if self._issues:
            raise ConfigError(self._issues)

    # ------------------------------------------------------------ applying

    def apply(self, tree: etree._Element, params: Mapping[str, str]) -> etree._Element:
        if self.source_root and tree.tag != self.source_root:
            raise TranslationError(
                f"mapping {self.path.name}: expects a {self.spec.source.root} document, got {tree.tag}"
            )
        variables = {name: params.get(name, "") for name in PARAMS}
        run = _Run(self, self._compiled(), variables)
        if self.json_target:
            out = etree.Element(f"{{{JSON_NS}}}map", nsmap={None: JSON_NS})  # type: ignore[dict-item]
        else:
            ns = etree.QName(self.root_name).namespace
            nsmap: dict[str | None, str] = {p: u for p, u in self.target_ns.items() if u != ns}
            if ns:
                nsmap[None] = ns
            out = etree.Element(self.root_name, nsmap=nsmap)  # type: ignore[arg-type]
        run.fields(tree, out, self.fields)
        return out

    def _compiled(self) -> list[etree.XPath]:
        """lxml's compiled XPaths are kept per thread, as the hub does with XSLT and XSD."""
        compiled: list[etree.XPath] | None = getattr(self._local, "xpaths", None)
        if compiled is None:
            compiled = []
            for text, at in self._expressions:
                try:
                    compiled.append(etree.XPath(text, namespaces=self.source_ns))
                except etree.XPathSyntaxError as exc:
                    self._issues.append(self.loaded.issue(at, f"invalid XPath {text!r}: {exc}"))
                    compiled.append(etree.XPath("''"))
            self._local.xpaths = compiled
        return compiled

    # ------------------------------------------------------------ compiling

    def issue(self, at: KeyPath, message: str) -> None:
        self._issues.append(self.loaded.issue(at, message))

    def _expression(self, text: str, at: KeyPath, wrap: str = "") -> int:
        """Register an XPath; ``wrap`` (``string``/``boolean``) converts its result."""
        try:
            # Evaluated once on an empty element: lxml finds an undefined prefix, variable or function
            # only when it runs, and that belongs here, at the line, not at the first message.
            etree.XPath(text, namespaces=self.source_ns)(_PROBE, **dict.fromkeys(PARAMS, ""))
        except etree.XPathError as exc:
            self.issue(at, f"invalid XPath {text!r}: {exc}")
        self._expressions.append((f"{wrap}({text})" if wrap else text, at))
        self._with_variables.append("$" in text)
        return len(self._expressions) - 1

    def _path(self, text: str, at: KeyPath) -> str:
        """A source path as an XPath: itself for an XML source, compiled from dotted keys for JSON."""
        if not self.json_source:
            return text
        steps: list[str] = []
        for index, part in enumerate(text.split(".")):
            found = _JSON_SEGMENT.fullmatch(part)
            if found is None or (index and part.startswith("$")):
                self.issue(at, f"json path {text!r}: cannot read {part!r} (write keys as a.b[].c)")
                return "''"
            root_each, key, each = found.groups()
            if key is None:
                steps.append("/*" + ("/fn:*" if root_each else ""))
            else:
                quoted = _literal(key)
                steps.append(f"fn:array[@key={quoted}]/fn:*" if each else f"fn:*[@key={quoted}]")
        head, *rest = steps
        return head + "".join("/" + s for s in rest) if head.startswith("/") else "/".join(steps)

    def _codelist(self, name: str, given: CodeList | dict[str | int, str | int]) -> dict[str, str]:
        at: KeyPath = ("codelists", name)
        spec = given if isinstance(given, CodeList) else CodeList(values=given)
        values = spec.values
        if spec.file is not None:
            values = self._codelist_file(spec.file, (*at, "file"))
        table = {str(k): str(v) for k, v in (values or {}).items()}
        if spec.default is not None:
            table[_DEFAULT] = str(spec.default)
        return table

    def _codelist_file(self, file: str, at: KeyPath) -> dict[str | int, str | int] | None:
        path = self.path.parent / file
        loaded = read_yaml_file(path, CodeFile, name=str(Path(self.loaded.name).parent / file))
        if loaded.value is None:
            self._issues.extend(loaded.issues or [self.loaded.issue(at, f"cannot read code list {file}")])
            return None
        return loaded.value.root

    def _clark(self, name: str | None, namespaces: Mapping[str, str], at: KeyPath) -> str:
        if not name:
            return ""
        prefix, _, local = name.rpartition(":")
        if prefix and prefix not in namespaces:
            known = ", ".join(sorted(namespaces)) or "none declared"
            self.issue(at, f"unknown namespace prefix {prefix!r} in {name!r} (declared: {known})")
            return ""
        try:
            qname = etree.QName(namespaces[prefix] if prefix else None, local)
        except ValueError:
            self.issue(at, f"{name!r} is not a valid XML name")
            return ""
        return qname.text

    def _target_name(self, key: str, at: KeyPath) -> tuple[str, bool]:
        """The output name of field ``key``: a JSON key, or an element / ``@attribute`` in Clark notation."""
        if self.json_target:
            return key, False
        attribute = key.startswith(_ATTRIBUTE_PREFIX)
        name = key[1:] if attribute else key
        if ":" not in name and not attribute:
            # Unprefixed elements are in the root's namespace, as under a default namespace declaration.
            ns = etree.QName(self.root_name).namespace if self.root_name else None
            try:
                return etree.QName(ns, name).text, False
            except ValueError:
                self.issue(at, f"{name!r} is not a valid XML name")
                return "", False
        return self._clark(name, self.target_ns, at), attribute

    def _fields(self, fields: Mapping[str, FieldSpec], at: KeyPath, label: str) -> list[Value | Group]:
        out: list[Value | Group] = []
        for key, given in fields.items():
            here: KeyPath = (*at, key)
            spec = given
            name, attribute = self._target_name(key, here)
            dotted = f"{label}.{key}" if label else key
            if spec.fields is not None or spec.for_each is not None:
                out.append(self._group(spec, name, dotted, here, attribute))
            else:
                out.append(self._value(spec, name, dotted, here, attribute))
        return out

    def _group(self, spec: FieldSpec, name: str, label: str, at: KeyPath, attribute: bool) -> Group:
        if attribute:
            self.issue(at, "an attribute holds one value, not a group of fields")
        group = Group(name=name, label=label, at=at, required=spec.required is not False)
        if spec.when is not None:
            group.when = self._expression(spec.when, (*at, "when"), "boolean")
        if spec.for_each is not None:
            group.source_path = spec.for_each
            group.for_each = self._expression(self._path(spec.for_each, (*at, "for_each")), (*at, "for_each"))
            group.required = spec.required is True  # a repeated group may be empty unless required
        if spec.fields is not None:
            group.fields = self._fields(spec.fields, (*at, "fields"), label)
        elif spec.value is not None:
            item = spec.value
            if item.fields is not None or item.for_each is not None:
                self.issue((*at, "value"), "'value' is one value per item; use 'fields' for a group")
            else:
                group.item = self._value(item, "", label, (*at, "value"), False)
        for key in ("lookup", "date", "number", "default", "type"):
            if getattr(spec, key) is not None:
                self.issue((*at, key), f"'{key}' applies to a value, not to a group of fields")
        return group

    def _value(self, spec: FieldSpec, name: str, label: str, at: KeyPath, attribute: bool) -> Value:
        value = Value(name=name, label=label, at=at, attribute=attribute, space=spec.space)
        implied = spec.when is None and spec.default is None
        value.required = spec.required if spec.required is not None else implied
        value.default = None if spec.default is None else _text(spec.default)
        if spec.when is not None:
            value.when = self._expression(spec.when, (*at, "when"), "boolean")
        if spec.path is not None:
            value.source_path = spec.path
            value.expr = self._expression(self._path(spec.path, (*at, "path")), (*at, "path"), "string")
        elif spec.xpath is not None:
            value.expr = self._expression(spec.xpath, (*at, "xpath"), "string")
        elif spec.template is not None:
            value.expr = self._expression(self._template(spec.template, (*at, "template")), (*at, "template"))
        elif spec.param is not None:
            value.param = spec.param
        else:
            value.const = _text(spec.const)
            value.required = False
        if spec.lookup is not None:
            if spec.lookup not in self.codelists:
                known = ", ".join(sorted(self.codelists)) or "none defined"
                self.issue((*at, "lookup"), f"unknown code list {spec.lookup!r} (codelists: {known})")
            else:
                table = self.codelists[spec.lookup]
                value.lookup = (spec.lookup, table, table.get(_DEFAULT))
        if spec.date is not None:
            try:
                zone = time_zone(spec.date.tz)
                value.dates = Dates(DatePattern(spec.date.from_), DatePattern(spec.date.to), zone)
            except ValueError as exc:
                self.issue((*at, "date"), str(exc))
        if spec.number is not None:
            value.number = NumberFormat(spec.number.from_, spec.number.to, spec.number.decimals)
        if spec.type is not None:
            if not self.json_target:
                self.issue((*at, "type"), "'type' chooses the JSON type of a value; an xml target has text")
            value.json_type = spec.type
        return value

    def _template(self, text: str, at: KeyPath) -> str:
        """``"Hồ sơ {h:MaHoSo} từ {$sender}"`` as one XPath concat(); ``{{``/``}}`` are braces."""
        parts: list[str] = []
        for match in _TEMPLATE_PART.finditer(text):
            piece, inner = match.group(0), match.group(1)
            if piece in ("{{", "}}"):
                parts.append(_literal(piece[0]))
            elif inner is not None:
                inner = inner.strip()
                parts.append(inner if _VARIABLE.fullmatch(inner) else f"string({self._path(inner, at)})")
            elif piece in ("{", "}"):
                self.issue(at, f"template {text!r}: unmatched {piece!r} (write {piece * 2} for a brace)")
            else:
                parts.append(_literal(piece))
        return f"concat({', '.join(parts)}, '')" if len(parts) != 1 else f"string({parts[0]})"


_DEFAULT: Final = "\x00default"
_PROBE: Final = etree.Element("probe")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _literal(text: str) -> str:
    """An XPath 1.0 string literal for any text (XPath 1.0 has no escapes: concat quotes)."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat('" + "', \"'\", '".join(text.split("'")) + "')"


class _Run:
    """One application of a mapping to one message."""

    def __init__(
        self, mapping: YamlMapping, xpaths: Sequence[etree.XPath], variables: dict[str, str]
    ) -> None:
        self.mapping = mapping
        self.xpaths = xpaths
        self.variables = variables
        self.json = mapping.json_target

    def evaluate(self, index: int, context: etree._Element) -> Any:
        try:
            if self.mapping._with_variables[index]:
                return self.xpaths[index](context, **self.variables)
            return self.xpaths[index](context)  # passing variables costs more than the lookup itself
        except etree.XPathEvalError as exc:
            text = self.mapping._expressions[index][0]
            raise self.error("", f"XPath {text!r} failed: {exc}") from exc

    def error(self, label: str, message: str) -> TranslationError:
        what = f"field {label}: " if label else ""
        message_id = self.variables.get("message_id") or "?"
        return TranslationError(f"mapping {self.mapping.loaded.name}, message {message_id}: {what}{message}")

    def fields(
        self, context: etree._Element, parent: etree._Element, fields: Sequence[Value | Group]
    ) -> None:
        for node in fields:
            if node.when is not None and not self.evaluate(node.when, context):
                continue
            if isinstance(node, Value):
                text = self.value(node, context)
                if text is not None:
                    self.write(parent, node, text)
            elif node.for_each is None:
                element = self.child(parent, node.name, "map")
                self.fields(context, element, node.fields)
                empty = not len(element) and (self.json or not element.attrib)
                if empty and not node.required:
                    parent.remove(element)
            else:
                self.repeat(node, context, parent)

    def repeat(self, group: Group, context: etree._Element, parent: etree._Element) -> None:
        assert group.for_each is not None
        items = self.evaluate(group.for_each, context)
        if not isinstance(items, list):
            raise self.error(group.label, f"for_each {group.source_path!r} must select elements")
        if group.required and not items:
            raise self.error(group.label, f"required, but for_each {group.source_path!r} selects nothing")
        holder = self.child(parent, group.name, "array") if self.json else parent
        for item in items:
            if not isinstance(item, etree._Element):
                raise self.error(group.label, f"for_each {group.source_path!r} must select elements")
            if group.item is not None:
                text = self.value(group.item, item)
                if text is not None:
                    self.write(holder, group.item, text, name=group.name)
            else:
                self.fields(item, self.child(holder, group.name, "map"), group.fields)

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
            text = str(self.evaluate(node.expr, context))
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
                known = ", ".join(sorted(k for k in table if k != _DEFAULT)[:10])
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
