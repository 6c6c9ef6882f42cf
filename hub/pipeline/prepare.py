"""The intake stages every adapter's payload goes through, run by the hub in one fixed order.

validate(in) → translate → validate(out) → sign → serialise. A plugin supplies none of this order: it
names its schemas and mapping in YAML (or is given a :class:`~lienthong.pipeline.translate.Mapper`) and only
talks to its system at delivery. So signing is last for every adapter by construction, not by each
plugin remembering it: the output schema describes the document without its signature (a target's
schema may not allow ``ds:Signature`` at all), and nothing touches the bytes once they are signed.
What is stored is what is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from lxml import etree

from lienthong.config.files import issue_at
from lienthong.config.models import ACCEPTS_JSON, AdapterConfig, Configuration
from lienthong.edxml.read import read_edxml
from lienthong.edxml.write import check_outgoing, standard_form
from lienthong.envelope import Envelope
from lienthong.errors import (
    ConfigError,
    ConfigIssue,
    EdxmlError,
    HubError,
    InvalidMessageError,
    TranslationError,
)
from lienthong.jsonxml import (
    JSON_CONTENT_TYPE,
    dumps,
    is_json_content_type,
    is_json_tree,
    json_to_tree,
    tree_to_json,
)
from lienthong.pipeline.mapping_check import check_mapping
from lienthong.pipeline.translate import Mapper, load_mapper
from lienthong.pipeline.validate import XsdValidator
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.store import PreparedDelivery
from lienthong.trust.sign import Signer
from lienthong.xml import parse_xml, qname, serialize

__all__ = [
    "AdapterStages",
    "Preparation",
    "Stages",
    "build_preparations",
    "load_schema",
    "one_message",
    "payload_tree",
]

edxml_log = logging.getLogger("lienthong.edxml")


class SchemaValidator(Protocol):
    """An XSD or a JSON Schema, compiled; raises SchemaValidationError listing the violations."""

    def validate(self, root: etree._Element, /, *, what: str, source: bytes | None = None) -> None: ...


def load_schema(path: Path) -> SchemaValidator:
    """The validator for a schema file: a JSON Schema (``*.json``) for JSON documents, else an XSD."""
    if path.suffix.lower() == ".json":
        from lienthong.pipeline.json_schema import JsonSchemaValidator  # only adapters speaking JSON

        validator: SchemaValidator = JsonSchemaValidator(path)
        return validator
    return XsdValidator(path)


def payload_tree(envelope: Envelope) -> etree._Element | None:
    """The payload as a tree the hub can act on: XML parsed, JSON as its XML representation."""
    if envelope.is_xml:
        return parse_xml(envelope.payload)
    if is_json_content_type(envelope.content_type):
        return json_to_tree(envelope.payload)
    return None


#: Within :func:`one_message`: the input schemas that accepted a payload's tree, with that tree.
_ACCEPTED: ContextVar[list[tuple[SchemaValidator, etree._Element]] | None] = ContextVar(
    "lienthong_accepted_inputs", default=None
)


@contextmanager
def one_message() -> Iterator[None]:
    """The targets of one message are prepared inside: an input schema that accepted the payload's
    tree for one target is not asked again for the next (a land dossier goes to the land registry
    and to the national portal, both checking it against ``hoso.xsd``), since nothing between them
    changes the tree; a target that does change it (edXML put in standard form) forgets it.

    A tree is remembered only while intake lends it, never once it is handed over to the last
    target (see ``Intake._prepare``), so this keeps no tree alive longer than intake does."""
    token = _ACCEPTED.set([])
    try:
        yield
    finally:
        _ACCEPTED.reset(token)


def _forget(root: etree._Element) -> None:
    accepted = _ACCEPTED.get()
    if accepted:
        accepted[:] = [entry for entry in accepted if entry[1] is not root]


class Stages(Protocol):
    """What intake needs of a target: the exact bytes it will receive, for one message."""

    def prepare(
        self, envelope: Envelope, tree: etree._Element | None, *, handed_over: bool = False
    ) -> PreparedDelivery:
        """``handed_over``: the caller keeps no use for ``tree`` (intake's last target), so its large
        texts need not be put back once the bytes are written (see :func:`lienthong.xml.serialize`)."""
        ...


@dataclass(frozen=True)
class Preparation:
    """The stages for one adapter operation, compiled once; :meth:`prepare` runs them for one message."""

    target: str
    target_agency: str
    hub_agency: str
    input_schema: SchemaValidator | None = None
    mapper: Mapper | None = None
    output_schema: SchemaValidator | None = None
    #: Signs what the output schema accepted, as the adapter's signing policy says; None for ``none``.
    signer: Signer | None = None
    #: The adapter operation these stages feed (None: the adapter has no named operations).
    operation: str | None = None
    #: Clark names of the payload roots this operation takes (``json`` for JSON); empty: any.
    accepts: frozenset[str] = frozenset()
    when: etree.XPath | None = None
    #: ``edxml``: the payload is an edXML document the hub sends in its own name (docs/edxml.md).
    document: Literal["edxml"] | None = None
    #: Send the payload as received (its signature intact) instead of the tree acted on.
    as_received: bool = False

    @classmethod
    def from_config(
        cls,
        config: Configuration,
        adapter: AdapterConfig,
        *,
        signer: Signer | None = None,
        operation: str | None = None,
        schemas: dict[Path, SchemaValidator] | None = None,
    ) -> Preparation:
        """Compile the schemas and mapping of ``adapter`` (or of its ``operation``), resolved from the
        configuration's root. ``schemas`` holds those compiled already (an adapter's operations mostly
        share their schemas), and gains the ones compiled here.

        Raises HubError (SchemaValidationError, TranslationError) for a file that cannot be loaded."""
        compiled = {} if schemas is None else schemas

        def schema(path: Path | None) -> SchemaValidator | None:
            if path is None:
                return None
            resolved = config.resolve(path)
            if resolved not in compiled:
                compiled[resolved] = load_schema(resolved)
            return compiled[resolved]

        accepts: frozenset[str] = frozenset()
        when = None
        if operation is not None and adapter.operations:
            op = adapter.operations[operation]
            accepts = frozenset(_clark(e, adapter.namespaces) for e in op.accepts)
            if op.when is not None:
                try:
                    when = etree.XPath(op.when, namespaces=adapter.namespaces or None)
                except etree.XPathSyntaxError as exc:
                    raise TranslationError(
                        f"operation '{operation}': invalid XPath in 'when': {exc}"
                    ) from exc
        settings = adapter.operation_config(operation) if operation is not None else adapter
        return cls(
            target=adapter.name,
            target_agency=adapter.agency,
            hub_agency=config.hub.hub.agency,
            input_schema=schema(settings.input_schema),
            mapper=_mapper(config, settings.mapping, settings.input_schema, settings.schema_),
            output_schema=schema(settings.schema_),
            signer=signer,
            operation=operation,
            accepts=accepts,
            when=when,
            document=settings.document,
            as_received=settings.as_received,
        )

    def takes(self, root: etree._Element) -> bool:
        """Whether this operation is for a payload whose tree is ``root``."""
        if self.accepts:
            tag = ACCEPTS_JSON if is_json_tree(root) else root.tag
            if tag not in self.accepts:
                return False
        return self.when is None or bool(self.when(root))

    def prepare(
        self, envelope: Envelope, tree: etree._Element | None, *, handed_over: bool = False
    ) -> PreparedDelivery:
        """The exact bytes to store and send. Raises InvalidMessageError subclasses for input the
        target can never accept; ``tree`` is the payload as the hub may act on it (see ``intake``)."""
        handed_over = handed_over or tree is None  # a tree parsed here is this call's own
        root = tree if tree is not None else payload_tree(envelope)
        del tree
        if root is None:
            raise InvalidMessageError(
                f"adapter '{self.target}' needs an XML or JSON payload, got {envelope.content_type}"
            )
        if self.input_schema is not None:
            self._check_input(envelope, root, handed_over=handed_over)
        if self.as_received and envelope.is_xml:
            # The stored bytes, which the sender's signature covers: never the canonical copy the hub
            # acted on (its signature removed). Nothing else may change them (AdapterConfig refuses it).
            return PreparedDelivery(
                target=self.target,
                payload=envelope.payload,
                content_type=envelope.content_type,
                operation=self.operation,
            )
        warnings: tuple[str, ...] = ()
        if self.document == "edxml":
            warnings = self._standard_edxml(envelope, root)
            _forget(root)  # changed in place: what its input schema accepted is another document
        out = root
        if self.mapper is not None:
            params = {
                "message_id": str(envelope.message_id),
                "sender": envelope.sender,
                "hub_agency": self.hub_agency,
                "target_agency": self.target_agency,
            }
            if self._maps_to_json_value():
                assert isinstance(self.mapper, YamlMapping)
                value = self.mapper.apply_json(root, params)
                del root
                return self._json_delivery(value)
            out = self.mapper.apply(root, params)
        # Done with the input. When intake handed it over (see Intake._prepare) nothing else holds it, and
        # it goes now rather than beside the translation while that is validated, signed and written.
        del root
        if self.output_schema is not None:
            self.output_schema.validate(out, what=f"translation for '{self.target}'")
        if is_json_tree(out):
            if self.signer is not None:
                raise TranslationError(_JSON_UNSIGNABLE.format(target=self.target))
            return PreparedDelivery(
                target=self.target,
                payload=tree_to_json(out),
                content_type=JSON_CONTENT_TYPE,
                operation=self.operation,
            )
        # A translation is this call's own, dropped once written: its large texts (attachments) need not
        # go back into it. The payload's own tree may serve other targets; it too is this call's own
        # when intake handed it over (its last target): putting a 50 MB attachment back into it cost
        # 1.4 × the document at intake's peak (docs/benchmarks.md).
        own = self.mapper is not None or handed_over
        if self.signer is not None:
            # Last, after the output schema accepted the document: the XSD describes the document
            # without its signature, and nothing may touch the bytes once they are signed.
            payload = self.signer.sign_to_bytes(out, keep_input=not own)
        else:
            payload = serialize(out, keep_tree=not own)
        return PreparedDelivery(
            target=self.target,
            payload=payload,
            content_type="application/xml",
            operation=self.operation,
            warnings=warnings,
        )

    def _check_input(self, envelope: Envelope, root: etree._Element, *, handed_over: bool) -> None:
        """The input schema's check, once per tree within :func:`one_message`."""
        schema = self.input_schema
        assert schema is not None
        accepted = _ACCEPTED.get()
        done = accepted is not None and any(s is schema and t is root for s, t in accepted)
        if not done:
            schema.validate(root, what=f"payload for '{self.target}'", source=envelope.payload)
        if accepted is not None:
            if handed_over:  # the last target: nothing may hold the tree beyond it
                _forget(root)
            elif not done:
                accepted.append((schema, root))

    def _maps_to_json_value(self) -> bool:
        """A declarative mapping to JSON, checked (if at all) by a JSON Schema: the JSON value is built,
        checked and written without the tree in between (:meth:`YamlMapping.apply_json`)."""
        if not isinstance(self.mapper, YamlMapping) or not self.mapper.json_target:
            return False
        if self.output_schema is None:
            return True
        from lienthong.pipeline.json_schema import JsonSchemaValidator  # loaded with the JSON schema

        return isinstance(self.output_schema, JsonSchemaValidator)

    def _json_delivery(self, value: Any) -> PreparedDelivery:
        """What :meth:`prepare` does with a JSON translation, given as its value: the output schema,
        the refusal to sign, the bytes (``tree_to_json`` of the tree would write the same)."""
        if self.output_schema is not None:
            self.output_schema.validate(value, what=f"translation for '{self.target}'")
        if self.signer is not None:
            raise TranslationError(_JSON_UNSIGNABLE.format(target=self.target))
        return PreparedDelivery(
            target=self.target,
            payload=dumps(value),
            content_type=JSON_CONTENT_TYPE,
            operation=self.operation,
        )

    def _standard_edxml(self, envelope: Envelope, root: etree._Element) -> tuple[str, ...]:
        """Put the edXML document ``root`` in the standard form, in place, and refuse it if the hub
        must not send it; what was changed, as warnings (also logged on ``lienthong.edxml``).

        In place because a document carries up to 50 MB of attachments: the tree intake handed over
        is the one rewritten, validated, signed and written. Raises EdxmlError (422)."""
        if is_json_tree(root):
            raise EdxmlError(f"adapter '{self.target}' sends edXML documents, but the payload is JSON")
        quirks = standard_form(root)
        message = read_edxml(root, source=f"message {envelope.message_id}")
        check_outgoing(message, hub_agency=self.hub_agency)
        seen = {(q.code, q.message) for q in quirks}
        quirks += [q for q in message.quirks if (q.code, q.message) not in seen]
        del message
        for quirk in quirks:
            edxml_log.warning(
                "edxml quirk message=%s target=%s code=%s line=%s: %s",
                envelope.message_id,
                self.target,
                quirk.code,
                quirk.line,
                quirk.message,
            )
        return tuple(f"{q.code}: {q.message}" for q in quirks)


