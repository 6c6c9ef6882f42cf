"""JSON Schema validation, the JSON twin of ``XsdValidator``: what a JSON ministry accepts, checked
before the hub stores or sends anything, and what it answers, checked before the hub records it.

jsonschema_rs (Rust) does the work: the schema is compiled once, at startup, and a refusal lists every
violation (up to a bound) as the XSD validator does, with the same error type, so REST answers and the
attempt history show JSON and XML violations alike: ``path`` is the JSON Pointer of the offending value
(``/data/0/NgayTiepNhan``), ``rule`` the pointer of the schema keyword it broke
(``#/properties/data/items/properties/NgayTiepNhan/pattern``). JSON has no lines worth giving here:
the hub writes compact JSON on one line.

Like the WSDL loader, ``$ref`` follows local files only, inside the ``schemas/`` tree the schema lives
in; nothing is ever fetched over the network. ``format`` is asserted, not only annotated: a schema
that says ``"format": "date"`` is taken at its word.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Final

import jsonschema_rs
from lxml import etree

from lienthong.errors import InvalidMessageError, SchemaValidationError, SchemaViolation
from lienthong.jsonxml import is_json_tree, loads, tree_to_value

__all__ = ["JsonSchemaValidator"]

#: Violations listed in one refusal: enough to fix a message, bounded against a flood.
MAX_VIOLATIONS: Final = 20


def _pointer(parts: list[str | int], *, prefix: str = "") -> str:
    """RFC 6901: ``~`` and ``/`` escaped in each reference token."""
    return prefix + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _schemas_root(path: Path) -> Path:
    """What a schema may ``$ref``: the ``schemas/`` tree it lives in, else its own directory."""
    resolved = path.resolve()
    return next((p for p in resolved.parents if p.name == "schemas"), resolved.parent)


def _read_schema(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class _LocalRetriever:
    """jsonschema_rs asks it for every ``$ref`` outside the schema file: local files in the tree only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, uri: str) -> Any:
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ValueError(f"{uri} is not a local file: a schema may $ref only files under {self.root}")
        path = Path(urllib.request.url2pathname(parts.path)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{uri} is outside {self.root}; a schema may $ref only files in that tree")
        return _read_schema(path)


class JsonSchemaValidator:
    """One compiled ``*.schema.json``. The compiled validator is immutable and safe to share between
    worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            schema = _read_schema(path)
            self._validator = jsonschema_rs.validator_for(
                schema,
                base_uri=path.resolve().as_uri(),
                retriever=_LocalRetriever(_schemas_root(path)),
                validate_formats=True,
            )
        except (OSError, ValueError) as exc:  # jsonschema_rs' errors are ValueErrors
            message = str(exc).split("\n", 1)[0]
            raise SchemaValidationError(
                f"schema {path} cannot be loaded: {message}", [SchemaViolation(None, None, None, message)]
            ) from exc

    def validate(self, value: Any, /, *, what: str = "payload", source: bytes | None = None) -> None:
        """Raise SchemaValidationError listing the violations (JSON Pointer path, keyword as rule).

        ``value`` is JSON bytes, a tree in the W3C JSON vocabulary (a mapping's output) or a Python
        value as :func:`lienthong.jsonxml.loads` returns it. Bytes that are not JSON, or a tree outside
        the vocabulary, raise InvalidMessageError / TranslationError naming ``what``. ``source`` (the
        bytes a tree came from) is accepted for the XSD validator's signature; JSON paths need none."""
        if isinstance(value, bytes | bytearray):
            value = loads(bytes(value), what=what)
        elif isinstance(value, etree._Element):
            if not is_json_tree(value):
                raise InvalidMessageError(
                    f"{what} is XML ({value.tag}), but {self.path.name} is a JSON Schema"
                )
            value = tree_to_value(value)
        if self._validator.is_valid(value):  # most values: no iterator, no error objects
            return
        violations: list[SchemaViolation] = []
        for error in self._validator.iter_errors(value):
            violations.append(
                SchemaViolation(
                    line=None,
                    column=None,
                    path=_pointer(error.instance_path),
                    message=error.message,
                    rule=_pointer(error.schema_path, prefix="#"),
                )
            )
            if len(violations) >= MAX_VIOLATIONS:
                break
        if not violations:
            return
        first = violations[0]
        where = f" at {first.path}" if first.path else ""
        raise SchemaValidationError(
            f"{what} does not conform to {self.path.name}: {first.message}{where}", violations
        )
