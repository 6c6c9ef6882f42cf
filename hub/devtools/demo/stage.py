"""The demo's stage: the hub and every ministry simulator the configuration declares, on loopback,
calling each other as the real systems do.

Everything runs over real sockets; nothing is faked inside the hub. The stage takes the project's own
configuration and changes only what a one-minute run needs: a fresh SQLite file, every adapter pointed
at its simulator, retry and circuit-breaker timings short enough for an outage to pass in seconds, and
API keys made for this run only — the one-stop system's, and one per simulator that calls the hub back
(its ``api_key_env``), the same key given to the simulator and added to the hub's caller for its agency.
The hub's socket is bound first, so the simulators know where to call before the hub exists; with
``--sign`` the development CA is made before any simulator starts, so the ministries behind the
national axis sign their first status package with their own keys (:mod:`.edxml_stage` starts the
edXML simulators, which are an engine of their own).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from lienthong.compose import Hub, build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import (
    AdapterConfig,
    Caller,
    CircuitBreakerConfig,
    Configuration,
    RetryPolicyConfig,
    SigningPolicyConfig,
)
from lienthong.devtools.background import BackgroundServer, bound_socket
from lienthong.devtools.demo.edxml_stage import (
    DEMO_RECEIVE_INTERVAL,
    axis_ministries,
    edxml_signing,
    start_edxml_simulator,
)
from lienthong.devtools.simulator import SERVER_LOOP, create_simulator_app, simulator_spec
from lienthong.intake.callers import API_KEY_HEADER, api_key_digest
from lienthong.intake.rest import create_app
from lienthong.trust.keys import DevCa, create_dev_ca

__all__ = [
    "PROVINCE",
    "DemoStage",
    "Simulated",
    "demo_callers",
    "demo_configuration",
    "dossier_body",
    "project_root",
]

PROVINCE = "000.00.00.H49"
#: The adapter whose outage the demo shows and whose payloads it signs.
SIGNED_ADAPTER = "land"
DEMO_RETRY = RetryPolicyConfig(
    max_attempts=20,
    max_age=timedelta(minutes=5),
    initial_backoff=timedelta(milliseconds=500),
    max_backoff=timedelta(seconds=3),
    multiplier=2.0,
    jitter=timedelta(milliseconds=300),
)
#: How often the demo's hub polls a system that never calls back (justice's civil status results).
DEMO_POLL_INTERVAL = timedelta(seconds=1)
DEMO_BREAKER = CircuitBreakerConfig(failure_threshold=3, reset_after=timedelta(seconds=2))


def project_root() -> Path:
    """The checkout this hub runs from: the current directory if it has config/, else the package's."""
    cwd = Path.cwd()
    if (cwd / "config" / "hub.yaml").is_file():
        return cwd
    return Path(__file__).resolve().parents[3]


def dossier_body(
    code: str, procedure: str, xml: bytes, sender_message_id: str | None = None
) -> dict[str, object]:
    """An intake request as the provincial one-stop system sends it (also used by the tests)."""
    return {
        "sender_message_id": sender_message_id or f"motcua-{code}",
        "kind": "dossier",
        "sender": PROVINCE,
        "procedure_code": procedure,
        "dossier_code": code,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(xml).decode("ascii"),
    }


def demo_callers(callers: list[Caller], keys: Mapping[str, str]) -> list[Caller]:
    """The configured callers, where the first caller of each agency in ``keys`` (agency → API key)
    also has that key — one key is one caller: the province's one-stop system comes first, and its
    document system (QLVB) keeps a key of its own; an agency with no caller gets one (the one-stop
    system: submit and read; a ministry: its SOAP door)."""
    first = {c.agency: c for c in reversed(callers)}
    out = [
        c.model_copy(update={"api_key_sha256": [*c.api_key_sha256, api_key_digest(keys[c.agency])]})
        if c.agency in keys and first[c.agency] is c
        else c
        for c in callers
    ]
    known = {c.agency for c in callers}
    for agency, key in keys.items():
        if agency not in known:
            services = ["rest:submit", "rest:read"] if agency == PROVINCE else ["soap:*"]
            out.append(
                Caller(agency=agency, name="demo", api_key_sha256=[api_key_digest(key)], services=services)
            )
    return out


def _moved(url: str | None, base: str) -> str | None:
    """``url`` with the scheme, host and port of ``base`` (its path kept): the simulator's address."""
    if url is None:
        return None
    to, at = urlsplit(base), urlsplit(url)
    return urlunsplit((to.scheme, to.netloc, at.path, at.query, at.fragment))


