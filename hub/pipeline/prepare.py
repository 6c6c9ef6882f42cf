"""The intake stages every adapter's payload goes through, run by the hub in one fixed order.

validate(in) → translate → validate(out) → sign → serialise. A plugin supplies none of this order: it
names its schemas and mapping in YAML (or is given a :class:`~lienthong.pipeline.translate.Mapper`) and only
talks to its system at delivery. So signing is last for every adapter by construction, not by each
plugin remembering it: the output schema describes the document without its signature (a target's
schema may not allow ``ds:Signature`` at all), and nothing touches the bytes once they are signed.
What is stored is what is sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from lienthong.config.files import issue_at
from lienthong.config.models import AdapterConfig, Configuration
from lienthong.envelope import Envelope
from lienthong.errors import ConfigError, ConfigIssue, HubError, InvalidMessageError
from lienthong.pipeline.mapping_check import check_mapping
from lienthong.pipeline.translate import Mapper, load_mapper
from lienthong.pipeline.validate import XsdValidator
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.store import PreparedDelivery
from lienthong.trust.sign import Signer
from lienthong.xml import parse_xml, serialize

__all__ = ["Preparation", "build_preparations"]


@dataclass(frozen=True)
class Preparation:
    """The stages for one adapter, compiled once; :meth:`prepare` runs them for one message."""

    target: str
    target_agency: str
    hub_agency: str
    input_schema: XsdValidator | None = None
    mapper: Mapper | None = None
    output_schema: XsdValidator | None = None
    #: Signs what the output schema accepted, as the adapter's signing policy says; None for ``none``.
    signer: Signer | None = None

    @classmethod
    def from_config(
        cls, config: Configuration, adapter: AdapterConfig, *, signer: Signer | None = None
    ) -> Preparation:
        """Compile the adapter's schemas and mapping, resolved from the configuration's root.

        Raises HubError (SchemaValidationError, TranslationError) for a file that cannot be loaded."""
        return cls(
            target=adapter.name,
            target_agency=adapter.agency,
            hub_agency=config.hub.hub.agency,
            input_schema=XsdValidator(config.resolve(adapter.input_schema)) if adapter.input_schema else None,
            mapper=_mapper(config, adapter.mapping, adapter.input_schema, adapter.schema_),
            output_schema=XsdValidator(config.resolve(adapter.schema_)) if adapter.schema_ else None,
            signer=signer,
        )

    def prepare(self, envelope: Envelope, tree: etree._Element | None) -> PreparedDelivery:
        """The exact bytes to store and send. Raises InvalidMessageError subclasses for input the
        target can never accept; ``tree`` is the payload as the hub may act on it (see ``intake``)."""
        if not envelope.is_xml:
            raise InvalidMessageError(
                f"adapter '{self.target}' needs an XML payload, got {envelope.content_type}"
            )
        root = tree if tree is not None else parse_xml(envelope.payload)
        del tree
        if self.input_schema is not None:
            self.input_schema.validate(root, what=f"payload for '{self.target}'", source=envelope.payload)
        out = root
        if self.mapper is not None:
            params = {
                "message_id": str(envelope.message_id),
                "sender": envelope.sender,
                "hub_agency": self.hub_agency,
                "target_agency": self.target_agency,
            }
            out = self.mapper.apply(root, params)
        # Done with the input. When intake handed it over (see Intake._prepare) nothing else holds it, and
        # it goes now rather than beside the translation while that is validated, signed and written.
        del root
        if self.output_schema is not None:
            self.output_schema.validate(out, what=f"translation for '{self.target}'")
        if self.signer is not None:
            # Last, after the output schema accepted the document: the XSD describes the document
            # without its signature, and nothing may touch the bytes once they are signed.
            out = self.signer.sign(out)
        payload = serialize(out)
        return PreparedDelivery(target=self.target, payload=payload, content_type="application/xml")


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
) -> dict[str, Preparation]:
    """The stages of every configured adapter (or those in ``only``), with ``signers`` by adapter name.

    A schema or mapping that cannot be loaded is a configuration issue on the adapter's file, at the
    key that names it; every adapter is tried and all issues are raised together."""
    signers = signers or {}
    prepared: dict[str, Preparation] = {}
    issues: list[ConfigIssue] = []
    for name, adapter in config.adapters.items():
        if only is not None and name not in only:
            continue
        try:
            prepared[name] = Preparation.from_config(config, adapter, signer=signers.get(name))
        except ConfigError as exc:  # a declarative mapping's own problems, at its own lines
            issues += exc.issues
        except HubError as exc:
            file = f"{config.config_dir.name}/adapters/{name}.yaml"
            key = _failing_key(config, adapter, exc)
            issues.append(issue_at(config, file, (key,) if key else (), key, exc.message))
    if issues:
        raise ConfigError(issues)
    return prepared


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
