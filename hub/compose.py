"""The composition root: settings → store → adapters → router → intake → workers, built once.

Nothing in the hub creates these on import; tests build a hub here and swap parts (another store,
no workers) through the keyword arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from lienthong.adapter import (
    Adapter,
    AdapterSpec,
    adapter_file,
    build_adapters,
    check_adapters,
    discover_plugins,
)
from lienthong.audit.seal import Sealer, build_sealer
from lienthong.config.files import issue_at
from lienthong.config.models import Configuration
from lienthong.delivery.axis_receive import build_receivers, check_receiving
from lienthong.delivery.breaker import CircuitBreaker
from lienthong.delivery.lookup import LookupService, build_lookups, check_lookups
from lienthong.delivery.poll_config import CompiledPoll, compile_polls
from lienthong.delivery.polling import Pollers, build_pollers
from lienthong.delivery.retry import RetryPolicy
from lienthong.delivery.transports.base import Transport
from lienthong.delivery.workers import DeliveryWorkers, Target, worker_identity
from lienthong.errors import ConfigError, ConfigIssue
from lienthong.intake.callers import CallerRegistry
from lienthong.intake.inbound import InboundService, compile_inbound
from lienthong.intake.service import Intake
from lienthong.intake.text import TextIntake
from lienthong.notify.maker import build_notice_makers
from lienthong.observe.metrics import HubMetrics
from lienthong.pipeline.prepare import Stages, build_preparations
from lienthong.pipeline.route import CompiledRule, Router
from lienthong.reconcile.check import check_reconcile
from lienthong.reconcile.run import scheduled_reconciliations
from lienthong.store import Store
from lienthong.store.migrate import ensure_current
from lienthong.store.sql import SqlStore, create_store_engine
from lienthong.trust.sign import Signer, build_signers, check_signing
from lienthong.trust.verify import TrustStore, XmlVerifier
from lienthong.xml import XmlLimits

log = logging.getLogger("lienthong")


@dataclass
class Hub:
    config: Configuration
    store: Store
    adapters: dict[str, Adapter]
    router: Router
    intake: Intake
    workers: DeliveryWorkers
    inbound: dict[str, InboundService] = field(default_factory=dict)
    callers: CallerRegistry = field(default_factory=lambda: CallerRegistry(()))
    #: Synchronous lookups by adapter name (adapters with a ``lookup:`` section).
    lookups: dict[str, LookupService] = field(default_factory=dict)
    #: Results fetched on a schedule (adapters with a ``polling:`` section) and messages received from
    #: the national axis (``receiving:``), started with the workers.
    pollers: Pollers = field(default_factory=lambda: Pollers(()))
    #: The auditor's log: seals new rows and signs tree heads in the background (lienthong.audit.seal).
    sealer: Sealer | None = None
    #: This process's counters, shown at ``/metrics`` (observe/metrics.py).
    metrics: HubMetrics = field(default_factory=HubMetrics)

    def start(self) -> None:
        """The background work of a hub process: delivery workers, the polls' schedule, the audit sealer."""
        self.workers.start()
        self.pollers.start()
        if self.sealer is not None:
            self.sealer.start()

    def stop(self) -> None:
        if self.sealer is not None:  # first: idle, it stops at once; what it leaves, the next start seals
            self.sealer.stop()
        self.pollers.stop()
        self.workers.stop()

    def close(self) -> None:
        if self.sealer is not None:
            self.sealer.stop()
        self.pollers.stop()
        self.workers.stop()
        for service in self.lookups.values():
            close = getattr(service.adapter, "close", None)
            if close is not None:
                close()
        self.store.close()


def open_store(config: Configuration) -> SqlStore:
    """Open the configured database; the embedded SQLite default migrates itself."""
    url = config.database_url()
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_store_engine(url, pool_size=config.hub.database.pool_size, echo=config.hub.database.echo)
    ensure_current(engine, auto_upgrade=engine.dialect.name == "sqlite")
    return SqlStore(engine)


@dataclass(frozen=True)
class CheckedParts:
    """What checking the configuration had to build anyway; the hub is assembled from these, so no
    key is decrypted, schema compiled or anchor read twice."""

    signers: dict[str, Signer]
    preparations: dict[str, Stages]
    adapters: dict[str, Adapter]
    trust: TrustStore
    inbound: dict[str, InboundService]
    callers: CallerRegistry
    text: TextIntake
    polls: list[CompiledPoll] = field(default_factory=list)


