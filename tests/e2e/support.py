"""Helpers for the end-to-end tests: real ``hub`` processes, a real simulator, real sockets on loopback.

Every process started here belongs to a :class:`ProcessGroup`, which stops whatever is still running
when its ``with`` block ends (SIGTERM, then SIGKILL) and prints every process's log when the block
ends with an exception, so a failing run shows what the hub said. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from project_support import LAND_ADAPTER, make_paths_absolute, write_config
from ruamel.yaml import YAML
from sqlalchemy import Engine, create_engine, select

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.store.schema import attempts, deliveries, messages

LOOPBACK = "127.0.0.1"
PROVINCE = "000.00.00.H49"
#: The one-stop system's API key in tests; hubs get it through the variable hub.yaml names for it.
MOTCUA_API_KEY = "test-motcua-key-not-a-secret"
MOTCUA_KEY_ENV = "HUB_MOTCUA_API_KEY"
#: Headers a test client sends to act as the one-stop system.
MOTCUA_HEADERS = {"X-API-Key": MOTCUA_API_KEY}
#: Variables of the developer's shell that would silently change what a test hub does.
_INHERITED_OVERRIDES = (
    "HUB_CONFIG",
    "HUB_DATABASE_URL",
    "LAND_ENDPOINT",
    "HUB_API_KEY",
    "HUB_MOTCUA_API_KEY",
    "HUB_LAND_API_KEY",
)

T = TypeVar("T")


# ---------------------------------------------------------------- sockets and waiting


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {result!r})")
        time.sleep(interval)


def wait_for_port(port: int, *, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait until something accepts TCP connections on the loopback ``port``."""

    def accepting() -> bool:
        if not alive():
            raise AssertionError(f"the process meant to listen on port {port} has exited")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(accepting, timeout=timeout, what=f"port {port} to accept connections", interval=0.05)


# ---------------------------------------------------------------- configuration


