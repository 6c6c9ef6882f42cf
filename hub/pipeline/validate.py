"""Schema validation at the trust boundary.

lxml's libxml2 validator does the work on the hot path: compiled once per schema, it validates a
few-kilobyte document in 25–35 µs, 16–18 times faster than xmlschema's pure-Python validator
(bench/validate.py measures the ratio; docs/benchmarks.md has the numbers). Its error log still gives
line, column, the element's path and the broken rule, which is what a sender needs to fix a message.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, cast

from lxml import etree

from lienthong.errors import SchemaValidationError, SchemaViolation

_log = logging.getLogger("lienthong.validate")  # operators configure it by this name: it stays put
_XSD_PREFIX: Final = "{http://www.w3.org/2001/XMLSchema}"


def _schema_parser() -> etree.XMLParser:
    # Schemas ship with the project; imports resolve relative to the file and never over the network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class XsdValidator:
    """One compiled XSD. lxml's XMLSchema must not be shared between threads: each thread gets its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.explainer = SchemaExplainer(path)
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

    def validate(self, root: etree._Element, *, what: str = "payload", source: bytes | None = None) -> None:
        """Raise SchemaValidationError listing every violation with line, column, path and rule.

        ``source`` (the bytes ``root`` was parsed from) lets a column be given where libxml2 gives none.
        Explaining happens only on refusal, so valid documents pay for libxml2 alone.
        """
        schema = self._schema()
        if schema.validate(root):
            return
        found = [
            SchemaViolation(
                line=e.line or None,
                column=e.column or column_of(source, e.line, e.path),
                path=e.path,
                message=e.message,
            )
            for e in cast(Iterable[Any], schema.error_log)
        ]
        explanations = self.explainer.explain(root, found, size=len(source or b""))
        violations = [
            v if x is None else replace(v, rule=x.rule, reason=x.reason)
            for v, x in zip(found, explanations, strict=True)
        ]
        first = violations[0]
        raise SchemaValidationError(
            f"{what} does not conform to {self.path.name}: {first.message}"
            + (f" (line {first.line})" if first.line else ""),
            violations,
        )


def column_of(data: bytes | None, line: int | None, path: str | None) -> int | None:
    """Where on its line the element a schema error names starts: libxml2 gives no column for these.

    Found by the element's prefixed name (the first such start tag on the line) or, for an unnamed
    step (``*[3]``, default namespace), the line's first start tag; in characters from 1; for UTF-8
    (or ASCII-compatible) input only.
    """
    if not data or not line or not path:
        return None
    step = path.rsplit("/", 1)[-1].split("[", 1)[0]
    lines = data.split(b"\n", line)
    if len(lines) < line or not step or step.startswith("@"):
        return None
    text = lines[line - 1].decode("utf-8", errors="replace")
    if step == "*":
        found = re.search(r"<[^/!?]", text)
        return found.start() + 1 if found else None
    at = text.find("<" + step)
    return at + 1 if at >= 0 else None


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
            target = _resolve(element, violation.path)
            match = next((e for e in unused if target is not None and _about(e, target)), None)
            if match is None:
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


def _resolve(element: etree._Element, path: str | None) -> etree._Element | None:
    """The element libxml2's path names (``/*/*[7]``), when it can be followed without prefixes."""
    if not path or ":" in path:
        return None
    try:
        found = element.getroottree().xpath(path)
    except etree.XPathError:
        return None
    return found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else None


def _about(error: Any, target: etree._Element) -> bool:
    """Does an xmlschema error concern this element (or, for a content-model error, its parent)?"""
    elem = getattr(error, "elem", None)
    return elem is target or elem is target.getparent()


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