def check_configuration(
    config: Configuration,
    plugins: Mapping[str, AdapterSpec[Any]],
    unloaded_adapters: Collection[str] = (),
    *,
    transports: Mapping[str, Transport] | None = None,
) -> CheckedParts:
    """Every problem in the configuration, across all files, as one ConfigError pointing at YAML lines.

    Signing keys are opened (when an adapter signs), trust anchors read, inbound schemas compiled and
    caller credentials indexed, so that a wrong password or a duplicate API key shows here, not later.
    Every stage runs whatever another found: an adapter is built (its WSDL read, its mapping compiled)
    whenever its own file checks out, so one run of ``hub config check`` reports every error.
    ``unloaded_adapters``: adapter files that did not load (see ``read_configuration``);
    ``transports``: what adapters talk through instead of HTTP (tests), by adapter name.
    """
    issues = check_adapters(config, plugins, unloaded_adapters)
    issues += check_signing(config)
    issues += check_lookups(config) + check_receiving(config) + check_reconcile(config)
    # No lease-versus-timeout rule: the workers' heartbeat renews the lease of a call in flight.
    issues += _check_route_xpaths(config)
    signers: dict[str, Signer] = {}
    trust: TrustStore | None = None
    inbound: dict[str, InboundService] = {}
    callers: CallerRegistry | None = None
    text: TextIntake | None = None
    adapters: dict[str, Adapter] = {}
    preparations: dict[str, Stages] = {}
    try:
        signers = build_signers(config)
    except ConfigError as exc:
        issues += exc.issues
    # Adapters whose own file has a problem are not built (it would only repeat it); the others are,
    # whatever is wrong elsewhere. Without its signer an adapter is still built, to check the rest.
    faulty = {issue.file for issue in issues}
    buildable = [name for name in config.adapters if adapter_file(config, name) not in faulty]
    try:
        preparations = build_preparations(config, signers=signers, only=buildable)
    except ConfigError as exc:
        issues += exc.issues
    try:
        adapters = build_adapters(config, plugins, transports=transports, only=buildable)
    except ConfigError as exc:
        issues += exc.issues
    try:
        trust = TrustStore.from_settings(config.hub.trust, config.root)
    except ConfigError as exc:
        issues += exc.issues
    try:
        inbound = compile_inbound(config)
    except ConfigError as exc:
        issues += exc.issues
    try:
        callers = CallerRegistry(config.hub.callers)
    except ConfigError as exc:
        issues += exc.issues
    try:
        text = TextIntake.from_config(config)
    except ConfigError as exc:
        issues += exc.issues
    polls: list[CompiledPoll] = []
    try:
        polls = compile_polls(config, plugins, transports=transports, only=set(buildable))
    except ConfigError as exc:
        issues += exc.issues
    if issues or trust is None or callers is None or text is None:
        _close_all(adapters.values(), polls)
        raise ConfigError(issues)
    return CheckedParts(
        signers=signers,
        preparations=preparations,
        adapters=adapters,
        trust=trust,
        inbound=inbound,
        callers=callers,
        text=text,
        polls=polls,
    )


def _check_route_xpaths(config: Configuration) -> list[ConfigIssue]:
    issues = []
    for index, rule in enumerate(config.routes.routes):
        try:
            CompiledRule.compile(rule)
        except etree.XPathSyntaxError as exc:
            issues.append(
                issue_at(
                    config,
                    f"{config.config_dir.name}/routes.yaml",
                    ("routes", index, "match", "xpath"),
                    f"routes[{index}].match.xpath",
                    f"route '{rule.name}': invalid XPath: {exc}",
                )
            )
    return issues


def _close_all(adapters: Collection[Adapter], polls: Collection[CompiledPoll]) -> None:
    """Let go of what a failed check built (HTTP clients)."""
    for adapter in adapters:
        close = getattr(adapter, "close", None)
        if close is not None:
            close()
    for poll in polls:
        poll.close()


def build_hub(
    config: Configuration,
    *,
    store: Store | None = None,
    plugins: Mapping[str, AdapterSpec[Any]] | None = None,
    transports: Mapping[str, Transport] | None = None,
) -> Hub:
    """``transports`` replace the HTTP transport of the adapters they name (tests without sockets)."""
    plugins = discover_plugins() if plugins is None else plugins
    # Keys are loaded here, once, and only when some adapter signs; each signer holds its key.
    parts = check_configuration(config, plugins, transports=transports)
    adapters = parts.adapters
    store = store if store is not None else open_store(config)
    targets = {
        name: Target(
            adapter=adapter,
            policy=RetryPolicy(config.adapters[name].retry),
            breaker=CircuitBreaker(config.adapters[name].circuit_breaker, name=name),
        )
        for name, adapter in adapters.items()
    }
    metrics = HubMetrics()
    workers = DeliveryWorkers(store, targets, config.hub.workers, observer=metrics)
    breakers = {name: target.breaker for name, target in targets.items()}
    lookups = build_lookups(config, plugins, store, breakers, transports=transports)
    router = Router(config.routes)
    intake = Intake(
        store,
        router,
        parts.preparations,
        on_accepted=metrics.accepted.inc,
        dispatch=workers,
        verifier=XmlVerifier(parts.trust),
        text=parts.text,
        document_limits=XmlLimits.for_documents(config.hub.api.document_limit),
    )
    owner = worker_identity()
    receivers = build_receivers(config, store, intake, breakers, owner, transports=transports)
    notices = build_notice_makers(
        config.hub.notify, store, intake, hub_agency=config.hub.hub.agency, owner=owner
    )
    pollers = build_pollers(config, parts.polls, store, intake, breakers, owner, [*receivers, *notices])
    pollers.pollers += scheduled_reconciliations(
        config, store, intake, workers, pollers, parts.inbound, owner
    )
    return Hub(
        config=config,
        store=store,
        adapters=adapters,
        router=router,
        intake=intake,
        workers=workers,
        inbound=parts.inbound,
        callers=parts.callers,
        lookups=lookups,
        pollers=pollers,
        sealer=build_sealer(config, store, owner),
        metrics=metrics,
    )