def _moved_urls(options: Mapping[str, object], base: str) -> dict[str, object]:
    """Plugin options with every ``*_url`` (a REST session's ``login_url``) at the simulator too."""
    out: dict[str, object] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):
            out[key] = _moved_urls(value, base)
        elif key.endswith("_url") and isinstance(value, str):
            out[key] = _moved(value, base)
        else:
            out[key] = value
    return out


def _at_simulator(adapter: AdapterConfig, base: str) -> AdapterConfig:
    operations = {
        name: op.model_copy(
            update={"endpoint": _moved(op.endpoint, base), "options": _moved_urls(op.options, base)}
        )
        for name, op in adapter.operations.items()
    }
    polling = {
        name: poll.model_copy(
            update={
                "interval": DEMO_POLL_INTERVAL,
                "request": poll.request.model_copy(
                    update={
                        "endpoint": _moved(poll.request.endpoint, base),
                        "options": _moved_urls(poll.request.options, base),
                    }
                ),
            }
        )
        for name, poll in adapter.polling.items()
    }
    receiving = adapter.receiving
    if receiving is not None:
        receiving = receiving.model_copy(update={"interval": DEMO_RECEIVE_INTERVAL})
    return adapter.model_copy(
        update={
            "endpoint": _moved(adapter.endpoint, base),
            "options": _moved_urls(adapter.options, base),
            "operations": operations,
            "polling": polling,
            "receiving": receiving,
            "retry": DEMO_RETRY,
            "circuit_breaker": DEMO_BREAKER,
        }
    )


def demo_configuration(
    config: Configuration, *, database: Path, simulators: Mapping[str, str], keys: Mapping[str, str]
) -> Configuration:
    """The project's own configuration, with a fresh database, each adapter in ``simulators`` (name →
    the simulator's base URL) pointed there with demo-sized timings, and ``keys`` (agency → API key)
    accepted from the callers of those agencies."""
    adapters = {
        name: _at_simulator(adapter, simulators[name]) if name in simulators else adapter
        for name, adapter in config.adapters.items()
    }
    hub = config.hub.model_copy(
        update={
            "database": config.hub.database.model_copy(update={"url": f"sqlite:///{database}"}),
            "api": config.hub.api.model_copy(update={"port": 0}),
            "workers": config.hub.workers.model_copy(update={"poll_interval": timedelta(milliseconds=200)}),
            "callers": demo_callers(config.hub.callers, keys),
        }
    )
    return config.model_copy(update={"hub": hub, "adapters": adapters})


def demo_ca(config: Configuration, keys_dir: Path) -> DevCa:
    """Development keys made in ``keys_dir`` (``hub keys dev-ca``): the hub's, the land registry's and
    one per ministry the axis simulator plays (``<keys_dir>/agencies/<code>.key``)."""
    land = config.adapters[SIGNED_ADAPTER]
    return create_dev_ca(
        keys_dir,
        config.hub.hub.agency,
        {land.agency: "Văn phòng đăng ký đất đai", **axis_ministries(config)},
        hub_name=config.hub.hub.name,
    )


def demo_signing(config: Configuration, ca: DevCa) -> Configuration:
    """The configuration signing with the development keys of ``ca`` (the first, RSA-SHA256): the land
    adapter what it sends (xmldsig), the axis adapter the province's documents (edxml), and the
    ministries' documents and status packages required to be signed under that CA."""
    land = config.adapters[SIGNED_ADAPTER]
    keys = config.hub.keys.model_copy(update={"signing": ca.key_references()})
    land = land.model_copy(update={"signing": SigningPolicyConfig(policy="xmldsig")})
    hub = config.hub.model_copy(update={"keys": keys})
    signed = config.model_copy(update={"hub": hub, "adapters": {**config.adapters, SIGNED_ADAPTER: land}})
    return edxml_signing(signed, ca.ca_certificate, axis_ministries(config))


def demo_secrets(adapter: AdapterConfig) -> dict[str, str]:
    """Secrets made for this run, for what a REST system and the hub check of each other (an API key,
    a portal's login): those the simulator checks and those the hub's ``rest`` plugin presents, set in
    this process's environment, where the plugin reads them, unless the operator has set them."""
    names: list[str] = []
    for service in adapter.simulator.service_list() if adapter.simulator else ():
        names += [service.api_key.env] if service.api_key else []
        names += [service.session.username_env, service.session.password_env] if service.session else []
    option_sets = [adapter.options, *(op.options for op in adapter.operations.values())]
    option_sets += [poll.request.options for poll in adapter.polling.values()]
    for options in option_sets:
        key, session = options.get("api_key"), options.get("session")
        names += [key["env"]] if isinstance(key, Mapping) and "env" in key else []
        if isinstance(session, Mapping):
            names += [session[k] for k in ("username_env", "password_env") if k in session]
    return {name: os.environ.setdefault(name, f"demo-{secrets.token_urlsafe(16)}") for name in names}


