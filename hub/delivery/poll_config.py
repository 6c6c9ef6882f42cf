"""The adapters' ``polling:`` sections, compiled once and checked at file:line (docs/polling.md).

A poll's request is made like an operation's delivery: a mapping (YAML or XSLT) from the hub's
``lt:Poll`` document, a schema for its output, and a plugin instance (``soap``, ``rest``…) built from
the poll's own plugin, endpoint and options. Everything that can be wrong with that — an unknown
operation to wait on, a plugin or option the plugin refuses, a missing file, a mapping whose paths
the schemas do not know, an XPath that does not compile — is a configuration issue pointing at the
adapter file's line, reported by ``hub config check`` with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree
from pydantic import ValidationError

from lienthong.adapter import Adapter, AdapterSpec, adapter_file, plugin_context
from lienthong.config.files import issue_at
from lienthong.config.models import AdapterConfig, Configuration, PollConfig, SigningPolicyConfig
from lienthong.delivery.transports.base import Transport
from lienthong.errors import ConfigError, ConfigIssue, HubError
from lienthong.jsonxml import JSON_NS
from lienthong.pipeline.prepare import Preparation

__all__ = ["CompiledPoll", "PollXPaths", "compile_polls", "poll_settings"]

#: The prefix the results' XPaths use for the JSON vocabulary unless the poll redefines it.
JSON_PREFIX: Final = "fn"


@dataclass(frozen=True)
class PollXPaths:
    """The results' XPaths, compiled: each result, and of one result its dossier code, readiness, id."""

    each: etree.XPath
    dossier_code: etree.XPath
    ready: etree.XPath | None
    id: etree.XPath | None


@dataclass(frozen=True)
class CompiledPoll:
    """One poll of one adapter, ready to run: its request stages, plugin instance and XPaths."""

    adapter: AdapterConfig
    name: str
    config: PollConfig
    stages: Preparation
    plugin: Adapter
    xpaths: PollXPaths

    def close(self) -> None:
        close = getattr(self.plugin, "close", None)
        if close is not None:
            close()


def poll_settings(adapter: AdapterConfig, poll: PollConfig) -> AdapterConfig:
    """The adapter as the poll's request sees it (as ``operation_config`` does for an operation):
    the poll's plugin, endpoint, mapping, schemas and options; never signed (nothing is stored)."""
    request = poll.request
    return adapter.model_copy(
        update={
            "plugin": request.plugin or adapter.plugin,
            "endpoint": request.endpoint or adapter.endpoint,
            "input_schema": request.input_schema,
            "schema_": request.schema_,
            "mapping": request.mapping,
            "signing": SigningPolicyConfig(),
            "options": request.options,
            "operations": {},
            "timeout": request.timeout or adapter.timeout,
            "polling": {},
            "receiving": None,
            "lookup": None,
        }
    )


def _xpaths(poll: PollConfig, add: Any) -> PollXPaths | None:
    namespaces = {JSON_PREFIX: JSON_NS, **poll.namespaces}
    compiled: dict[str, etree.XPath | None] = {}
    for key in ("each", "dossier_code", "ready", "id"):
        expression = getattr(poll.results, key)
        if expression is None:
            compiled[key] = None
            continue
        try:
            compiled[key] = etree.XPath(expression, namespaces=namespaces)
        except etree.XPathSyntaxError as exc:
            add(("results", key), f"invalid XPath {expression!r}: {exc}")
    if len(compiled) < 4:
        return None
    each, code = compiled["each"], compiled["dossier_code"]
    assert each is not None and code is not None
    return PollXPaths(each, code, compiled["ready"], compiled["id"])


def compile_polls(
    config: Configuration,
    plugins: Mapping[str, AdapterSpec[Any]],
    *,
    transports: Mapping[str, Transport] | None = None,
    only: set[str] | None = None,
) -> list[CompiledPoll]:
    """Every poll of every adapter (or of those in ``only``); raises one ConfigError listing every
    problem. ``transports`` replaces the HTTP transport of the adapters it names (tests)."""
    issues: list[ConfigIssue] = []
    polls: list[CompiledPoll] = []
    for adapter_name, adapter in config.adapters.items():
        if only is not None and adapter_name not in only:
            continue
        file = adapter_file(config, adapter_name)
        for name, section in adapter.polling.items():
            where = ("polling", name)

            def add(path: tuple[str | int, ...], message: str) -> None:
                full = (*where, *path)  # noqa: B023
                issues.append(issue_at(config, file, full, ".".join(map(str, full)), message))  # noqa: B023

            built = _compile_one(config, adapter, name, section, plugins, transports or {}, add, issues)
            if built is not None:
                polls.append(built)
    if issues:
        for compiled in polls:
            compiled.close()
        raise ConfigError(issues)
    return polls


def _compile_one(
    config: Configuration,
    adapter: AdapterConfig,
    name: str,
    poll: PollConfig,
    plugins: Mapping[str, AdapterSpec[Any]],
    transports: Mapping[str, Transport],
    add: Any,
    issues: list[ConfigIssue],
) -> CompiledPoll | None:
    """One poll, or None after adding its issues (``add`` for the adapter file's keys, ``issues`` for
    those a YAML mapping reports at its own lines)."""
    found = len(issues)
    if poll.awaiting.operation not in adapter.operation_names():
        known = ", ".join(adapter.operation_names())
        add(
            ("awaiting", "operation"),
            f"'{poll.awaiting.operation}' is not an operation of this adapter ({known})",
        )
    settings = poll_settings(adapter, poll)
    if settings.endpoint is None:
        add(("request", "endpoint"), "no endpoint: give one here, or at the adapter's top")
    files = (
        ("input_schema", settings.input_schema),
        ("schema", settings.schema_),
        ("mapping", settings.mapping),
    )
    for key, value in files:
        if value is not None and not config.resolve(value).is_file():
            add(("request", key), f"file not found: {value}")
    xpaths = _xpaths(poll, add)
    spec = plugins.get(settings.plugin or "")
    if spec is None:
        known = ", ".join(sorted(plugins)) or "none installed"
        add(("request", "plugin"), f"unknown adapter plugin '{settings.plugin}' ({known})")
        return None
    try:
        options = spec.options_model.model_validate(settings.options)
    except ValidationError as exc:
        for err in exc.errors():
            add(("request", "options", *err["loc"]), err["msg"])
        return None
    if len(issues) > found or xpaths is None:
        return None
    try:
        stages = Preparation.from_config(config, settings)
    except ConfigError as exc:  # a declarative mapping's own problems, at the mapping file's lines
        issues += exc.issues
        return None
    except HubError as exc:
        add(("request",), exc.message)
        return None
    given = transports.get(adapter.name)
    ctx = plugin_context(config, settings, options, given)
    try:
        return CompiledPoll(adapter, name, poll, stages, spec.factory(ctx), xpaths)
    except ConfigError as exc:
        for issue in exc.issues:
            add(("request", *issue.key.split(".")) if issue.key else ("request",), issue.message)
    except HubError as exc:
        add(("request",), exc.message)
    if given is None:
        ctx.transport.close()
    return None
