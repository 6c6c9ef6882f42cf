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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from lxml import etree

from lienthong.config.files import KeyPath, LoadedYaml, read_yaml_file
from lienthong.errors import ConfigError, ConfigIssue, TranslationError
from lienthong.jsonxml import JSON_NS, tree_to_value
from lienthong.pipeline._yaml_run import (
    DEFAULT,
    Dates,
    Group,
    MappingRun,
    Reader,
    TemplatePart,
    Value,
    child_text,
    children,
    document_root,
    template,
)
from lienthong.pipeline.mapping_formats import DatePattern, NumberFormat, time_zone
from lienthong.pipeline.mapping_spec import PARAMS, CodeFile, CodeList, FieldSpec, MappingFile

__all__ = ["Group", "Value", "YamlMapping"]

_JSON_SEGMENT: Final = re.compile(r"\$(\[\])?|([^.\[\]]+)(\[\])?")
_VARIABLE: Final = re.compile(r"\$[A-Za-z_][\w.-]*")
#: A name test alone (``h:MaHoSo``, ``/h:HoSo``): what lxml's tree answers without XPath (_yaml_run).
_NAME: Final = re.compile(r"(/?)(?:([A-Za-z_][A-Za-z0-9_.-]*):)?([A-Za-z_][A-Za-z0-9_.-]*)")
#: What lxml refuses in a text or an attribute (control characters, surrogates, U+FFFE/U+FFFF).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEMPLATE_PART: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[^{}]+|[{}]")
_ATTRIBUTE_PREFIX: Final = "@"


