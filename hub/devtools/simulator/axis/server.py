"""Serving an edXML simulator: in the foreground (``hub simulate vpcp``), or on loopback in a thread."""

from __future__ import annotations

from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator.axis.app import create_edxml_app
from lienthong.devtools.simulator.axis.core import EdxmlCore
from lienthong.devtools.simulator.axis.spec import EdxmlSimSpec
from lienthong.devtools.simulator.faults import FaultPlan
from lienthong.devtools.simulator.server import SERVER_OPTIONS, background_simulator

__all__ = ["EdxmlSimulatorServer", "run_edxml_simulator"]


def run_edxml_simulator(spec: EdxmlSimSpec, host: str = "127.0.0.1", port: int = 8710) -> None:
    """Serve the simulator in the foreground until interrupted (h11 and asyncio's loop: the "reset"
    fault needs them)."""
    config = uvicorn.Config(create_edxml_app(spec), host=host, port=port, **SERVER_OPTIONS)
    uvicorn.Server(config).run()


class EdxmlSimulatorServer:
    """The simulator on a free loopback port in a background thread (``with … as server:``).
    Stopping it closes its mailbox; another on the same ``spec.store`` file is a restart."""

    def __init__(
        self, spec: EdxmlSimSpec, faults: FaultPlan | None = None, *, host: str = "127.0.0.1"
    ) -> None:
        self.spec, self.host, self.port = spec, host, 0
        self.faults = faults or FaultPlan()
        self.app: Starlette = create_edxml_app(spec, self.faults)
        self._server: BackgroundServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The protocol's base: ``{url}/sendEdoc`` …"""
        return self.base_url + self.spec.base_path

    @property
    def core(self) -> EdxmlCore:
        core: EdxmlCore = self.app.state.simulator
        return core

    def start(self, timeout: float = 10.0) -> None:
        self._server = background_simulator(self.app, self.host).start(timeout)
        self.port = self._server.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=10)
            self.core.mailbox.close()
        self._server = None

    def __enter__(self) -> EdxmlSimulatorServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
