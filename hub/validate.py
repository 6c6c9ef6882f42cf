"""Schema validation at the trust boundary.

lxml's libxml2 validator does the work on the hot path: compiled once per schema, it validates a
few-kilobyte document in 25–35 µs, 16–18 times faster than xmlschema's pure-Python validator
(bench/validate.py measures the ratio; docs/benchmarks.md has the numbers). Its error log still gives
line, column, the element's path and the broken rule, which is what a sender needs to fix a message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from lxml import etree

from .errors import SchemaValidationError, SchemaViolation

_log = logging.getLogger(__name__)
_XSD_PREFIX: Final = "{http://www.w3.org/2001/XMLSchema}"


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


# ---------------------------------------------------------------- explaining a refusal


@dataclass(frozen=True)
class Explanation:
    """What xmlschema adds to one libxml2 violation: the rule broken and a plainer reason."""

    rule: str | None
    reason: str | None


class SchemaExplainer:
    """A second opinion on an *invalid* document, from xmlschema, for the sender's benefit.

    Why both validators: libxml2 (``XsdValidator``) decides, on every message, fast. But its messages
    name the rule only inside prose ("[facet 'enumeration'] The value '11' is not an element of the
    set …") and report a content-model error at the unexpected child without saying which model was
    broken. xmlschema knows the schema component that failed, so the sender is told the rule by name
    ("xs:enumeration of TrangThaiHoSoType", "xs:sequence of CapNhatTrangThaiHoSoType") and gets its
    plainer reason ("Unexpected child with tag 'dd:Bogus' at position 5").

    It runs only after libxml2 has refused a document, never on the hot path: xmlschema is pure
    Python and 16–18 times slower. To keep a flood of invalid messages from becoming a
    CPU sink it looks at most ``max_errors`` errors and skips documents over ``max_bytes``; the
    schema is compiled on first use. Explanations are matched to libxml2's violations by source line,
    then by the parent element's path (content-model errors). Whatever goes wrong here, the refusal
    stands with libxml2's own report.
    """

    def __init__(self, path: Path, *, max_errors: int = 20, max_bytes: int = 1024 * 1024) -> None:
        self.path = path
        self.max_errors = max_errors
        self.max_bytes = max_bytes
        self._schema: Any = None
        self._lock = threading.Lock()

    def _compiled(self) -> Any:
        with self._lock:
            if self._schema is None:
                import xmlschema  # only needed once something was refused

                # Local files only, never the network; no DTDs in what it reads.
                self._schema = xmlschema.XMLSchema10(str(self.path.resolve()), allow="local", defuse="always")
            return self._schema

    def explain(
        self, element: etree._Element, violations: Sequence[SchemaViolation], *, size: int
    ) -> list[Explanation | None]:
        """One explanation (or None) per violation, in order."""
        if size > self.max_bytes or not violations:
            return [None] * len(violations)
        try:
            errors = []
            for error in self._compiled().iter_errors(element):
                errors.append(error)
                if len(errors) >= self.max_errors:
                    break
        except Exception:  # a second opinion must never turn a refusal into a crash
            _log.warning("xmlschema could not explain a refusal against %s", self.path.name, exc_info=True)
            return [None] * len(violations)
        unused = list(errors)
        out: list[Explanation | None] = []
        for violation in violations:
            match = next((e for e in unused if violation.line and e.sourceline == violation.line), None)
            if match is None and violation.path:
                parent = violation.path.rsplit("/", 1)[0]
                match = next((e for e in unused if e.path == parent), None)
            if match is None:
                out.append(None)
                continue
            unused.remove(match)
            out.append(Explanation(rule=_rule(match.validator), reason=match.reason))
        return out


def _rule(validator: Any) -> str | None:
    """``xs:<component> of <type>`` for the schema component that refused, when it can be named."""
    elem = getattr(validator, "elem", None)
    tag = getattr(elem, "tag", None)
    if not isinstance(tag, str) or not tag.startswith(_XSD_PREFIX):
        return None
    rule = "xs:" + tag[len(_XSD_PREFIX) :]
    owner = getattr(validator, "parent", None) or validator
    while owner is not None and getattr(owner, "name", None) is None:
        owner = getattr(owner, "parent", None)
    name = getattr(owner, "local_name", None) if owner is not None else None
    return f"{rule} of {name}" if name else rule