_JSON_UNSIGNABLE: Final = (
    "adapter '{target}' signs what it sends, but its mapping produced JSON, which "
    "an XML signature cannot cover: set signing.policy none for this operation"
)


@dataclass(frozen=True)
class AdapterStages:
    """An adapter's operations in the order they are tried: a message goes to the first that takes it."""

    target: str
    operations: Sequence[Preparation]

    def prepare(
        self, envelope: Envelope, tree: etree._Element | None, *, handed_over: bool = False
    ) -> PreparedDelivery:
        handed_over = handed_over or tree is None
        root = tree if tree is not None else payload_tree(envelope)
        del tree
        if root is None:
            raise InvalidMessageError(
                f"adapter '{self.target}' needs an XML or JSON payload, got {envelope.content_type}"
            )
        for stages in self.operations:
            if stages.takes(root):
                return stages.prepare(envelope, root, handed_over=handed_over)
        what = "a JSON payload" if is_json_tree(root) else f"a payload whose root is {root.tag}"
        names = ", ".join(s.operation or "?" for s in self.operations)
        raise InvalidMessageError(
            f"adapter '{self.target}' has no operation for {what} (operations: {names})"
        )


def _clark(element: str, namespaces: Mapping[str, str]) -> str:
    if element == ACCEPTS_JSON:
        return ACCEPTS_JSON
    prefix, _, local = element.rpartition(":")
    return qname(namespaces[prefix], local) if prefix else local


