"""The inbound SOAP services, compiled once from the adapters' ``inbound`` sections.

For each adapter that has one: its operations (body element, action, compiled metadata XPaths), the
body XSD and the hub header XSD (compiled, see ``validate.py``), and the WSDL it publishes together
with the schemas the WSDL imports, transitively. Nothing here touches HTTP; ``soap_gateway.py`` does.

Checked at start, each problem pointing at the adapter's YAML line: the WSDL and every schema it
imports must be files in the ``schemas/`` tree the WSDL lives in (or, outside one, in the WSDL's
directory), referenced by relative paths, so
``?xsd=<name>`` can only ever serve those (no path traversal: names are looked up, never joined to
a path); the WSDL must offer exactly the configured operations, with the same body elements and
actions, and import the hub header schema; XPaths must compile.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from lxml import etree

from lienthong.config.files import issue_at
from lienthong.config.models import AdapterConfig, Configuration, InboundConfig
from lienthong.envelope import MessageKind
from lienthong.errors import (
    ConfigError,
    ConfigIssue,
    InvalidMessageError,
    SchemaValidationError,
    SoapHeaderError,
    UnknownOperationError,
    XmlRefusedError,
)
from lienthong.pipeline.validate import XsdValidator
from lienthong.xml import HUB_NS, parse_trusted_file, qname

_XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"
_WSDL_NS: Final = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP11: Final = "http://schemas.xmlsoap.org/wsdl/soap/"
_WSDL_SOAP12: Final = "http://schemas.xmlsoap.org/wsdl/soap12/"
_SCHEMA_REFS: Final = tuple(qname(_XSD_NS, n) for n in ("import", "include", "redefine"))
_ADDRESSES: Final = (qname(_WSDL_SOAP11, "address"), qname(_WSDL_SOAP12, "address"))
#: Hub header blocks a request may carry (``requestHash`` belongs to answers and is ignored).
REQUEST_BLOCKS: Final = ("messageId", "correlationId", "causationId", "client", "service")
#: Column sizes of the metadata extracted with XPaths (see store/schema.py).
FIELD_LIMITS: Final = {"dossier_code": 64, "procedure_code": 64, "document_id": 256, "document_type": 64}


@dataclass(frozen=True)
class InboundOperation:
    name: str
    kind: MessageKind
    element: str  # Clark name of the body element
    action: str | None
    xpaths: dict[str, etree.XPath]
    recipient: str | None

    def metadata(self, entry: etree._Element) -> dict[str, str | None]:
        """The envelope fields the XPaths give, evaluated with the body element as context node."""
        out: dict[str, str | None] = {}
        for name, xpath in self.xpaths.items():
            value = _string_value(xpath(entry))
            if value is not None and len(value) > FIELD_LIMITS[name]:
                raise InvalidMessageError(f"{name} {value[:40]!r}… is longer than {FIELD_LIMITS[name]}")
            out[name] = value
        return out


@dataclass(frozen=True)
class PublishedWsdl:
    """The WSDL and the schemas it imports, as served: ``schemaLocation`` values are schema names."""

    wsdl: etree._ElementTree
    schemas: dict[str, etree._ElementTree]
    files: dict[str, Path]

    def render(self, endpoint: str, schema: str | None = None) -> bytes | None:
        """The WSDL (or the named schema) for clients of ``endpoint``; None for an unknown name."""
        tree = self.wsdl if schema is None else self.schemas.get(schema)
        if tree is None:
            return None
        out = copy.deepcopy(tree)
        for el in out.iter(*_SCHEMA_REFS):
            if (location := el.get("schemaLocation")) is not None:
                el.set("schemaLocation", f"{endpoint}?xsd={quote(location, safe='/')}")
        for el in out.iter(*_ADDRESSES):
            el.set("location", endpoint)
        return etree.tostring(out, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class InboundService:
    """One adapter's inbound endpoint, compiled."""

    adapter: str
    agency: str
    validator: XsdValidator
    header_validator: XsdValidator
    operations: dict[str, InboundOperation]
    by_element: dict[str, InboundOperation]
    by_action: dict[str, InboundOperation]
    published: PublishedWsdl

    def dispatch(self, action: str | None, entry: etree._Element) -> InboundOperation:
        """The operation a request calls: by its action and by its body element, which must agree."""
        by_action = self.by_action.get(action) if action else None
        if action and by_action is None:
            raise UnknownOperationError(f"no operation has the action {action!r}")
        by_element = self.by_element.get(entry.tag)
        if by_element is None:
            raise UnknownOperationError(f"no operation takes a body element {entry.tag}")
        if by_action is not None and by_action is not by_element:
            raise UnknownOperationError(
                f"the action {action!r} names {by_action.name}, but the body holds {entry.tag}, "
                f"the element of {by_element.name}",
            )
        return by_element

    def hub_header(self, header: etree._Element | None) -> HubHeaderIn:
        """The hub header blocks of a request, each valid against the hub schema; messageId required."""
        blocks: dict[str, str] = {}
        for el in header if header is not None else ():
            if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{HUB_NS}}}"):
                continue
            local = etree.QName(el).localname
            if local in blocks:
                raise SoapHeaderError(f"lt:{local} appears twice")
            try:
                self.header_validator.validate(el, what=f"header block lt:{local}")
            except SchemaValidationError as exc:
                raise SoapHeaderError(exc.message, violations=exc.violations) from exc
            if local in REQUEST_BLOCKS:
                blocks[local] = el.text or ""
        if "messageId" not in blocks:
            raise SoapHeaderError(
                f"the SOAP Header must carry lt:messageId ({{{HUB_NS}}}messageId): your id for this message",
            )
        return HubHeaderIn(
            message_id=blocks["messageId"],
            correlation_id=_uuid(blocks.get("correlationId")),
            causation_id=_uuid(blocks.get("causationId")),
            client=blocks.get("client"),
            service=blocks.get("service"),
        )

    def check_header_blocks(self, header: etree._Element | None) -> None:
        """Refuse a SOAP Header that carries elements of the service's body vocabulary.

        The hub acts only on the signed body element; a status element (or any element in the
        namespace of an operation's body element) in the Header is outside every signature, and can
        only be a sender's mistake or a signature-wrapping attempt. Other foreign blocks (WS-Addressing,
        timestamps) are set apart by the gateway, not refused.
        """
        if header is None:
            return
        vocabulary = {etree.QName(op.element).namespace for op in self.operations.values()}
        for el in header.iter():
            if isinstance(el.tag, str) and etree.QName(el).namespace in vocabulary:
                raise SoapHeaderError(
                    f"the SOAP Header carries {el.tag}, an element of this service's body: the hub acts "
                    "only on the (signed) body element, so business data in the Header is refused "
                    "(possible signature wrapping)",
                )

    def check_binding(self, header: HubHeaderIn, op: InboundOperation, province: str) -> None:
        """``lt:client`` and ``lt:service``, when sent, must name what this request really is."""
        if header.client is not None and header.client != self.agency:
            raise SoapHeaderError(
                f"lt:client says {header.client!r}, but this endpoint is for {self.agency}",
            )
        expected = f"{province}/{self.adapter}/{op.name}"
        if header.service is not None and header.service != expected:
            raise SoapHeaderError(
                f"lt:service says {header.service!r}, but this request is {expected}",
            )


