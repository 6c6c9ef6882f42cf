"""The adapter plugin contract and its discovery.

An adapter plugin is a name, an options model and a factory (:class:`AdapterSpec`). The hub runs the
intake stages itself (``prepare``: validate, translate, validate, sign, serialise); a plugin only talks
to its system at delivery, through the :class:`~lienthong.delivery.transports.base.Transport` the hub
gives it.
The generic SOAP and REST/JSON plugins are built in (``plugin: soap``, ``plugin: rest``), as is the
national document axis's (``plugin: edxml-axis``), so most
adapters are a YAML file, a schema and a mapping. Plugins that need code are published as entry
points in the group ``lienthong.adapters``; the hub finds them through that group and never imports
one by name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lienthong.config.files import issue_at
from lienthong.config.models import AdapterConfig, Configuration
from lienthong.delivery.transports.base import Transport
from lienthong.delivery.transports.http import HttpTransport
from lienthong.errors import ConfigError, ConfigIssue, HubError, PermanentDeliveryError, UnknownAdapterError
from lienthong.store import Claim, Delivered

ENTRY_POINT_GROUP = "lienthong.adapters"

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class Adapter(Protocol):
    """One configured connection to one ministry system: what it does at delivery."""

    name: str

    def deliver(self, claim: Claim) -> Delivered:
        """Send the prepared bytes once. Raises TransientDeliveryError or PermanentDeliveryError."""
        ...


class NoOptions(BaseModel):
    """For plugins that need nothing beyond the common adapter settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class AdapterContext(Generic[OptionsT]):
    """What a factory gets: its own settings, its checked options, the hub it serves and the transport
    to talk through (HTTP in production, a
    :class:`~lienthong.delivery.transports.memory.MemoryTransport` in tests)."""

    config: AdapterConfig
    options: OptionsT
    hub_agency: str
    root: Path
    transport: Transport

    def path(self, p: Path) -> Path:
        """A path from the adapter's YAML, resolved from the configuration's root."""
        return p if p.is_absolute() else self.root / p


@dataclass(frozen=True)
class AdapterSpec(Generic[OptionsT]):
    """What a plugin publishes: its name, the model its ``options:`` must satisfy and its factory."""

    name: str
    description: str
    factory: Callable[[AdapterContext[OptionsT]], Adapter]
    options_model: type[OptionsT]


def discover_plugins() -> dict[str, AdapterSpec[Any]]:
    """The built-in plugins and every installed one. A plugin that fails to load, or that takes the
    name of a built-in, is an error, not a warning."""
    # Built in; imported late, as they load zeep and jsonschema_rs.
    from lienthong.delivery.axis_adapter import AXIS_PLUGIN
    from lienthong.delivery.rest_adapter import REST_PLUGIN
    from lienthong.delivery.soap_adapter import SOAP_PLUGIN
    from lienthong.notify.smtp import SMTP_PLUGIN

    plugins: dict[str, AdapterSpec[Any]] = {
        SOAP_PLUGIN.name: SOAP_PLUGIN,
        REST_PLUGIN.name: REST_PLUGIN,
        AXIS_PLUGIN.name: AXIS_PLUGIN,
        SMTP_PLUGIN.name: SMTP_PLUGIN,
    }
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as exc:
            raise HubError(f"adapter plugin '{ep.name}' ({ep.value}) failed to load: {exc}") from exc
        if not isinstance(spec, AdapterSpec):
            raise HubError(f"adapter plugin '{ep.name}' ({ep.value}) is not an AdapterSpec")
        if ep.name in plugins and plugins[ep.name] is not spec:
            raise HubError(f"adapter plugin '{ep.name}' ({ep.value}) takes the name of a built-in plugin")
        plugins[ep.name] = spec
    return plugins


def http_transport(adapter: AdapterConfig) -> Transport:
    """The production transport of one adapter, with its timeouts."""
    return HttpTransport(timeout=adapter.timeout, connect_timeout=adapter.connect_timeout)


