"""The hub as production runs it, for ``bench/e2e.py --processes`` and ``--worker-process``: ``hub
serve [--processes N]`` (and ``hub worker``) in processes of their own, from a configuration
directory written for the run.

The configuration is the project's own, copied, with the benchmark's overrides written into the
files (database, worker count, signing key and policy, the bench's caller, the routes) and the
addresses and the portal's account given in the environment, as an operator would
(``LAND_ENDPOINT``, ``DVCQG_*``). Its root (where ``schemas/`` and ``mappings/`` are resolved) is a
directory of links to the project's entries, so the hub reads the same files as in-process runs.

The hub's CPU is that of every process in its process group (the command, uvicorn's supervisor and
the processes it starts), read from ``/proc``: ``hub serve`` is started in a session of its own,
and so is ``hub worker``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

#: ``python -c`` entry: the ``hub`` console script of whichever checkout ``lienthong`` resolves to.
HUB_COMMAND = "import sys; sys.argv[0] = 'hub'; from lienthong.cli import main; main()"


def config_root(folder: Path, project: Path) -> Path:
    """``folder`` holding links to every entry of ``project`` but its ``config``: the root a
    configuration directory written under it resolves ``schemas/`` and ``mappings/`` against."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in project.iterdir():
        if entry.name != "config" and not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return folder


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def write_config(
    root: Path,
    project: Path,
    name: str,
    *,
    database_url: str,
    workers: int,
    caller: Mapping[str, Any],
    keys: Sequence[Mapping[str, Any]] | None,
    land_only: bool,
) -> Path:
    """A copy of ``project/config`` at ``root/name`` with the run's overrides written in."""
    target = root / name
    shutil.copytree(project / "config", target)

    def hub(data: dict[str, Any]) -> None:
        data.setdefault("database", {})["url"] = database_url
        data.setdefault("workers", {})["count"] = workers
        data["callers"] = [*data.get("callers", []), dict(caller)]
        if keys is not None:
            data["keys"] = {"signing": [dict(k) for k in keys]}

    _edit(target / "hub.yaml", hub)
    if keys is not None:
        _edit(
            target / "adapters/land.yaml",
            lambda data: data.update(signing={"policy": "xmldsig", "algorithm": "rsa-sha256"}),
        )
    if land_only:
        _edit(target / "routes.yaml", _land_only)
    return target


def _land_only(data: dict[str, Any]) -> None:
    for route in data["routes"]:
        if route["name"] == "land-transfer":
            route["targets"] = ["land"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class HubProcesses:
    """``hub serve`` (``processes`` of them behind one port) and, with ``worker``, one ``hub worker``."""

    def __init__(
        self,
        serve_config: Path,
        *,
        processes: int,
        env: Mapping[str, str],
        worker_config: Path | None = None,
        log_dir: Path,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(env)
        self.log_dir = log_dir
        serve = ["serve", "--config", str(serve_config), "--port", str(self.port)]
        if processes > 1:
            serve += ["--processes", str(processes)]
        self.commands = [serve]
        if worker_config is not None:
            self.commands.append(["worker", "--config", str(worker_config)])
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 120.0) -> HubProcesses:
        for number, command in enumerate(self.commands):
            log = (self.log_dir / f"hub-{number}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", HUB_COMMAND, *command],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a process group of its own: its CPU is read from it
                )
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a hub process stopped at start: {self.logs()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the hub did not answer within {timeout}s: {self.logs()}")

    def logs(self) -> str:
        text = ""
        for path in sorted(self.log_dir.glob("hub-*.log")):
            text += path.read_text(errors="replace")[-2000:]
        return text

    def pids(self) -> list[int]:
        """Every live process in the hub's process groups (supervisor, its processes, the worker)."""
        groups = {p.pid for p in self.procs}
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) in groups:
                found.append(int(entry.name))
        return found

    def cpu(self) -> float:
        """User + system CPU seconds of every process in the groups so far (a process that ended
        before this call is not counted: none of them should end during a run)."""
        total = 0.0
        for pid in self.pids():
            try:
                parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self, timeout: float = 60.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