class YamlMapping:
    """A compiled declarative mapping (``.yaml``/``.yml``), implementing the ``Mapper`` contract.

    Raises ConfigError listing every problem in the file, each at its line."""

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        loaded = read_yaml_file(path, MappingFile, name=name)
        self.loaded: LoadedYaml[MappingFile] = loaded
        self._issues: list[ConfigIssue] = list(loaded.issues)
        #: Each XPath as compiled (with its wrap) and where it is written, whether it uses variables,
        #: and the reader that answers it without XPath (_yaml_run), if one does.
        self.expressions: list[tuple[str, KeyPath]] = []
        self.with_variables: list[bool] = []
        self.readers: list[Reader | None] = []
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
        # A JSON value is built without lxml, which would refuse a text unfit for XML (a control
        # character) when the tree is built: a mapping whose own texts hold one builds the tree.
        # (A code list's codes are only compared; its values, the default among them, are written.)
        written = _texts(spec.model_dump(), [list(table.values()) for table in self.codelists.values()])
        self._texts_fit_xml = not any(_NOT_XML.search(t) for t in written)
        self._local = threading.local()
        if not self._issues:
            self._compiled()  # every XPath compiles here, so a syntax error is a load-time issue
        if self._issues:
            raise ConfigError(self._issues)

    # ------------------------------------------------------------ applying

    def apply(self, tree: etree._Element, params: Mapping[str, str]) -> etree._Element:
        run = self._run(tree, params)
        if self.json_target:
            out = etree.Element(f"{{{JSON_NS}}}map", nsmap={None: JSON_NS})  # type: ignore[dict-item]
        else:
            ns = etree.QName(self.root_name).namespace
            nsmap: dict[str | None, str] = {p: u for p, u in self.target_ns.items() if u != ns}
            if ns:
                nsmap[None] = ns
            out = etree.Element(self.root_name, nsmap=nsmap)  # type: ignore[arg-type]
        run.tree(tree, out, self.fields)
        return out

    def apply_json(self, tree: etree._Element, params: Mapping[str, str]) -> Any:
        """A JSON target's output as the JSON value itself: ``tree_to_value(self.apply(tree, params))``,
        without the tree. Raises TranslationError as :meth:`apply` and ``tree_to_value`` do."""
        if not self.json_target:
            raise TypeError(f"mapping {self.path.name} has an xml target: apply() writes it")
        run = self._run(tree, params)
        if not self._texts_fit_xml or any(_NOT_XML.search(v) for v in run.variables.values()):
            return tree_to_value(self.apply(tree, params))  # lxml says what it refuses, as it always has
        out: dict[str, Any] = {}
        run.json_object(tree, out, self.fields)
        return out

    def _run(self, tree: etree._Element, params: Mapping[str, str]) -> MappingRun:
        if self.source_root and tree.tag != self.source_root:
            raise TranslationError(
                f"mapping {self.path.name}: expects a {self.spec.source.root} document, got {tree.tag}"
            )
        variables = {name: params.get(name, "") for name in PARAMS}
        return MappingRun(self, self._compiled(), variables)

    def _compiled(self) -> list[etree.XPath]:
        """lxml's compiled XPaths are kept per thread, as the hub does with XSLT and XSD."""
        compiled: list[etree.XPath] | None = getattr(self._local, "xpaths", None)
        if compiled is None:
            compiled = []
            for text, at in self.expressions:
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
        index = len(self.expressions)
        self.expressions.append((f"{wrap}({text})" if wrap else text, at))
        self.with_variables.append("$" in text)
        self.readers.append(self._reader(text, wrap, index))
        return index

    def _reader(self, text: str, wrap: str, index: int) -> Reader | None:
        """What answers ``wrap(text)`` from lxml's tree (see _yaml_run): a child's text, the children
        of one name, the document's root; None for any other XPath."""
        name = self._name_test(text)
        if name is None or wrap not in ("", "string"):
            return None
        absolute, tag = name
        if wrap == "string":
            return None if absolute else child_text(tag, index)
        return document_root(tag) if absolute else children(tag)

    def _name_test(self, text: str) -> tuple[bool, str] | None:
        """``(absolute, Clark name)`` of an XPath that is one name test (``h:X``, ``/h:X``), else None."""
        found = _NAME.fullmatch(text)
        if found is None or (found.group(2) is not None and found.group(2) not in self.source_ns):
            return None
        slash, prefix, local = found.groups()
        return bool(slash), f"{{{self.source_ns[prefix]}}}{local}" if prefix else local

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
            table[DEFAULT] = str(spec.default)
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
            expression, parts = self._template(spec.template, (*at, "template"))
            value.expr = self._expression(expression, (*at, "template"))
            if parts is not None:
                self.readers[value.expr] = template(parts, value.expr)
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
                value.lookup = (spec.lookup, table, table.get(DEFAULT))
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

    def _template(self, text: str, at: KeyPath) -> tuple[str, list[TemplatePart] | None]:
        """``"Hồ sơ {h:MaHoSo} từ {$sender}"`` as one XPath concat(); ``{{``/``}}`` are braces. With
        it, the same parts for a reader when each path is a child's name (else None: XPath reads it)."""
        parts: list[str] = []
        readable: list[TemplatePart] | None = []
        for match in _TEMPLATE_PART.finditer(text):
            piece, inner = match.group(0), match.group(1)
            if piece in ("{{", "}}"):
                parts.append(_literal(piece[0]))
                part: TemplatePart | None = ("", piece[0])
            elif inner is not None:
                inner = inner.strip()
                if _VARIABLE.fullmatch(inner):
                    parts.append(inner)
                    part = ("$", inner[1:])
                else:
                    path = self._path(inner, at)
                    parts.append(f"string({path})")
                    name = self._name_test(path)
                    part = ("child", name[1]) if name is not None and not name[0] else None
            elif piece in ("{", "}"):
                self.issue(at, f"template {text!r}: unmatched {piece!r} (write {piece * 2} for a brace)")
                part = None
            else:
                parts.append(_literal(piece))
                part = ("", piece)
            if readable is not None:
                readable = None if part is None else [*readable, part]
        expression = f"concat({', '.join(parts)}, '')" if len(parts) != 1 else f"string({parts[0]})"
        return expression, readable


_PROBE: Final = etree.Element("probe")


def _texts(*values: object) -> Iterator[str]:
    """Every text in a mapping's settings and code lists (keys and values, however nested)."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            yield from _texts(*value.keys(), *value.values())
        elif isinstance(value, list | tuple):
            yield from _texts(*value)


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
