"""The adapter plugin contract and its discovery.

An adapter plugin is a name, an options model and a factory (:class:`AdapterSpec`), published as an
entry point in the group ``lienthong.adapters``. The hub finds plugins through that group and never
imports one by name, so a ministry adapter can live in any installed package.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lxml import etree
from pydantic import BaseModel, ConfigDict, ValidationError

from .config import AdapterConfig, Configuration
from .configfile import issue_at
from .envelope import Envelope
from .errors import ConfigError, ConfigIssue, HubError, UnknownAdapterError
from .sign import Signer, build_signers
from .store import Claim, Delivered, PreparedDelivery

if TYPE_CHECKING:
    from .simulator import SimulatorSpec

ENTRY_POINT_GROUP = "lienthong.adapters"


class Adapter(Protocol):
    """One configured connection to one ministry system."""

    name: str

    def prepare(self, envelope: Envelope, tree: etree._Element | None) -> PreparedDelivery:
        """Validate, translate (and sign) at intake, so the stored bytes are exactly what is sent.

        Raises InvalidMessageError subclasses for input the target can never accept.
        """
        ...

    def deliver(self, claim: Claim) -> Delivered:
        """Send the prepared bytes once. Raises TransientDeliveryError or PermanentDeliveryError."""
        ...


class SampleMessage(Protocol):
    """A realistic message an adapter can generate for the demo and the benchmarks."""

    @property
    def dossier_code(self) -> str: ...

    @property
    def procedure_code(self) -> str: ...

    @property
    def xml(self) -> bytes: ...


class NoOptions(BaseModel):
    """For plugins that need nothing beyond the common adapter settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class AdapterContext:
    """What a factory gets: its own settings, checked options, and the hub it serves."""

    config: AdapterConfig
    options: BaseModel
    hub_agency: str
    root: Path
    #: Signs prepared payloads as the adapter's signing policy says; None for policy ``none``.
    signer: Signer | None = None

    def path(self, p: Path) -> Path:
        return p if p.is_absolute() else self.root / p


@dataclass(frozen=True)
class AdapterSpec:
    """What a plugin publishes through its entry point."""

    name: str
    description: str
    factory: Callable[[AdapterContext], Adapter]
    options_model: type[BaseModel] = NoOptions
    simulator: SimulatorSpec | None = None
    #: Generates ``count`` sample messages (demo, benchmarks); None when the plugin has none.
    samples: Callable[[int], Sequence[SampleMessage]] | None = None


def discover_plugins() -> dict[str, AdapterSpec]:
    """Load every installed adapter plugin. A plugin that fails to load is an error, not a warning."""
    plugins: dict[str, AdapterSpec] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as exc:
            raise HubError(f"adapter plugin '{ep.name}' ({ep.value}) failed to load: {exc}") from exc
        if not isinstance(spec, AdapterSpec):
            raise HubError(f"adapter plugin '{ep.name}' ({ep.value}) is not an AdapterSpec")
        plugins[ep.name] = spec
    return plugins


def adapter_file(config: Configuration, name: str) -> str:
    return f"{config.config_dir.name}/adapters/{name}.yaml"


def check_adapters(
    config: Configuration, plugins: Mapping[str, AdapterSpec], unloaded: Collection[str] = ()
) -> list[ConfigIssue]:
    """Everything about adapters that YAML shape alone cannot tell: plugins, options, files on disk.

    ``unloaded`` names adapter files that did not load (already reported): routes to them are not
    reported a second time as targeting an unknown adapter."""
    issues: list[ConfigIssue] = []
    for name, adapter in config.adapters.items():
        file = adapter_file(config, name)
        spec = plugins.get(adapter.plugin)
        if spec is None:
            known = ", ".join(sorted(plugins)) or "none installed"
            issues.append(
                issue_at(
                    config,
                    file,
                    ("plugin",),
                    "plugin",
                    f"unknown adapter plugin '{adapter.plugin}' ({known})",
                )
            )
        else:
            try:
                spec.options_model.model_validate(adapter.options)
            except ValidationError as exc:
                for err in exc.errors():
                    path = ("options", *err["loc"])
                    key = ".".join(str(p) for p in path)
                    issues.append(issue_at(config, file, path, key, err["msg"]))
        for key in ("wsdl", "input_schema", "schema", "mapping"):
            value = getattr(adapter, "schema_" if key == "schema" else key)
            if value is not None and not config.resolve(value).is_file():
                issues.append(issue_at(config, file, (key,), key, f"file not found: {value}"))
    for index, rule in enumerate(config.routes.routes):
        for t_index, target in enumerate(rule.targets):
            if target not in config.adapters and target not in unloaded:
                known = ", ".join(sorted(config.adapters)) or "none configured"
                issues.append(
                    issue_at(
                        config,
                        f"{config.config_dir.name}/routes.yaml",
                        ("routes", index, "targets", t_index),
                        f"routes[{index}].targets",
                        f"route '{rule.name}' targets unknown adapter '{target}' (configured: {known})",
                    )
                )
    return issues


def build_adapters(
    config: Configuration,
    plugins: Mapping[str, AdapterSpec],
    *,
    signers: Mapping[str, Signer] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Adapter]:
    """Construct every configured adapter (or those named in ``only``); ``signers`` (by adapter name)
    default to the policies'.

    A factory that fails (a schema, mapping or WSDL that cannot be loaded) becomes a configuration
    issue on that adapter's file; every adapter is tried, and all issues are raised together.
    """
    signers = build_signers(config) if signers is None else signers
    adapters: dict[str, Adapter] = {}
    issues: list[ConfigIssue] = []
    for name, adapter_config in config.adapters.items():
        if only is not None and name not in only:
            continue
        spec = plugins.get(adapter_config.plugin)
        if spec is None:
            raise UnknownAdapterError(f"adapter '{name}' uses unknown plugin '{adapter_config.plugin}'")
        options = spec.options_model.model_validate(adapter_config.options)
        ctx = AdapterContext(
            config=adapter_config,
            options=options,
            hub_agency=config.hub.hub.agency,
            root=config.root,
            signer=signers.get(name),
        )
        try:
            adapters[name] = spec.factory(ctx)
        except ConfigError as exc:  # re-pointed at the adapter's YAML, with line numbers where known
            file = adapter_file(config, name)
            for issue in exc.issues:
                path = tuple(issue.key.split(".")) if issue.key else ()
                issues.append(issue_at(config, file, path, issue.key, issue.message))
        except HubError as exc:
            issues.append(ConfigIssue(adapter_file(config, name), None, None, "", exc.message))
    if issues:
        raise ConfigError(issues)
    return adapters
