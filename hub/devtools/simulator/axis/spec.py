"""What an edXML simulator serves, resolved from an adapter's ``simulator:`` section (kind ``edxml-axis``
or ``edxml-qlvb``): paths from the project root, secrets from the environment, defaults per kind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from lienthong.config.models import Configuration
from lienthong.errors import HubError

__all__ = ["DEFAULT_ANSWERS", "EdxmlSimSpec", "HubTarget", "ScriptedAgency", "edxml_simulator_spec"]

Kind = Literal["edxml-axis", "edxml-qlvb"]
#: What a simulated agency answers a new document with, unless its YAML says otherwise. On the axis a
#: ministry acknowledges arrival itself; behind QLVB the hub answers 01, so the office starts at 03.
DEFAULT_ANSWERS: Final[Mapping[str, tuple[str, ...]]] = {
    "edxml-axis": ("01", "03", "05", "06"),
    "edxml-qlvb": ("03", "05", "06"),
}


@dataclass(frozen=True)
class ScriptedAgency:
    """An agency the simulator plays: what it answers a new document with, and a change (15 or 16)."""

    code: str
    name: str | None = None
    answers: tuple[str, ...] = ()
    refuse_changes: bool = False
    delay: float = 0.2

    def script(self, is_change: bool) -> tuple[str, ...]:
        """The StatusCodes, in order, for a new document or a revocation/update/replacement."""
        if not is_change:
            return self.answers
        verdict = "16" if self.refuse_changes else "15"
        return ("01", verdict) if self.answers[:1] == ("01",) else (verdict,)


@dataclass(frozen=True)
class HubTarget:
    """Where QLVB hands its status packages: ``POST {hub_url}/api/v1/messages`` with its API key."""

    hub_url: str
    api_key: str | None = field(default=None, repr=False)
    retry_initial: float = 0.5
    retry_max: float = 30.0

    @property
    def url(self) -> str:
        return f"{self.hub_url.rstrip('/')}/api/v1/messages"


@dataclass(frozen=True)
class EdxmlSimSpec:
    """One edXML simulator: the axis, or the province's document system."""

    name: str
    kind: Kind
    base_path: str = ""  # the protocol's endpoints are {base_path}/sendEdoc …
    store: str = ":memory:"
    api_key: tuple[str, str] | None = field(default=None, repr=False)  # (header, expected key)
    agencies: Mapping[str, ScriptedAgency] = field(default_factory=dict)
    keys_dir: Path | None = None
    hub: HubTarget | None = None  # QLVB: where its answers go (None: they wait)


def edxml_simulator_spec(
    config: Configuration,
    adapter: str,
    *,
    store: str | Path | None = None,
    hub_url: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> EdxmlSimSpec:
    """The edXML simulator an adapter's YAML declares. ``store`` and ``hub_url`` override the YAML
    (``hub simulate --store/--hub-url``); the keys come from the variables the YAML names."""
    settings = config.adapters.get(adapter)
    if settings is None:
        known = ", ".join(sorted(config.adapters)) or "none configured"
        raise HubError(f"no adapter '{adapter}' in {config.config_dir} (configured: {known})")
    sim = settings.simulator
    if sim is None or sim.kind == "services":
        raise HubError(
            f"adapter '{adapter}' declares no edXML simulator (simulator: kind: edxml-axis or edxml-qlvb)"
        )
    kind: Kind = sim.kind
    location = str(store) if store is not None else sim.store or f"var/sim/{adapter}.db"
    if location != ":memory:":
        location = str(config.resolve(Path(location)))
    api_key = None
    if sim.api_key is not None:
        if not (expected := environ.get(sim.api_key.env)):
            raise HubError(f"the simulator checks the API key its callers send: set {sim.api_key.env}")
        api_key = (sim.api_key.header, expected)
    agencies = {
        code: ScriptedAgency(
            code=code,
            name=agency.name,
            answers=tuple(agency.answers) if agency.answers is not None else DEFAULT_ANSWERS[kind],
            refuse_changes=agency.refuse_changes,
            delay=(agency.delay or sim.delay).total_seconds(),
        )
        for code, agency in sim.agencies.items()
    }
    hub = None
    if kind == "edxml-qlvb" and (url := hub_url or sim.hub_url):
        key = None
        if sim.api_key_env is not None and not (key := environ.get(sim.api_key_env)):
            raise HubError(f"the simulator calls the hub with the API key in {sim.api_key_env}: set it")
        hub = HubTarget(url, key, sim.retry_initial.total_seconds(), sim.retry_max.total_seconds())
    return EdxmlSimSpec(
        name=adapter,
        kind=kind,
        base_path=(sim.path or "").rstrip("/"),
        store=location,
        api_key=api_key,
        agencies=agencies,
        keys_dir=config.resolve(sim.keys_dir) if sim.keys_dir is not None else None,
        hub=hub,
    )