@dataclass(frozen=True)
class HubHeaderIn:
    """The hub header of a request: the sender's message id, and what else it chose to send."""

    message_id: str
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    client: str | None
    service: str | None


def compile_inbound(config: Configuration) -> dict[str, InboundService]:
    """Every adapter's inbound service; one ConfigError lists all problems found."""
    issues: list[ConfigIssue] = []
    cache: dict[Path, XsdValidator] = {}
    services: dict[str, InboundService] = {}
    for name, adapter in config.adapters.items():
        if adapter.inbound is None:
            continue
        try:
            services[name] = _compile_service(config, adapter, adapter.inbound, cache)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return services


# ---------------------------------------------------------------- compiling


class _Issues:
    """Problems of one adapter file, each pointing at its YAML line."""

    def __init__(self, config: Configuration, adapter: str) -> None:
        self.config = config
        self.file = f"{config.config_dir.name}/adapters/{adapter}.yaml"
        self.found: list[ConfigIssue] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        key = ".".join(str(p) for p in path)
        self.found.append(issue_at(self.config, self.file, path, key, message))


def _compile_service(
    config: Configuration, adapter: AdapterConfig, inbound: InboundConfig, cache: dict[Path, XsdValidator]
) -> InboundService:
    issues = _Issues(config, adapter.name)

    def validator(path: Path, key: tuple[str, ...]) -> XsdValidator | None:
        if path not in cache:
            try:
                cache[path] = XsdValidator(path)
            except SchemaValidationError as exc:
                issues.add(key, exc.message)
                return None
        return cache[path]

    operations = _compile_operations(inbound, issues)
    by_element = _index(operations, lambda op: op.element, "body element", issues)
    by_action = _index(operations, lambda op: op.action, "soap_action", issues)
    wsdl_path = config.resolve(inbound.wsdl).resolve()
    # What the WSDL may import, and ?xsd= may serve: the schemas/ tree it lives in, or its directory.
    root = next((p for p in wsdl_path.parents if p.name == "schemas"), wsdl_path.parent)
    published = _publish(wsdl_path, root, issues)
    body_validator = validator(config.resolve(inbound.schema_).resolve(), ("inbound", "schema"))
    header_validator = None
    if published is not None:
        _check_wsdl(published, operations, set(inbound.operations), issues)
        hub_schema = next(
            (
                published.files[n]
                for n, t in published.schemas.items()
                if t.getroot().get("targetNamespace") == HUB_NS
            ),
            None,
        )
        if hub_schema is None:
            issues.add(("inbound", "wsdl"), f"the WSDL must import the hub header schema ({HUB_NS})")
        else:
            header_validator = validator(hub_schema, ("inbound", "wsdl"))
    if issues.found or published is None or body_validator is None or header_validator is None:
        raise ConfigError(issues.found)
    return InboundService(
        adapter=adapter.name,
        agency=adapter.agency,
        validator=body_validator,
        header_validator=header_validator,
        operations=operations,
        by_element=by_element,
        by_action=by_action,
        published=published,
    )


