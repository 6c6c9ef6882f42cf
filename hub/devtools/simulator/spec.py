"""What a simulator serves, resolved from an adapter's ``simulator:`` section: files, secrets, the hub.

The YAML models (:mod:`lienthong.config.models`) say what an operator wrote; a :class:`SimulatorSpec`
is that with every path resolved from the project root, the secrets read from the environment, and the
hub the callbacks go to decided (CLI over YAML), so the engine never looks at configuration again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lienthong.config.models import Configuration, SimulatorConfig, SimulatorService
from lienthong.errors import HubError

__all__ = [
    "CallbackTarget",
    "OperationSpec",
    "QuerySpec",
    "ServiceSpec",
    "SessionSpec",
    "SigningFiles",
    "SimulatorSpec",
    "StepSpec",
    "simulator_spec",
]


@dataclass(frozen=True)
class StepSpec:
    """A later step of a case: wait ``after`` seconds, call the hub's ``call`` operation, set ``status``."""

    after: float = 0.0
    status: str | None = None
    call: str | None = None  # an inbound operation of the adapter
    soap_action: str | None = None
    body: Path | None = None  # XSLT: stored request -> callback body


@dataclass(frozen=True)
class OperationSpec:
    """One operation: its answer XSLT, business-key XPath, first status and later steps."""

    name: str  # SOAP: Clark name of the request element; REST: the operation's name
    answer: Path
    key: str | None = None
    status: str = "received"
    then: tuple[StepSpec, ...] = ()
    lookup: bool = False
    method: str = "POST"  # REST
    path: str | None = None  # REST
    match: Mapping[str, str] = field(default_factory=dict)  # REST
    request_schema: Path | None = None  # REST
    answer_schema: Path | None = None  # REST
    status_from: str | None = None  # XPath: the record's status from the request
    digests: str | None = None  # XPath: base64 values whose SHA-256 the answer XSLT gets


@dataclass(frozen=True)
class QuerySpec:
    element: str | None = None  # SOAP: Clark name
    method: str = "GET"
    path: str | None = None


@dataclass(frozen=True)
class SessionSpec:
    """REST: the login a simulated portal requires, with the credentials it accepts (from the env)."""

    login_path: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    body_field: str = "session"
    ttl: float = 1800.0
    code_field: str = "error_code"
    expired_code: str = "-1"


@dataclass(frozen=True)
class ServiceSpec:
    """One endpoint: a SOAP service on ``path``, or REST operations (by default) on ``path``."""

    name: str  # unique within the simulator: records are keyed by (service, message id)
    path: str
    protocol: Literal["soap", "rest"] = "soap"
    schema: Path | None = None
    wsdl: Path | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)
    operations: tuple[OperationSpec, ...] = ()
    message_id_header: str = "X-Message-Id"
    message_id_field: str | None = None
    query: QuerySpec | None = None
    api_key: tuple[str, str] | None = field(default=None, repr=False)  # REST: (header, expected key)
    session: SessionSpec | None = None  # REST

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.startswith("/_sim"):
            raise ValueError(f"simulator path must start with '/' and not with '/_sim': {self.path!r}")


@dataclass(frozen=True)
class SigningFiles:
    """The key the simulator signs its callbacks with, as the agency it stands for."""

    key_file: Path
    certificate_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    policy: Literal["xmldsig", "xades-bes"] = "xmldsig"
    algorithm: Literal["rsa-sha256", "ecdsa-sha256"] = "rsa-sha256"


@dataclass(frozen=True)
class CallbackTarget:
    """Where callbacks go: ``POST {hub_url}/soap/{adapter}``, as ``agency``, with ``api_key``."""

    hub_url: str
    adapter: str
    agency: str
    api_key: str | None = field(default=None, repr=False)
    signing: SigningFiles | None = None
    retry_initial: float = 0.5
    retry_max: float = 30.0

    @property
    def url(self) -> str:
        return f"{self.hub_url.rstrip('/')}/soap/{self.adapter}"


@dataclass(frozen=True)
class SimulatorSpec:
    """What an adapter declares about the system it simulates; the paths are files it ships."""

    name: str
    services: tuple[ServiceSpec, ...]
    store: str = ":memory:"  # SQLite file, or ":memory:"
    callbacks: CallbackTarget | None = None  # None: no hub to call (steps that call wait)
    inbound_schema: Path | None = None  # validates callback bodies before they are sent

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if not self.services or len(names) != len(set(names)):
            raise ValueError("a simulator serves one or more services with distinct names")

    @property
    def path(self) -> str:
        """The first service's path (the SOAP endpoint adapters are configured with)."""
        return self.services[0].path


def _env_secret(environ: Mapping[str, str], name: str, what: str) -> str:
    if not (value := environ.get(name)):
        raise HubError(f"the simulator checks the {what} its callers send: set {name}")
    return value


