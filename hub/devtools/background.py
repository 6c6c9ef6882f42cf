"""Run an ASGI app with uvicorn in a background thread on loopback: for the demo, tests and benches.

Port 0 lets the OS pick a free port, so parallel runs never collide; ``url`` tells where it landed.
``ssl`` takes uvicorn's ``ssl_*`` options (see ``callers.server_tls_options``) to serve HTTPS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp


class BackgroundServer:
    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        ssl: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        settings: dict[str, Any] = {"lifespan": "on", "access_log": False, **(ssl or {}), **options}
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, **settings)
        self.scheme = "https" if ssl and ssl.get("ssl_certfile") else "http"
        self.server = uvicorn.Server(config)
        self.host = host
        self.port = port
        self._thread = threading.Thread(target=self.server.run, name="hub-background-server", daemon=True)

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
