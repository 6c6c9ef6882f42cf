"""Check a declarative mapping against the schemas around it, before any message flows.

A misspelt source path would otherwise read nothing (an optional field silently missing), and a
misspelt target field would fail every message at the output schema. So ``hub config check`` (and
the hub at start) walks the mapping beside the adapter's ``input_schema`` and ``schema``: every
simple source path (child steps ``p:Name``, ``.``, a last ``@attr``; dotted keys for JSON) must name
elements the input XSD (or JSON Schema) declares there, and every target field must be in the
content model of the element (or the properties of the JSON Schema object) it is written into.

What is not checked, said in docs/mappings.md: paths with predicates, functions, ``//``, ``*``,
``..`` or axes (and everything below a ``for_each`` over such a path), templates and ``xpath:``
values, content under an ``xs:any`` wildcard, and JSON Schema objects that allow other properties.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import xmlschema

from lienthong.config.files import KeyPath
from lienthong.errors import ConfigIssue
from lienthong.pipeline.yaml_mapping import Group, Value, YamlMapping

__all__ = ["check_mapping"]

_STEP: Final = re.compile(r"@?(?:[A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*|\.")
#: A schema node: an xmlschema element declaration or a JSON Schema object; None: not checkable.
Node = Any
_OPEN: Final = object()  # below a wildcard, or not checkable: anything goes


def check_mapping(
    mapping: YamlMapping, *, input_schema: Path | None, schema: Path | None
) -> list[ConfigIssue]:
    """Every source path and target field of ``mapping`` that its schemas do not declare."""
    checker = _Checker(mapping)
    if input_schema is not None:
        checker.check_source(input_schema)
    if schema is not None:
        checker.check_target(schema)
    return checker.issues


class _Checker:
    def __init__(self, mapping: YamlMapping) -> None:
        self.mapping = mapping
        self.issues: list[ConfigIssue] = []
        self.schema_name = ""

    def issue(self, at: KeyPath, message: str) -> None:
        self.issues.append(self.mapping.loaded.issue(at, message))

    # ------------------------------------------------------------ source

    def check_source(self, path: Path) -> None:
        self.schema_name = path.name
        mapping = self.mapping
        if mapping.json_source:
            if path.name.endswith(".json"):
                root = _JsonSchema(path)
                self.source_fields(mapping.fields, _JsonNode(root, root.document), root)
            return
        if path.suffix != ".xsd":
            return
        xsd = _xsd(path)
        root = self.global_element(xsd, mapping.source_root, ("source", "root"))
        if root is None:
            return
        self.source_fields(mapping.fields, root, xsd)

    def global_element(self, xsd: Any, name: str, at: KeyPath) -> Node:
        elements = xsd.maps.elements
        if not name:
            own = [e for e in elements.values() if e.target_namespace == xsd.target_namespace]
            return own[0] if len(own) == 1 else None  # which root? say source.root to have it checked
        if name not in elements:
            known = ", ".join(sorted(_short(n) for n in elements if not n.startswith("{http://www.w3")))
            self.issue(at, f"{_short(name)} is not an element of {self.schema_name} (it declares {known})")
            return None
        return elements[name]

    def source_fields(self, fields: Iterable[Value | Group], context: Node, root: Any) -> None:
        for node in fields:
            if isinstance(node, Value):
                if node.source_path is not None:
                    self.source_path(node.source_path, context, root, (*node.at, "path"))
                continue
            inner = context
            if node.for_each is not None and node.source_path is not None:
                inner = self.source_path(node.source_path, context, root, (*node.at, "for_each"))
            if inner is not None and node.item is not None and node.item.source_path is not None:
                self.source_path(node.item.source_path, inner, root, (*node.at, "value"))
            if inner is not None:
                self.source_fields(node.fields, inner, root)

    def source_path(self, text: str, context: Node, root: Any, at: KeyPath) -> Node:
        """The declaration ``text`` leads to from ``context``; None when it cannot be followed."""
        if self.mapping.json_source:
            return self.json_source_path(text, context, at)
        absolute = text.startswith("/")
        steps = text[1:].split("/") if absolute else text.split("/")
        if not all(_STEP.fullmatch(s) for s in steps):
            return None  # not a simple child path: not checked
        node = context
        if absolute:
            first = self.mapping_name(steps[0])
            if first is None:
                return None
            if first not in root.maps.elements:
                self.issue(at, f"unknown source path {text!r}: {steps[0]} is not a root element")
                return None
            node, steps = root.maps.elements[first], steps[1:]
        for step in steps:
            if step == ".":
                continue
            if node is _OPEN:
                return _OPEN
            name = self.mapping_name(step.lstrip("@"))
            if name is None:
                return None
            if step.startswith("@"):
                if not _has_attribute(node, name):
                    self.issue(
                        at, f"unknown source path {text!r}: {_short(node.name)} has no attribute {step}"
                    )
                return None
            found = _child(node, name)
            if found is None:
                self.unknown(at, f"unknown source path {text!r}", node, step, _children(node))
                return None
            node = found
        return node

    def mapping_name(self, step: str) -> str | None:
        """A step's name in Clark notation; unprefixed is no namespace, as in XPath 1.0."""
        prefix, _, local = step.rpartition(":")
        if not prefix:
            return local
        if prefix not in self.mapping.source_ns:
            return None  # reported when the XPath was compiled
        return f"{{{self.mapping.source_ns[prefix]}}}{local}"

    def json_source_path(self, text: str, context: Node, at: KeyPath) -> Node:
        node = context
        for part in text.split("."):
            if part in ("$", "$[]"):
                node = node.at_root()
                node = node.items() if part == "$[]" else node
                continue
            key, each = (part[:-2], True) if part.endswith("[]") else (part, False)
            found = node.property(key)
            if found is None:
                self.unknown(at, f"unknown source path {text!r}", node, key, node.names())
                return None
            node = found.items() if each else found
        return node

    # ------------------------------------------------------------ target

    def check_target(self, path: Path) -> None:
        self.schema_name = path.name
        mapping = self.mapping
        if mapping.json_target:
            if path.name.endswith(".json"):
                root = _JsonSchema(path)
                self.target_fields(mapping.fields, _JsonNode(root, root.document))
            return
        if path.suffix != ".xsd":
            return
        xsd = _xsd(path)
        root = self.global_element(xsd, mapping.root_name, ("target", "root"))
        if root is not None:
            self.target_fields(mapping.fields, root)

    def target_fields(self, fields: Iterable[Value | Group], parent: Node) -> None:
        for node in fields:
            if parent is _OPEN:
                return
            if self.mapping.json_target:
                found = parent.property(node.name)
                if found is None:
                    self.unknown(node.at, "unknown target field", parent, node.name, parent.names())
                    continue
                if isinstance(node, Group):
                    inner = found.items() if node.for_each is not None else found
                    self.target_fields(node.fields, inner)
                continue
            if isinstance(node, Value) and node.attribute:
                if not _has_attribute(parent, node.name):
                    self.issue(
                        node.at,
                        f"unknown target field: {_short(parent.name)} has no attribute "
                        f"{_short(node.name)} in {self.schema_name}",
                    )
                continue
            child = _child(parent, node.name)
            if child is None:
                self.unknown(node.at, "unknown target field", parent, _short(node.name), _children(parent))
            elif isinstance(node, Group):
                self.target_fields(node.fields, child)

    def unknown(self, at: KeyPath, what: str, parent: Node, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name.rpartition(":")[2], known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        where = _short(parent.name) if hasattr(parent, "name") else parent.label
        allowed = ", ".join(known) or "nothing"
        self.issue(
            at, f"{what}: {name} is not declared in {where} in {self.schema_name}{hint}; it has: {allowed}"
        )


# ---------------------------------------------------------------- XSD


def _xsd(path: Path) -> Any:
    # Local files only, under the schema's own folder; nothing is fetched.
    return xmlschema.XMLSchema(str(path.resolve()), allow="sandbox", defuse="always")


def _short(name: str) -> str:
    return name.rpartition("}")[2] if name else name


def _content(decl: Any) -> Iterable[Any]:
    content = getattr(decl.type, "content", None)
    return content.iter_elements() if content is not None and hasattr(content, "iter_elements") else ()


def _child(decl: Any, name: str) -> Node:
    if decl is _OPEN:
        return _OPEN
    for child in _content(decl):
        if getattr(child, "name", None) == name:
            return child
        if child.name is None and child.is_matching(name):  # xs:any
            return _OPEN
    return None


def _children(decl: Any) -> list[str]:
    return [_short(c.name) for c in _content(decl) if c.name is not None]


def _has_attribute(decl: Any, name: str) -> bool:
    if decl is _OPEN:
        return True
    attributes = decl.attributes
    if name in attributes or _short(name) in attributes:
        return True
    return any(key is None for key in attributes)  # xs:anyAttribute


# ---------------------------------------------------------------- JSON Schema


class _JsonSchema:
    """A JSON Schema document, read for its properties only (``$ref`` within the file)."""

    def __init__(self, path: Path) -> None:
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))

    def resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
            target: Any = self.document
            for part in node["$ref"][1:].split("/")[1:]:
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            node, seen = target, seen + 1
            if seen > 32:
                return {}
        return node if isinstance(node, dict) else {}


