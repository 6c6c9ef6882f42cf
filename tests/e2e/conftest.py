"""End-to-end fixtures: the hub over real HTTP on loopback, a real land registry simulator, the CLI.

Nothing is faked inside the hub. Every hub runs from a project directory of its own, assembled from
the tests' own pieces (tests/project_support.py: a hub.yaml for tests, the land adapter, the land
route), with a fresh SQLite file, the simulator's endpoint and retry timings short enough for a test;
never from the shipped ``config/``, so another adapter or route there changes no test here (only the
tests about what ships read it: ``shipped_project``, ``ROOT / "config"``). The same directory is what
a ``hub ... -c DIR`` subprocess reads, so the CLI and the running hub share one database, as an
operator's would. No TestClient: requests go through uvicorn, sockets and the ASGI stack a user hits.

Hubs are called as the one-stop system: its API key comes from the variable hub.yaml names for it
(given to the hub's caller registry, not to this process), and test clients send it by default.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from land_support import SIMULATOR
from project_support import LAND_ADAPTER, AdapterSource, assemble_project
from ruamel.yaml import YAML
from support import MOTCUA_API_KEY, MOTCUA_HEADERS, MOTCUA_KEY_ENV

from lienthong.compose import Hub, build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator import FaultPlan, SimulatorServer
from lienthong.intake.callers import CallerRegistry
from lienthong.intake.rest import create_app

ROOT = Path(__file__).resolve().parents[2]
HUB_SCRIPT = Path(sys.executable).parent / "hub"
#: Environment variables the project's YAML reads; scrubbed so a developer's shell cannot leak in.
_CONFIG_ENV = (
    "HUB_DATABASE_URL",
    "LAND_ENDPOINT",
    "HUB_CONFIG",
    "HUB_API_KEY",
    "HUB_MOTCUA_API_KEY",
    "HUB_LAND_API_KEY",
)
#: What the caller registry of a test hub sees of the environment.
HUB_ENVIRON: Mapping[str, str] = {MOTCUA_KEY_ENV: MOTCUA_API_KEY}

Tree = dict[str, Any]


def _merge(base: Tree, changes: Mapping[str, Any]) -> Tree:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    # Keys in the order written: an adapter's operations are tried in that order.
    yaml.representer.sort_base_mapping_type_on_output = False
    return yaml


# ---------------------------------------------------------------- project directories


@dataclass
class Project:
    """A hub project on disk: ``config/`` (editable), links to its adapters' schemas and mappings."""

    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def database(self) -> Path:
        return self.root / "var" / "hub.db"

    def read(self, name: str) -> Tree:
        data: Tree = _yaml().load((self.config_dir / name).read_text(encoding="utf-8"))
        return data

    def write(self, name: str, data: Tree) -> None:
        with (self.config_dir / name).open("w", encoding="utf-8") as f:
            _yaml().dump(data, f)

    def update(self, name: str, changes: Mapping[str, Any]) -> None:
        self.write(name, _merge(self.read(name), changes))

    def set_routes(self, routes: list[Tree]) -> None:
        self.write("routes.yaml", {"routes": routes})

    def add_adapter(self, name: str, endpoint: str, **changes: Any) -> None:
        """Another instance of the land plugin under its own name (e.g. ``land-copy``)."""
        self.write(
            f"adapters/{name}.yaml",
            _merge(self.read("adapters/land.yaml"), changes) | {"name": name, "endpoint": endpoint},
        )

    def load(self) -> Configuration:
        return load_configuration(self.config_dir, environ={})


def new_project(
    dest: Path, *, adapters: Sequence[AdapterSource] = (LAND_ADAPTER,), routes: Sequence[Tree] | None = None
) -> Project:
    """A project assembled from the tests' pieces: hub.yaml for tests, ``adapters``, ``routes``
    (default: the land route); see :func:`project_support.assemble_project`."""
    assemble_project(dest, adapters=adapters, routes=routes)
    return Project(dest)


def copy_shipped_project(dest: Path) -> Project:
    """A copy of the shipped configuration, resolving schemas and mappings as the repository does."""
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "config", dest / "config")
    for shared in ("schemas", "mappings"):
        (dest / shared).symlink_to(ROOT / shared, target_is_directory=True)
    return Project(dest)


