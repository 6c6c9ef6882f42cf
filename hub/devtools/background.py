"""Run an ASGI app with uvicorn in a background thread on loopback: for the demo, tests and benches.

Port 0 lets the OS pick a free port, so parallel runs never collide; ``url`` tells where it landed.
``ssl`` takes uvicorn's ``ssl_*`` options (see ``callers.server_tls_options``) to serve HTTPS.
``sock`` serves on a socket bound beforehand (:func:`bound_socket`): its URL is known before the app
exists, which a hub and the simulators that call it back need, each configured with the other's URL.
Other ``options`` are uvicorn's: ``loop`` is the event loop, chosen per server (uvicorn 0.36 and
later), uvicorn's "auto" (uvloop where installed) unless it is given: a hub's server passes
``api.event_loop``, a simulator's asyncio's (``simulator.SERVER_LOOP``), in the same process.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of ``host`` (not listening yet: the server listens on it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


class BackgroundServer:
    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        ssl: Mapping[str, Any] | None = None,
        sock: socket.socket | None = None,
        **options: Any,
    ) -> None:
        settings: dict[str, Any] = {"lifespan": "on", "access_log": False, **(ssl or {}), **options}
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, **settings)
        self.scheme = "https" if ssl and ssl.get("ssl_certfile") else "http"
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        if sock is not None:
            self.host, self.port = sock.getsockname()[:2]
        sockets = [sock] if sock is not None else None
        self._thread = threading.Thread(
            target=self.server.run, args=(sockets,), name="hub-background-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.host} did not start")
            time.sleep(0.02)
        sockets = [s for server in self.server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