class _JsonNode:
    """One place in a JSON Schema: an object's properties, or nothing checkable."""

    def __init__(self, schema: _JsonSchema, node: Any, label: str = "the top-level object") -> None:
        self.schema = schema
        self.node = schema.resolve(node)
        self.label = label

    def _parts(self) -> list[dict[str, Any]]:
        parts = [self.node]
        for key in ("allOf", "anyOf", "oneOf"):
            parts += [self.schema.resolve(p) for p in self.node.get(key, [])]
        return parts

    def names(self) -> list[str]:
        return sorted({name for part in self._parts() for name in part.get("properties", {})})

    def property(self, key: str) -> Any:
        parts = self._parts()
        for part in parts:
            if key in part.get("properties", {}):
                return _JsonNode(self.schema, part["properties"][key], f"property {key!r}")
        closed = any("properties" in p for p in parts)
        open_ = any(
            p.get("additionalProperties") not in (None, False) or "patternProperties" in p for p in parts
        )
        return None if closed and not open_ else _OpenJson()

    def items(self) -> Any:
        items = self.node.get("items")
        return (
            _JsonNode(self.schema, items, self.label + " items") if isinstance(items, dict) else _OpenJson()
        )

    def at_root(self) -> _JsonNode:
        return _JsonNode(self.schema, self.schema.document)


class _OpenJson:
    """A place in a JSON Schema that says nothing about its properties: anything is accepted."""

    label = "an open object"

    def names(self) -> list[str]:
        return []

    def property(self, key: str) -> _OpenJson:
        return self

    def items(self) -> _OpenJson:
        return self

    def at_root(self) -> _OpenJson:
        return self