@pytest.fixture
def pristine_project(tmp_path: Path) -> Project:
    """A test project with no test settings applied (hub.yaml for tests, land, the land route), in a
    directory of its own: to break on purpose, or to run the CLI in."""
    return new_project(tmp_path / "pristine")


@pytest.fixture
def shipped_project(tmp_path: Path) -> Project:
    """The repository's own configuration, untouched, in a directory of its own: only for tests about
    what ships (``hub demo`` runs it as a newcomer would)."""
    return copy_shipped_project(tmp_path / "shipped")


#: Timings for tests: retries within a second, a breaker that resets fast, a short shutdown.
TEST_RETRY: Tree = {
    "max_attempts": 20,
    "max_age": "5m",
    "initial_backoff": "200ms",
    "max_backoff": "1s",
    "multiplier": 2,
    "jitter": "100ms",
}
TEST_BREAKER: Tree = {"failure_threshold": 5, "reset_after": "500ms"}
TEST_WORKERS: Tree = {
    "count": 4,
    "batch_size": 8,
    "poll_interval": "100ms",
    "lease": "30s",
    "shutdown_grace": "2s",
}


@pytest.fixture
def project_factory(tmp_path: Path) -> Callable[..., Project]:
    """Build a project for a hub under test: the repository's config with test settings applied.

    ``routes`` replaces the land route; ``retry``, ``breaker`` and ``land`` are merged into land.yaml,
    ``api`` and ``workers`` into hub.yaml; ``callers`` replaces hub.yaml's callers;
    ``extra_adapters`` maps a name to an endpoint for more land instances; ``adapters`` adds adapters
    from other sources (their YAML as it comes: endpoints and timings are the test's to set).
    """
    made = 0

    def make(
        endpoint: str,
        *,
        routes: list[Tree] | None = None,
        retry: Mapping[str, Any] | None = None,
        breaker: Mapping[str, Any] | None = None,
        api: Mapping[str, Any] | None = None,
        workers: Mapping[str, Any] | None = None,
        land: Mapping[str, Any] | None = None,
        extra_adapters: Mapping[str, str] | None = None,
        callers: list[Tree] | None = None,
        adapters: Sequence[AdapterSource] = (),
    ) -> Project:
        nonlocal made
        made += 1
        project = new_project(tmp_path / f"project-{made}", adapters=(LAND_ADAPTER, *adapters), routes=routes)
        project.update(
            "hub.yaml",
            {
                "database": {"url": f"sqlite:///{project.database}"},
                "api": {"port": 0, **(api or {})},
                "workers": _merge(TEST_WORKERS, workers or {}),
            },
        )
        project.update(
            "adapters/land.yaml",
            {
                "endpoint": endpoint,
                "timeout": "5s",
                "connect_timeout": "1s",
                "retry": _merge(TEST_RETRY, retry or {}),
                "circuit_breaker": _merge(TEST_BREAKER, breaker or {}),
                **(land or {}),
            },
        )
        for name, url in (extra_adapters or {}).items():
            project.add_adapter(name, url)
        if callers is not None:
            project.write("hub.yaml", project.read("hub.yaml") | {"callers": callers})
        return project

    return make


# ---------------------------------------------------------------- the simulated land registry