def _service(
    config: Configuration,
    index: int,
    service: SimulatorService,
    inbound: Mapping[str, str | None],
    environ: Mapping[str, str],
) -> ServiceSpec:
    ops = []
    for name, op in service.operations.items():
        steps = []
        for step in op.then:
            if step.call is not None and step.call not in inbound:
                known = ", ".join(sorted(inbound)) or "none: the adapter has no 'inbound:' section"
                raise HubError(
                    f"simulator step calls '{step.call}', not an inbound operation (known: {known})"
                )
            steps.append(
                StepSpec(
                    after=step.after.total_seconds(),
                    status=step.status,
                    call=step.call,
                    soap_action=inbound.get(step.call) if step.call else None,
                    body=config.resolve(step.body) if step.body is not None else None,
                )
            )
        ops.append(
            OperationSpec(
                name=service.clark(name) if service.protocol == "soap" else name,
                answer=config.resolve(op.answer),
                key=op.key,
                status=op.status,
                then=tuple(steps),
                lookup=op.lookup,
                method=op.method,
                path=op.path,
                match=dict(op.match),
                request_schema=config.resolve(op.request_schema) if op.request_schema else None,
                answer_schema=config.resolve(op.answer_schema) if op.answer_schema else None,
                status_from=op.status_from,
                digests=op.digests,
            )
        )
    query = None
    if (q := service.query) is not None:
        query = QuerySpec(
            element=service.clark(q.element) if q.element else None, method=q.method, path=q.path
        )
    api_key = None
    if (key := service.api_key) is not None:
        api_key = (key.header, _env_secret(environ, key.env, "API key"))
    session = None
    if (login := service.session) is not None:
        session = SessionSpec(
            login_path=login.login_path,
            username=_env_secret(environ, login.username_env, "username"),
            password=_env_secret(environ, login.password_env, "password"),
            body_field=login.field,
            ttl=login.ttl.total_seconds(),
            code_field=login.code_field,
            expired_code=login.expired_code,
        )
    return ServiceSpec(
        name=f"{service.protocol}{index}" if index else service.protocol,
        path=service.path,
        protocol=service.protocol,
        schema=config.resolve(service.schema_) if service.schema_ is not None else None,
        wsdl=config.resolve(service.wsdl) if service.wsdl is not None else None,
        namespaces=dict(service.namespaces),
        operations=tuple(ops),
        message_id_header=service.message_id_header,
        message_id_field=service.message_id_field,
        query=query,
        api_key=api_key,
        session=session,
    )


def _env_path(environ: Mapping[str, str], name: str | None, given: Path | None, what: str) -> Path | None:
    if given is not None or name is None:
        return given
    if not (value := environ.get(name)):
        raise HubError(
            f"the simulator signs its callbacks: set {name} to the {what} (or pass it on the command line)"
        )
    return Path(value)


def _signing(
    sim: SimulatorConfig, environ: Mapping[str, str], key: Path | None, certificate: Path | None
) -> SigningFiles | None:
    if sim.signing is None and key is None:
        return None
    s = sim.signing
    key_file = _env_path(environ, s.key_file_env if s else None, key, "private key file")
    cert = _env_path(environ, s.certificate_file_env if s else None, certificate, "certificate file")
    assert key_file is not None
    password = environ.get(s.password_env) if s is not None and s.password_env else None
    return SigningFiles(
        key_file=key_file,
        certificate_file=cert,
        password=password,
        policy=s.policy if s else "xmldsig",
        algorithm=s.algorithm if s else "rsa-sha256",
    )


def simulator_spec(
    config: Configuration,
    adapter: str,
    *,
    store: str | Path | None = None,
    hub_url: str | None = None,
    environ: Mapping[str, str] = os.environ,
    sign_key: Path | None = None,
    sign_certificate: Path | None = None,
) -> SimulatorSpec:
    """The simulator an adapter's YAML declares, its files resolved from the configuration's root.

    ``store`` and ``hub_url`` override the YAML (the CLI's ``--store``, ``--hub-url``); the API key and
    signing files come from the environment variables the YAML names (or ``sign_key``/``sign_certificate``).
    Without a hub URL the simulator calls nobody: steps that call the hub stay pending until one is given."""
    settings = config.adapters.get(adapter)
    if settings is None:
        known = ", ".join(sorted(config.adapters)) or "none configured"
        raise HubError(f"no adapter '{adapter}' in {config.config_dir} (configured: {known})")
    sim = settings.simulator
    if sim is None:
        raise HubError(f"adapter '{adapter}' declares no simulator (a 'simulator:' section in its YAML)")
    if sim.is_edxml:
        raise HubError(
            f"adapter '{adapter}' simulates an edXML system (kind {sim.kind}): "
            "lienthong.devtools.simulator.axis serves it"
        )
    inbound = {
        name: op.soap_action for name, op in (settings.inbound.operations if settings.inbound else {}).items()
    }
    services = tuple(_service(config, i, s, inbound, environ) for i, s in enumerate(sim.service_list()))
    location = str(store) if store is not None else sim.store or f"var/sim/{adapter}.db"
    if location != ":memory:":
        location = str(config.resolve(Path(location)))
    callbacks = None
    if hub_url := hub_url or sim.hub_url:
        api_key = None
        if sim.api_key_env is not None and not (api_key := environ.get(sim.api_key_env)):
            raise HubError(f"the simulator calls the hub with the API key in {sim.api_key_env}: set it")
        callbacks = CallbackTarget(
            hub_url=hub_url,
            adapter=adapter,
            agency=settings.agency,
            api_key=api_key,
            signing=_signing(sim, environ, sign_key, sign_certificate),
            retry_initial=sim.retry_initial.total_seconds(),
            retry_max=sim.retry_max.total_seconds(),
        )
    inbound_schema = config.resolve(settings.inbound.schema_) if settings.inbound is not None else None
    return SimulatorSpec(adapter, services, location, callbacks, inbound_schema)