def _merge(node: Any, overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(node.get(key), Mapping):
            _merge(node[key], value)
        else:
            node[key] = value


def build_config_dir(
    dest: Path, *, hub: Mapping[str, Any] | None = None, land: Mapping[str, Any] | None = None
) -> Path:
    """Write a test project's ``config/`` to ``dest``; merge ``hub`` into hub.yaml, ``land`` into land.yaml.

    The files come from the tests' own pieces (tests/project_support.py: hub.yaml for tests, the land
    adapter, the land route), not from the shipped ``config/``. The directory lives away from the
    adapter's schemas and mappings, so the paths its adapter file names are made absolute (the hub
    resolves relative ones from the config dir's parent). The database URL and the land endpoint stay
    ``${...}`` references, set through :func:`hub_env`.
    """
    write_config(dest, adapters=(LAND_ADAPTER,))
    yaml = YAML()  # round-trip: comments and ${...} references survive
    for path, overrides in ((dest / "hub.yaml", hub or {}), (dest / "adapters" / "land.yaml", land or {})):
        data = yaml.load(path)
        _merge(data, overrides)
        if path.parent.name == "adapters":
            make_paths_absolute(data, LAND_ADAPTER.root)
        yaml.dump(data, path)
    return dest


def agencies_signing_under_one_ca(ca_certificate: Path, *agencies: str) -> dict[str, Any]:
    """hub.yaml's ``trust`` section where each agency must sign, all under one CA, and each binds its
    own certificates by the agency code in their OU (as the 'hub keys dev-ca' snippet does)."""
    anchors = [str(ca_certificate)]
    rule = {"anchors": anchors, "require_signature": True}
    return {"trust": {"agencies": {a: {**rule, "signers": [{"subject": {"OU": a}}]} for a in agencies}}}


def sqlite_url(path: Path) -> str:
    """An absolute SQLite URL (``sqlite:////abs/path``): relative ones resolve from the project root."""
    return f"sqlite:///{path.resolve()}"


def hub_env(*, database_url: str, land_endpoint: str, **extra: str) -> dict[str, str]:
    """The environment for a hub process: this one's, minus stray overrides, plus the test's.

    The one-stop system's API key is set, so clients sending :data:`MOTCUA_HEADERS` are let in."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_OVERRIDES}
    env.update(
        HUB_DATABASE_URL=database_url,
        LAND_ENDPOINT=land_endpoint,
        HUB_MOTCUA_API_KEY=MOTCUA_API_KEY,
        PYTHONUNBUFFERED="1",
        COLUMNS="200",  # rich wraps console lines at 80 columns when writing to a file
        NO_COLOR="1",
    )
    env.update(extra)
    return env


# ---------------------------------------------------------------- processes


def hub_command(*args: str) -> list[str]:
    """The installed ``hub`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("hub")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-c", "from lienthong.cli import main; main()", *args]


@dataclass
class HubProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


class ProcessGroup:
    """Hub processes started by one test; all of them are gone when the ``with`` block ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[HubProcess] = []

    def start(self, name: str, args: Iterable[str], env: Mapping[str, str]) -> HubProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{len(self.processes):02d}-{name}.log"
        with log.open("wb") as out:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                hub_command(*args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=self.log_dir,
                start_new_session=True,  # a Ctrl-C in the terminal goes to pytest only
            )
        process = HubProcess(name, popen, log)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        parts = []
        for p in self.processes:
            parts.append(f"----- {p.name} (pid {p.pid}, exit {p.popen.returncode}) {p.log} -----")
            parts.append(p.output())
        return "\n".join(parts)

    def stop_all(self) -> None:
        for p in self.processes:
            p.send(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.send(signal.SIGKILL)
                p.wait(10)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()
        if kind is not None:
            print(self.logs())  # pytest shows it under "Captured stdout call" of the failed test


def start_serve(group: ProcessGroup, config: Path, env: Mapping[str, str], port: int) -> HubProcess:
    """``hub serve`` in a process of its own, returned once its API answers ``/healthz``."""
    process = group.start("serve", ["serve", "-c", str(config), "--verbose"], env)
    wait_for_port(port, alive=process.alive)
    with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as client:
        wait_until(lambda: client.get("/healthz").status_code == 200, timeout=10, what="hub serve to answer")
    return process


# ---------------------------------------------------------------- traffic


def submit_samples(
    base_url: str, count: int, *, concurrency: int = 8, api_key: str = MOTCUA_API_KEY
) -> list[str]:
    """POST ``count`` sample land dossiers concurrently, as the one-stop system; every one must be
    accepted (202, new).

    Returns the hub message ids from the 202 answers, in sample order.
    """
    bodies = [dossier_body(s.dossier_code, s.procedure_code, s.xml) for s in sample_dossiers(count)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"X-API-Key": api_key}
    with httpx.Client(base_url=base_url, timeout=30, limits=limits, headers=headers) as client:

        def submit(body: dict[str, object]) -> str:
            response = client.post("/api/v1/messages", json=body)
            assert response.status_code == 202, f"{body['sender_message_id']}: {response.text}"
            answer = response.json()
            assert answer["duplicate"] is False, answer
            assert answer["route"]["targets"] == ["land"], answer
            message_id: str = answer["message_id"]
            return message_id

        with ThreadPoolExecutor(concurrency, thread_name_prefix="submit") as pool:
            return list(pool.map(submit, bodies))


def health_counts(client: httpx.Client, target: str = "land") -> Counter[str]:
    """Deliveries to ``target`` by state, as the hub's ``/healthz`` reports them."""
    response = client.get("/healthz")
    response.raise_for_status()
    return Counter(response.json()["deliveries"].get(target, {}))


# ---------------------------------------------------------------- reading the database


@contextmanager
def database(url: str) -> Iterator[Engine]:
    """A read-side engine on the hub's database (the tests look, the hub's store writes)."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def delivery_states(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(row.state for row in conn.execute(select(deliveries.c.state)))


def delivery_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every delivery with its hub message id (as text) and the attempts made, in id order."""
    query = select(
        deliveries.c.id,
        deliveries.c.message_id,
        deliveries.c.state,
        deliveries.c.attempts,
        deliveries.c.claimed_by,
        deliveries.c.lease_until,
    ).order_by(deliveries.c.id)
    with engine.connect() as conn:
        return [dict(row._mapping, message_id=str(row.message_id)) for row in conn.execute(query)]


def attempt_rows(engine: Engine) -> list[dict[str, Any]]:
    query = select(
        attempts.c.delivery_id, attempts.c.number, attempts.c.worker, attempts.c.outcome, attempts.c.error
    ).order_by(attempts.c.delivery_id, attempts.c.number)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def message_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(messages.c.id)).all())