class Simulator:
    """A running simulator and an HTTP client on its control API (``/_sim/``)."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.client = httpx.Client(base_url=server.base_url, timeout=10)

    @property
    def url(self) -> str:
        """The SOAP endpoint adapters are configured with."""
        return self.server.url

    def reset(self) -> None:
        self.client.post("/_sim/reset").raise_for_status()

    def faults(self, **changes: object) -> dict[str, Any]:
        response = self.client.put("/_sim/faults", json=changes)
        response.raise_for_status()
        plan: dict[str, Any] = response.json()
        return plan

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.client.get("/_sim/stats").json()
        return stats

    def received(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = self.client.get("/_sim/received").json()
        return received

    def request_hash(self, message_id: str) -> str:
        """The hash the registry computed over the request bytes it got (kept by the simulator only)."""
        records = self.client.get("/_sim/records", params={"limit": 1000}).json()
        [record] = [r for r in records if r["message_id"] == message_id]
        return str(record["request_hash"])


@pytest.fixture(scope="session")
def _land_servers() -> Iterator[dict[str, Simulator]]:
    servers: dict[str, Simulator] = {}
    try:
        for name in ("land", "land-copy"):
            server = SimulatorServer(SIMULATOR, FaultPlan(seed=1))
            server.start()
            servers[name] = Simulator(server)
        yield servers
    finally:
        for sim in servers.values():
            sim.client.close()
            sim.server.stop()


@pytest.fixture
def land_sim(_land_servers: dict[str, Simulator]) -> Simulator:
    """The land registry simulator, with no faults and nothing received."""
    sim = _land_servers["land"]
    sim.reset()
    return sim


@pytest.fixture
def land_copy_sim(_land_servers: dict[str, Simulator]) -> Simulator:
    """A second, independent land registry (for fan-out to the ``land-copy`` adapter)."""
    sim = _land_servers["land-copy"]
    sim.reset()
    return sim


# ---------------------------------------------------------------- running hubs


TERMINAL = frozenset({"delivered", "dead"})


@dataclass
class RunningHub:
    """A hub served over HTTP: ``url``, the composed ``hub``, an HTTP ``client`` and its ``project``."""

    url: str
    hub: Hub
    client: httpx.Client
    project: Project
    server: BackgroundServer = field(repr=False)

    def submit(self, body: Mapping[str, Any]) -> httpx.Response:
        return self.client.post("/api/v1/messages", json=body)

    def status(self, message_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/messages/{message_id}")
        response.raise_for_status()
        view: dict[str, Any] = response.json()
        return view

    def wait(
        self, message_id: str, states: Collection[str] = ("delivered",), *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll the status API until every delivery is in one of ``states``; fail with the last view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.status(message_id)
            deliveries = view["deliveries"]
            if deliveries and all(d["state"] in states for d in deliveries):
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"message {message_id} not in {sorted(states)} after {timeout}s: {view}")
            time.sleep(0.05)

    def count_messages(self) -> int:
        return int(self.client.get("/healthz").json()["messages"])

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        self.hub.close()


@pytest.fixture
def hub_factory(
    project_factory: Callable[..., Project], land_sim: Simulator
) -> Iterator[Callable[..., RunningHub]]:
    """Start a hub (API and workers) on a free loopback port; ``project`` or project_factory settings.

    ``environ`` is what its caller registry reads API keys from (default: the one-stop system's key);
    ``ssl`` takes uvicorn's ``ssl_*`` options; the client sends ``headers`` (default: that key) and
    checks the server's certificate with ``verify``; ``sock`` is a socket bound beforehand
    (``bound_socket``), for simulators that must know the hub's URL before it starts."""
    running: list[RunningHub] = []

    def start(
        project: Project | None = None,
        *,
        environ: Mapping[str, str] = HUB_ENVIRON,
        ssl: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] = MOTCUA_HEADERS,
        verify: ssl.SSLContext | bool = True,
        sock: socket.socket | None = None,
        **settings: Any,
    ) -> RunningHub:
        project = project or project_factory(land_sim.url, **settings)
        hub = build_hub(project.load())
        try:
            app = create_app(hub, callers=CallerRegistry(hub.config.hub.callers, environ))
            server = BackgroundServer(app, ssl=ssl, sock=sock).start()
        except BaseException:
            hub.close()
            raise
        client = httpx.Client(base_url=server.url, timeout=30, headers=dict(headers), verify=verify)
        running.append(RunningHub(url=server.url, hub=hub, client=client, project=project, server=server))
        return running[-1]

    yield start
    for hub in reversed(running):
        hub.stop()


@pytest.fixture
def hub_server(hub_factory: Callable[..., RunningHub]) -> RunningHub:
    """The project's own configuration, pointed at the land simulator, with test timings."""
    return hub_factory()


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="session")
def hub_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``hub`` console script; output captured as text, a bounded wait."""
    if not HUB_SCRIPT.is_file():
        pytest.fail(f"the hub console script is not installed beside {sys.executable}", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG_ENV}
    env |= {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "PYTHONIOENCODING": "utf-8"}
    env["HUB_API_KEY"] = MOTCUA_API_KEY  # what 'hub send' sends unless told otherwise

    def run(*args: str | Path, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HUB_SCRIPT), *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )

    return run