def plugin_context(
    config: Configuration, settings: AdapterConfig, options: OptionsT, transport: Transport | None
) -> AdapterContext[OptionsT]:
    """What a plugin factory is given for ``settings`` (an adapter, or one of its operations or polls as
    :meth:`AdapterConfig.operation_config` makes it): ``transport``, or HTTP with its timeouts."""
    return AdapterContext(
        config=settings,
        options=options,
        hub_agency=config.hub.hub.agency,
        root=config.root,
        transport=transport if transport is not None else http_transport(settings),
    )


def adapter_file(config: Configuration, name: str) -> str:
    return f"{config.config_dir.name}/adapters/{name}.yaml"


def check_adapters(
    config: Configuration, plugins: Mapping[str, AdapterSpec[Any]], unloaded: Collection[str] = ()
) -> list[ConfigIssue]:
    """Everything about adapters that YAML shape alone cannot tell: plugins, options, files on disk.

    ``unloaded`` names adapter files that did not load (already reported): routes to them are not
    reported a second time as targeting an unknown adapter."""
    issues: list[ConfigIssue] = []
    for name, adapter in config.adapters.items():
        file = adapter_file(config, name)

        def add(path: tuple[str | int, ...], message: str) -> None:
            issues.append(issue_at(config, file, path, ".".join(str(p) for p in path), message))  # noqa: B023

        for op_name in adapter.operation_names():
            where = adapter.operation_path(op_name)
            settings = adapter.operation_config(op_name)
            plugin_at = (*where, "plugin") if where and adapter.operations[op_name].plugin else ("plugin",)
            spec = plugins.get(settings.plugin or "")
            if spec is None:
                known = ", ".join(sorted(plugins)) or "none installed"
                add(plugin_at, f"unknown adapter plugin '{settings.plugin}' ({known})")
                continue
            try:
                options = spec.options_model.model_validate(settings.options)
            except ValidationError as exc:
                for err in exc.errors():
                    add((*where, "options", *err["loc"]), err["msg"])
            else:  # a path among the options names a file of the project, as the common ones do
                for field_name, value in options:
                    if isinstance(value, Path) and not config.resolve(value).is_file():
                        add((*where, "options", field_name), f"file not found: {value}")
            for key, value in (
                ("input_schema", settings.input_schema),
                ("schema", settings.schema_),
                ("mapping", settings.mapping),
            ):
                if value is not None and not config.resolve(value).is_file():
                    add((*where, key), f"file not found: {value}")
            schema = settings.schema_
            signs = settings.signing.policy != "none"
            if signs and schema is not None and schema.suffix.lower() == ".json":
                add((*where, "signing"), "a JSON request cannot carry an XML signature: set policy none here")
        for path, value in _files(adapter):
            if not config.resolve(value).is_file():
                add(path, f"file not found: {value}")
        for path, call in _simulator_calls(adapter):
            if adapter.inbound is None or call not in adapter.inbound.operations:
                known = ", ".join(adapter.inbound.operations) if adapter.inbound else "no 'inbound:' section"
                add(path, f"the simulator calls '{call}', not an inbound operation of this adapter ({known})")
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


def _files(adapter: AdapterConfig) -> list[tuple[tuple[str | int, ...], Path]]:
    """The files an adapter's simulator names, by their key path in the YAML."""
    files: list[tuple[tuple[str | int, ...], Path | None]] = []
    if (sim := adapter.simulator) is not None:
        flat = not sim.services
        for index, service in enumerate(sim.service_list()):
            at: tuple[str | int, ...] = ("simulator",) if flat else ("simulator", "services", index)
            files += [((*at, "schema"), service.schema_), ((*at, "wsdl"), service.wsdl)]
            for name, op in service.operations.items():
                files.append(((*at, "operations", name), op.answer))  # the short form's line, or the key's
                files += [
                    ((*at, "operations", name, k), getattr(op, k))
                    for k in ("request_schema", "answer_schema")
                ]
                files += [
                    ((*at, "operations", name, "then", i, "body"), s.body) for i, s in enumerate(op.then)
                ]
    return [(path, value) for path, value in files if value is not None]


