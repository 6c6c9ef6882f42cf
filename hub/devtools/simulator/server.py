"""Serving a simulator: in the foreground (``hub simulate``), or on a free loopback port in a thread."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator.app import create_simulator_app
from lienthong.devtools.simulator.core import SERVER_LOOP, SimulatorCore
from lienthong.devtools.simulator.faults import FaultPlan
from lienthong.devtools.simulator.spec import SimulatorSpec

__all__ = ["SERVER_OPTIONS", "SimulatorServer", "background_simulator", "run_simulator"]

#: uvicorn's options for a simulator: h11 and asyncio's loop, because the "reset" fault cuts the
#: connection through h11's cycle's transport, an ``asyncio.Transport`` (``core.stall_or_cut``); the
#: lifespan runs the callback task.
SERVER_OPTIONS: Final[Mapping[str, Any]] = {
    "http": "h11",
    "loop": SERVER_LOOP,
    "ws": "none",
    "lifespan": "on",
}


def run_simulator(
    spec: SimulatorSpec, host: str = "127.0.0.1", port: int = 8701, faults: FaultPlan | None = None
) -> None:
    """Serve the simulator in the foreground until interrupted (CLI, manual testing)."""
    config = uvicorn.Config(create_simulator_app(spec, faults), host=host, port=port, **SERVER_OPTIONS)
    uvicorn.Server(config).run()


def background_simulator(app: ASGIApp, host: str = "127.0.0.1") -> BackgroundServer:
    """A simulator's app on a free port of ``host`` in a thread (not started), with ``SERVER_OPTIONS``
    whatever loop the hub's server uses."""
    return BackgroundServer(app, host, timeout_graceful_shutdown=2, **SERVER_OPTIONS)


class SimulatorServer:
    """The simulator on a free loopback port in a background thread: ``with SimulatorServer(spec) as s:``.

    Stopping it closes its records; starting another on the same ``spec.store`` file is a restart."""

    def __init__(
        self, spec: SimulatorSpec, faults: FaultPlan | None = None, *, host: str = "127.0.0.1"
    ) -> None:
        self.spec, self.host, self.port = spec, host, 0
        self.faults = faults or FaultPlan()
        self.app: Starlette = create_simulator_app(spec, self.faults)
        self._server: BackgroundServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.spec.path

    @property
    def core(self) -> SimulatorCore:
        core: SimulatorCore = self.app.state.simulator
        return core

    def stats(self) -> dict[str, int]:
        return self.core.stats()

    def start(self, timeout: float = 10.0) -> None:
        self._server = background_simulator(self.app, self.host).start(timeout)
        self.port = self._server.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=10)
            self.core.store.close()
        self._server = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