def _compile_operations(inbound: InboundConfig, issues: _Issues) -> dict[str, InboundOperation]:
    operations: dict[str, InboundOperation] = {}
    for name, op in inbound.operations.items():
        where = ("inbound", "operations", name)
        # prefix:name, or a bare name for an element in no namespace (tax notices are DATA/BODY/ROW_LIST).
        prefix, sep, local = op.element.rpartition(":")
        if sep and (not prefix or prefix not in inbound.namespaces):
            issues.add(
                (*where, "element"),
                f"'{op.element}' needs a prefix declared under inbound.namespaces (or none, for an "
                "element in no namespace)",
            )
            continue
        xpaths: dict[str, etree.XPath] = {}
        for field_name in FIELD_LIMITS:
            if (expression := getattr(op, field_name)) is None:
                continue
            try:
                xpaths[field_name] = etree.XPath(expression, namespaces=inbound.namespaces or None)
            except etree.XPathSyntaxError as exc:
                issues.add((*where, field_name), f"invalid XPath {expression!r}: {exc}")
        operations[name] = InboundOperation(
            name=name,
            kind=MessageKind(op.kind),
            element=qname(inbound.namespaces[prefix], local) if prefix else local,
            action=op.soap_action,
            xpaths=xpaths,
            recipient=op.recipient,
        )
    return operations


def _index(
    operations: Mapping[str, InboundOperation],
    key: Callable[[InboundOperation], str | None],
    what: str,
    issues: _Issues,
) -> dict[str, InboundOperation]:
    index: dict[str, InboundOperation] = {}
    for op in operations.values():
        if (value := key(op)) is None:
            continue
        if value in index:
            issues.add(("inbound", "operations", op.name), f"'{index[value].name}' has the same {what}")
        index[value] = op
    return index