@dataclass
class Simulated:
    """A simulator of the stage (a ministry's services, the national axis, QLVB), and a client on
    its control API (``/_sim/``)."""

    adapter: str
    #: ``http://127.0.0.1:<port>``: its control API, and where the adapter's endpoints are moved.
    base_url: str
    #: Its first service's endpoint (the axis: the protocol's base), as the adapter is configured.
    url: str
    control: httpx.Client
    stop: Callable[[], None]


def _start_simulator(
    config: Configuration, name: str, *, hub_url: str, keys: dict[str, str], ca: DevCa | None
) -> Simulated:
    """The adapter's simulator on a free loopback port; a simulator that calls the hub back gets its
    agency's key of this run (``keys``, added to as needed)."""
    adapter = config.adapters[name]
    assert adapter.simulator is not None
    if adapter.simulator.is_edxml:
        keys_dir = ca.directory / "agencies" if ca is not None else None
        edxml = start_edxml_simulator(config, name, hub_url=hub_url, keys_dir=keys_dir)
        control = httpx.Client(base_url=edxml.base_url, timeout=10)
        return Simulated(name, edxml.base_url, edxml.url, control, edxml.stop)
    environ = demo_secrets(adapter)
    if (env := adapter.simulator.api_key_env) is not None:
        environ[env] = keys.setdefault(adapter.agency, secrets.token_urlsafe(32))
    spec = simulator_spec(config, name, store=":memory:", hub_url=hub_url, environ=environ)
    server = BackgroundServer(create_simulator_app(spec), loop=SERVER_LOOP).start()
    control = httpx.Client(base_url=server.url, timeout=10)
    return Simulated(name, server.url, server.url + spec.path, control, server.stop)


@dataclass
class DemoStage:
    """The running hub (``api``: a client as the one-stop system) and the simulators, by adapter."""

    root: Path
    hub: Hub
    server: BackgroundServer
    api: httpx.Client
    api_key: str
    simulators: dict[str, Simulated]
    workdir: Path
    ca: DevCa | None = None

    @classmethod
    def start(cls, root: Path, *, sign: bool, faults: Mapping[str, Mapping[str, object]] = {}) -> DemoStage:
        """Start every simulator the configuration declares (with ``faults``, by adapter, set before
        the hub can call it), then the hub. Keys and database are this run's, under var/demo/; with
        ``sign``, the development CA is made first, so that the simulated ministries sign with it."""
        config = load_configuration(root / "config")
        workdir = root / "var" / "demo"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        ca = demo_ca(config, workdir / "keys") if sign else None  # before the ministries start
        sock = bound_socket()
        hub_url = "http://{}:{}".format(*sock.getsockname()[:2])
        keys = {PROVINCE: secrets.token_urlsafe(32)}
        simulators: dict[str, Simulated] = {}
        try:
            for name, adapter in sorted(config.adapters.items()):
                if adapter.simulator is None:
                    continue
                simulated = _start_simulator(config, name, hub_url=hub_url, keys=keys, ca=ca)
                simulators[name] = simulated
                if name in faults:
                    simulated.control.put("/_sim/faults", json=dict(faults[name])).raise_for_status()
            demo = demo_configuration(
                config,
                database=workdir / "hub.db",
                simulators={name: s.base_url for name, s in simulators.items()},
                keys=keys,
            )
            if ca is not None:
                demo = demo_signing(demo, ca)
            hub = build_hub(demo)
            server = BackgroundServer(create_app(hub), sock=sock, loop=demo.hub.api.event_loop).start()
        except BaseException:
            for simulated in simulators.values():
                simulated.control.close()
                simulated.stop()
            sock.close()
            raise
        api = httpx.Client(base_url=server.url, timeout=30, headers={API_KEY_HEADER: keys[PROVINCE]})
        return cls(root, hub, server, api, keys[PROVINCE], simulators, workdir, ca)

    def close(self) -> None:
        self.api.close()
        self.server.stop()
        self.hub.close()
        for simulated in self.simulators.values():
            simulated.control.close()
            simulated.stop()
