"""The demo's edXML systems: the national document axis (``vpcp``) and the province's document system
(``qlvb``), started as ``hub simulate vpcp`` and ``hub simulate qlvb`` would, sized for a short run.

They are not SOAP/REST services declared as data but their own engine
(:mod:`lienthong.devtools.simulator.axis`), so the stage starts them here. What a short run changes:
mailboxes in memory; each ministry answering after a fraction of a second instead of the YAML's
second; the ministries' keys taken from the demo's development CA (made before any simulator starts,
so their first status package is already signed); and the API keys of the three doors — the axis's
(``VPCP_API_KEY``), QLVB's ``sendEdoc`` (``QLVB_AXIS_API_KEY``) and QLVB's own key for the hub's REST
intake (``HUB_QLVB_API_KEY``, which the shipped QLVB caller reads) — made for this run and set in
this process's environment, where the hub's plugin and callers read them, unless the operator set them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Final

from lienthong.config.models import (
    AdapterConfig,
    AgencyTrust,
    Configuration,
    SignerRule,
    SigningPolicyConfig,
)
from lienthong.devtools.simulator.axis import EdxmlSimulatorServer, edxml_simulator_spec

__all__ = [
    "DEMO_RECEIVE_INTERVAL",
    "DEMO_SIM_DELAY",
    "axis_ministries",
    "edxml_secrets",
    "edxml_signing",
    "start_edxml_simulator",
]

#: How often the demo's hub asks the axis what waits for the province (the YAML's 30 s would stall it).
DEMO_RECEIVE_INTERVAL: Final = timedelta(milliseconds=300)
#: How long a simulated ministry (or QLVB's office) waits before each status package.
DEMO_SIM_DELAY: Final = timedelta(milliseconds=200)


def axis_ministries(config: Configuration) -> dict[str, str]:
    """The ministries the axis simulators play (agency code → name), who need keys to sign with."""
    found: dict[str, str] = {}
    for adapter in config.adapters.values():
        sim = adapter.simulator
        if sim is not None and sim.kind == "edxml-axis":
            found |= {code: agency.name or code for code, agency in sim.agencies.items()}
    return found


def edxml_secrets(adapter: AdapterConfig) -> dict[str, str]:
    """The API keys an edXML simulator checks or presents, and the one the hub presents to it
    (``options.api_key_env``), made for this run unless already set in this process's environment."""
    sim = adapter.simulator
    names = [sim.api_key.env] if sim is not None and sim.api_key is not None else []
    names += [sim.api_key_env] if sim is not None and sim.api_key_env is not None else []
    if isinstance(env := adapter.options.get("api_key_env"), str):
        names.append(env)
    return {name: os.environ.setdefault(name, f"demo-{secrets.token_urlsafe(16)}") for name in names}


def start_edxml_simulator(
    config: Configuration, adapter: str, *, hub_url: str, keys_dir: Path | None
) -> EdxmlSimulatorServer:
    """The adapter's edXML simulator, running on a free loopback port: in memory, demo-timed, QLVB
    calling ``hub_url``; a simulator whose YAML has a ``keys_dir`` (the axis's ministries) signs with
    the keys in ``keys_dir`` instead (None: unsigned)."""
    settings = config.adapters[adapter]
    assert settings.simulator is not None and settings.simulator.is_edxml
    changes: dict[str, object] = {"delay": DEMO_SIM_DELAY}
    if settings.simulator.keys_dir is not None:
        changes["keys_dir"] = keys_dir
    sim = settings.simulator.model_copy(update=changes)
    adapters = {**config.adapters, adapter: settings.model_copy(update={"simulator": sim})}
    spec = edxml_simulator_spec(
        config.model_copy(update={"adapters": adapters}),
        adapter,
        store=":memory:",
        hub_url=hub_url,
        environ=edxml_secrets(settings),
    )
    server = EdxmlSimulatorServer(spec)
    server.start()
    return server


def edxml_signing(
    config: Configuration, ca_certificate: Path, ministries: Mapping[str, str]
) -> Configuration:
    """What ``--sign`` changes for documents: every adapter that sends the province's documents onto
    the axis signs them (policy edxml: ds:Signature last in edXMLHeader, RSA-SHA256, the hub's first
    key), and each ministry in ``ministries`` must sign what it sends, under the demo CA, with a
    certificate bound to it by its agency code (OU), as 'hub keys dev-ca' prints the trust section."""
    adapters = {
        name: adapter.model_copy(update={"signing": SigningPolicyConfig(policy="edxml")})
        if adapter.document == "edxml" and not adapter.as_received
        else adapter
        for name, adapter in config.adapters.items()
    }
    rules = {
        code: AgencyTrust(
            anchors=[ca_certificate], signers=[SignerRule(subject={"OU": code})], require_signature=True
        )
        for code in ministries
    }
    trust = config.hub.trust.model_copy(update={"agencies": {**config.hub.trust.agencies, **rules}})
    hub = config.hub.model_copy(update={"trust": trust})
    return config.model_copy(update={"hub": hub, "adapters": adapters})