def _simulator_calls(adapter: AdapterConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """The inbound operations the simulator's later steps call, by their key path in the YAML."""
    if (sim := adapter.simulator) is None:
        return []
    calls: list[tuple[tuple[str | int, ...], str]] = []
    for index, service in enumerate(sim.service_list()):
        at: tuple[str | int, ...] = ("simulator",) if not sim.services else ("simulator", "services", index)
        for name, op in service.operations.items():
            for i, step in enumerate(op.then):
                if step.call is not None:
                    calls.append(((*at, "operations", name, "then", i, "call"), step.call))
    return calls


def build_adapters(
    config: Configuration,
    plugins: Mapping[str, AdapterSpec[Any]],
    *,
    transports: Mapping[str, Transport] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Adapter]:
    """Construct every configured adapter (or those named in ``only``), each talking through its
    transport in ``transports`` (by adapter name) or else over HTTP with its own timeouts.

    A factory that fails (a WSDL that cannot be loaded, an operation it lacks) becomes a configuration
    issue on that adapter's file; every adapter is tried, and all issues are raised together.
    """
    transports = transports or {}
    adapters: dict[str, Adapter] = {}
    issues: list[ConfigIssue] = []
    for name, adapter_config in config.adapters.items():
        if only is not None and name not in only:
            continue
        built: dict[str, Adapter] = {}
        for op_name in adapter_config.operation_names():
            where = adapter_config.operation_path(op_name)
            settings = adapter_config.operation_config(op_name)
            spec = plugins.get(settings.plugin or "")
            if spec is None:
                raise UnknownAdapterError(f"adapter '{name}' uses unknown plugin '{settings.plugin}'")
            options = spec.options_model.model_validate(settings.options)
            given = transports.get(name)
            ctx = plugin_context(config, settings, options, given)
            file = adapter_file(config, name)
            try:
                built[op_name] = spec.factory(ctx)
            except ConfigError as exc:  # re-pointed at the adapter's YAML, with line numbers where known
                for issue in exc.issues:
                    path = (*where, *issue.key.split(".")) if issue.key else where
                    issues.append(issue_at(config, file, path, ".".join(path), issue.message))
            except HubError as exc:
                issues.append(issue_at(config, file, where, ".".join(where), exc.message))
            if op_name not in built and given is None:
                ctx.transport.close()
        if len(built) == len(adapter_config.operation_names()):
            adapters[name] = (
                built[next(iter(built))]
                if not adapter_config.operations
                else (OperationsAdapter(name, built))
            )
        else:
            for adapter in built.values():
                _close(adapter)
    if issues:
        raise ConfigError(issues)
    return adapters


class OperationsAdapter:
    """An adapter with several operations: one plugin instance per operation, each delivery handed to
    the one its prepared bytes were made for (``Claim.operation``)."""

    def __init__(self, name: str, operations: Mapping[str, Adapter]) -> None:
        self.name = name
        self.operations = dict(operations)

    def deliver(self, claim: Claim) -> Delivered:
        if claim.operation is None:  # stored before this adapter had operations: its first
            return next(iter(self.operations.values())).deliver(claim)
        adapter = self.operations.get(claim.operation)
        if adapter is None:
            raise PermanentDeliveryError(
                f"adapter '{self.name}' has no operation '{claim.operation}' any more "
                f"(configured: {', '.join(self.operations)}); restore it, then replay"
            )
        return adapter.deliver(claim)

    def close(self) -> None:
        for adapter in self.operations.values():
            _close(adapter)


def _close(adapter: Adapter) -> None:
    close = getattr(adapter, "close", None)
    if close is not None:
        close()