def _mapper(
    config: Configuration, mapping: Path | None, input_schema: Path | None, schema: Path | None
) -> Mapper | None:
    """The compiled mapping; a declarative one is also checked against the schemas on both sides,
    its problems a ConfigError at the mapping file's lines (docs/mappings.md)."""
    if mapping is None:
        return None
    mapper = load_mapper(config.resolve(mapping), name=mapping.as_posix())
    if isinstance(mapper, YamlMapping):
        resolve = config.resolve
        issues = check_mapping(
            mapper,
            input_schema=resolve(input_schema) if input_schema else None,
            schema=resolve(schema) if schema else None,
        )
        if issues:
            raise ConfigError(issues)
    return mapper


def build_preparations(
    config: Configuration,
    *,
    signers: Mapping[str, Signer] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Stages]:
    """The stages of every configured adapter (or those in ``only``), with ``signers`` by adapter name
    (and by ``adapter/operation`` for an operation with its own signing policy).

    A schema or mapping that cannot be loaded is a configuration issue on the adapter's file, at the
    key that names it; every adapter is tried and all issues are raised together."""
    signers = signers or {}
    prepared: dict[str, Stages] = {}
    schemas: dict[Path, SchemaValidator] = {}  # compiled once, whichever operations name them
    issues: list[ConfigIssue] = []
    for name, adapter in config.adapters.items():
        if only is not None and name not in only:
            continue
        if not adapter.operations:
            try:
                prepared[name] = Preparation.from_config(
                    config, adapter, signer=signers.get(name), schemas=schemas
                )
            except ConfigError as exc:  # a declarative mapping's own problems, at its own lines
                issues += exc.issues
            except HubError as exc:
                issues.append(_issue(config, adapter, adapter, (), exc))
            continue
        operations: list[Preparation] = []
        for op_name, op in adapter.operations.items():
            signer = signers.get(f"{name}/{op_name}") if op.signing else signers.get(name)
            try:
                operations.append(
                    Preparation.from_config(
                        config, adapter, signer=signer, operation=op_name, schemas=schemas
                    )
                )
            except ConfigError as exc:
                issues += exc.issues
            except HubError as exc:
                where = ("operations", op_name)
                issues.append(_issue(config, adapter, adapter.operation_config(op_name), where, exc))
        prepared[name] = AdapterStages(target=name, operations=tuple(operations))
    if issues:
        raise ConfigError(issues)
    return prepared


def _issue(
    config: Configuration,
    adapter: AdapterConfig,
    settings: AdapterConfig,
    where: tuple[str, ...],
    exc: HubError,
) -> ConfigIssue:
    file = f"{config.config_dir.name}/adapters/{adapter.name}.yaml"
    key = _failing_key(config, settings, exc)
    path = (*where, key) if key else where
    return issue_at(config, file, path, ".".join(path), exc.message)


def _failing_key(config: Configuration, adapter: AdapterConfig, exc: HubError) -> str:
    """Which of the adapter's files the error is about (its message names the path)."""
    for key, value in (
        ("input_schema", adapter.input_schema),
        ("schema", adapter.schema_),
        ("mapping", adapter.mapping),
    ):
        if value is not None and str(config.resolve(value)) in exc.message:
            return key
    return ""
