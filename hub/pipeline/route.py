"""Routing: decide which adapters receive a message, from the rules in ``config/routes.yaml``.

Rules are tried in order and the first match decides, as in a firewall: the order in the file is
the order of precedence, which is easy to explain to an operator and to audit. A message no rule
matches is *unroutable*: it is stored and shown, never dropped, and can be re-routed later.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from lxml import etree

from lienthong.config.models import RouteMatch, RouteRule, RoutesConfig
from lienthong.envelope import Envelope
from lienthong.jsonxml import is_json_content_type, json_to_tree
from lienthong.store import RouteDecision, RouteStatus
from lienthong.xml import parse_xml


def _patterns(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class CompiledRule:
    """A route rule with its patterns normalised and its XPath compiled once, at load time."""

    rule: RouteRule
    kinds: tuple[str, ...] | None
    procedure_codes: tuple[str, ...] | None
    document_types: tuple[str, ...] | None
    senders: tuple[str, ...] | None
    recipients: tuple[str, ...] | None
    xpath: etree.XPath | None

    @classmethod
    def compile(cls, rule: RouteRule) -> CompiledRule:
        m: RouteMatch = rule.match
        xpath = None
        if m.xpath is not None:
            # Raises etree.XPathSyntaxError, which the config check reports with the rule's line.
            xpath = etree.XPath(m.xpath, namespaces=m.namespaces or None)
        return cls(
            rule=rule,
            kinds=_patterns(m.kind),
            procedure_codes=_patterns(m.procedure_code),
            document_types=_patterns(m.document_type),
            senders=_patterns(m.sender),
            recipients=_patterns(m.recipient),
            xpath=xpath,
        )

    def matches(self, envelope: Envelope, tree: etree._Element | None) -> bool:
        fields = (
            (self.kinds, envelope.kind.value),
            (self.procedure_codes, envelope.procedure_code),
            (self.document_types, envelope.document_type),
            (self.senders, envelope.sender),
            (self.recipients, envelope.recipient),
        )
        for patterns, value in fields:
            if patterns is not None and (value is None or not any(fnmatchcase(value, p) for p in patterns)):
                return False
        if self.xpath is not None:
            if tree is None:
                return False
            return bool(self.xpath(tree))
        return True


class Router:
    def __init__(self, routes: RoutesConfig) -> None:
        self.rules = [CompiledRule.compile(rule) for rule in routes.routes]
        self._needs_tree = any(r.xpath is not None for r in self.rules)

    def decide(self, envelope: Envelope, tree: etree._Element | None = None) -> RouteDecision:
        """Pick the first matching rule. ``tree`` is the parsed payload, if the caller has it already."""
        if tree is None and self._needs_tree:
            if envelope.is_xml:
                tree = parse_xml(envelope.payload)
            elif is_json_content_type(envelope.content_type):
                tree = json_to_tree(envelope.payload)
        for compiled in self.rules:
            if compiled.matches(envelope, tree):
                rule = compiled.rule
                return RouteDecision(
                    status=RouteStatus.ROUTED,
                    rule=rule.name,
                    targets=tuple(dict.fromkeys(rule.targets)),
                    reason=f"matched rule '{rule.name}'",
                )
        return RouteDecision(
            status=RouteStatus.UNROUTABLE,
            rule=None,
            targets=(),
            reason=(
                f"no rule matched kind={envelope.kind.value} procedure={envelope.procedure_code} "
                f"document_type={envelope.document_type} sender={envelope.sender} "
                f"recipient={envelope.recipient}"
            ),
        )