def _publish(wsdl_path: Path, root: Path, issues: _Issues) -> PublishedWsdl | None:
    """Load the WSDL and, transitively, the schemas it references; only files under ``root``."""
    try:
        wsdl = parse_trusted_file(str(wsdl_path))
    except (OSError, XmlRefusedError) as exc:
        issues.add(("inbound", "wsdl"), f"cannot read the WSDL {wsdl_path}: {exc}")
        return None
    if wsdl.getroot().tag != qname(_WSDL_NS, "definitions"):
        issues.add(("inbound", "wsdl"), f"{wsdl_path} is not a WSDL 1.1 document")
        return None
    if wsdl.getroot().find(qname(_WSDL_NS, "import")) is not None:
        issues.add(("inbound", "wsdl"), "wsdl:import is not supported: keep the WSDL in one file")
    schemas: dict[str, etree._ElementTree] = {}
    files: dict[str, Path] = {}

    def localise(tree: etree._ElementTree, base: Path) -> None:
        for el in tree.iter(*_SCHEMA_REFS):
            if not (location := el.get("schemaLocation")):
                continue
            target = (base / location).resolve()
            if "://" in location or location.startswith("/") or not target.is_relative_to(root):
                issues.add(
                    ("inbound", "wsdl"),
                    f"{location!r} (in {base}) must be a relative path to a file under {root}",
                )
                continue
            name = target.relative_to(root).as_posix()
            el.set("schemaLocation", name)
            if name in files:
                continue
            files[name] = target
            try:
                schemas[name] = parse_trusted_file(str(target))
            except (OSError, XmlRefusedError) as exc:
                issues.add(("inbound", "wsdl"), f"cannot read {target}, imported by the WSDL: {exc}")
                continue
            localise(schemas[name], target.parent)

    localise(wsdl, wsdl_path.parent)
    return PublishedWsdl(wsdl=wsdl, schemas=schemas, files=files)


def _qname_attr(el: etree._Element, attr: str) -> str | None:
    """The Clark name an attribute such as ``message="tns:X"`` refers to, using ``el``'s prefixes."""
    if (value := el.get(attr)) is None:
        return None
    prefix, _, local = value.rpartition(":")
    ns = el.nsmap.get(prefix or None)
    return qname(ns, local) if ns else local


def _check_wsdl(
    published: PublishedWsdl,
    operations: Mapping[str, InboundOperation],
    configured: set[str],
    issues: _Issues,
) -> None:
    """The WSDL offers exactly the configured operations, with the same actions and body elements.
    (``configured`` names them all; ``operations`` holds those that compiled.)"""
    root = published.wsdl.getroot()
    tns = root.get("targetNamespace", "")
    messages = {qname(tns, m.get("name", "")): m for m in root.iterfind(qname(_WSDL_NS, "message"))}
    declared: set[str] = set()
    for op in root.iterfind(f"{qname(_WSDL_NS, 'portType')}/{qname(_WSDL_NS, 'operation')}"):
        name = op.get("name", "")
        declared.add(name)
        if name not in configured:
            issues.add(("inbound", "operations"), f"the WSDL offers '{name}', which is not configured")
        if name not in operations:
            continue
        input_el = op.find(qname(_WSDL_NS, "input"))
        message = messages.get(_qname_attr(input_el, "message") or "") if input_el is not None else None
        parts = list(message.iterfind(qname(_WSDL_NS, "part"))) if message is not None else []
        elements = [_qname_attr(p, "element") for p in parts]
        if elements != [operations[name].element]:
            issues.add(
                ("inbound", "operations", name, "element"),
                f"the WSDL's input of '{name}' is {elements}, not [{operations[name].element}]",
            )
    for name in configured:
        if name not in declared:
            issues.add(("inbound", "operations", name), f"operation '{name}' is not in the WSDL")
    for binding in root.iterfind(qname(_WSDL_NS, "binding")):
        for op in binding.iterfind(qname(_WSDL_NS, "operation")):
            if (compiled := operations.get(op.get("name", ""))) is None:
                continue
            for soap_op in op:
                if soap_op.tag not in (qname(_WSDL_SOAP11, "operation"), qname(_WSDL_SOAP12, "operation")):
                    continue
                if (action := soap_op.get("soapAction") or None) != compiled.action:
                    issues.add(
                        ("inbound", "operations", compiled.name, "soap_action"),
                        f"binding {binding.get('name')} gives '{compiled.name}' the action {action!r}, "
                        f"the configuration {compiled.action!r}",
                    )


def _string_value(result: object) -> str | None:
    """An XPath result as one string: the first node's text for a node-set, the value otherwise."""
    if isinstance(result, list):
        if not result:
            return None
        result = result[0]
    if isinstance(result, etree._Element):
        value = "".join(str(t) for t in result.itertext())
    elif isinstance(result, bool):
        value = "true" if result else "false"
    elif isinstance(result, float):
        value = str(int(result)) if result.is_integer() else str(result)
    else:
        value = str(result)
    return value.strip() or None


def _uuid(text: str | None) -> uuid.UUID | None:
    return uuid.UUID(text) if text is not None else None
