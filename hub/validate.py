"""Schema validation at the trust boundary.

lxml's libxml2 validator does the work on the hot path: compiled once per schema, it validates a
few-kilobyte document in tens of microseconds, roughly two orders of magnitude faster than
xmlschema's pure-Python validator (bench/validate.py measures the ratio). Its error log still gives
line, column, the element's path and the broken rule, which is what a sender needs to fix a message.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lxml import etree

from .errors import SchemaValidationError, SchemaViolation


def _schema_parser() -> etree.XMLParser:
    # Schemas ship with the project; imports resolve relative to the file and never over the network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class XsdValidator:
    """One compiled XSD. lxml's XMLSchema must not be shared between threads: each thread gets its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._compile()  # fail at startup, not on the first message

    def _compile(self) -> etree.XMLSchema:
        try:
            schema = etree.XMLSchema(etree.parse(str(self.path), _schema_parser()))
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise SchemaValidationError(
                f"schema {self.path} cannot be loaded: {exc}", [SchemaViolation(None, None, None, str(exc))]
            ) from exc
        self._local.schema = schema
        return schema

    def _schema(self) -> etree.XMLSchema:
        schema: etree.XMLSchema | None = getattr(self._local, "schema", None)
        return schema if schema is not None else self._compile()

    def validate(self, root: etree._Element, *, what: str = "payload") -> None:
        schema = self._schema()
        if schema.validate(root):
            return
        violations = [
            SchemaViolation(line=e.line or None, column=e.column or None, path=e.path, message=e.message)
            for e in cast(Iterable[Any], schema.error_log)
        ]
        first = violations[0]
        raise SchemaValidationError(
            f"{what} does not conform to {self.path.name}: {first.message}"
            + (f" (line {first.line})" if first.line else ""),
            violations,
        )
